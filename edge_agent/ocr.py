"""PP-OCR text detection and recognition on onnxruntime, without torch.

The ONNX models are PP-OCRv6 small (Apache-2.0), shipped inside the PyPI
wheel `rapidocr`; only the model files are used, checked against the
checksums below so a changed wheel cannot silently change what the unit
reads. An INT8 quantization of the wheel's float detector, made by this
project (models/quantize_ppocr.py), ships in this package's assets/ and is
checked the same way. Pre- and post-processing are done here with OpenCV
and NumPy, which keeps the per-frame path short and under our control (the
plate stages need the raw boxes and per-character probabilities, not just
strings).
"""

from __future__ import annotations

import hashlib
import logging
import math
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from .errors import AgentError
from .plates import CONFUSION_GROUPS
from .records import Box

log = logging.getLogger(__name__)

MODEL_SHA256 = {
    "PP-OCRv6_det_small.onnx": "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
    "PP-OCRv6_rec_small.onnx": "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
    # Made by this project (models/quantize_ppocr.py), shipped in edge_agent/assets/.
    "PP-OCRv6_det_small_int8.onnx": "2e5a522f47c9d36e5fda6d6f04f92a983501eb71e6f73debb41749b3377eaec1",
    "PP-OCRv6_det_small_int8_u8w.onnx": "87e3416fcdf6d588b24f2fd643b7e75c3db595f6532a73021d6ca01041159374",
    # fast-plate-ocr's plate recognizer (MIT), shipped in edge_agent/assets/ (plate_recognizer.py).
    "cct_xs_v2_global.onnx": "8031afb5fdc6b4d80462c9d542f1284ebd2cfddf5dbacd62609848d7e2855f44",
}
# Models this project makes; the others come from the rapidocr wheel.
ASSET_MODELS = frozenset({"PP-OCRv6_det_small_int8.onnx", "PP-OCRv6_det_small_int8_u8w.onnx",
                          "cct_xs_v2_global.onnx"})
FLOAT_DETECTOR_MODEL = "PP-OCRv6_det_small.onnx"
INT8_DETECTOR_MODEL = "PP-OCRv6_det_small_int8.onnx"
# The INT8 model with its weights stored as uint8 (w + 128, zero point 128):
# the same numbers, run by onnxruntime's uint8 x uint8 kernels, which add up
# exactly on every x86 CPU (int8_is_exact).
INT8_U8W_DETECTOR_MODEL = "PP-OCRv6_det_small_int8_u8w.onnx"


@dataclass(frozen=True)
class DetectorModel:
    file: str
    # Probability above which a pixel counts as text when the map is cut
    # into boxes. PP-OCR's 0.3 for the float model. The INT8 model's map is
    # a little softer at text edges: at 0.3 its boxes came out 1.2% taller
    # on average than the float model's on scenes models/quantize_ppocr.py
    # renders (not the benchmark), 0.4% at 0.35, and the boxes set where a
    # row is cut for reading.
    thresh: float
    # The file that computes the same model where onnxruntime's uint8 x int8
    # kernels saturate (x86 without VNNI), if it differs.
    file_without_vnni: str = ""

    def file_here(self) -> str:
        """The file to run on this CPU."""
        return self.file_without_vnni if self.file_without_vnni and not int8_is_exact() else self.file


# By `[reader] detector`. INT8: ~0.6x the float model's time per frame
# where the CPU sums uint8 x int8 products exactly (ARM, x86 with VNNI).
# Elsewhere its uint8-weights file gives the same maps at about the float
# model's time (AVX-512 EPYC: 1.04x alone, 1.16x the highway clip's detect
# stage), where the float model reads 2 US and 1 EU dev photo fewer
# (models/README.md).
DETECTOR_MODELS = {"float": DetectorModel(FLOAT_DETECTOR_MODEL, 0.3),
                   "int8": DetectorModel(INT8_DETECTOR_MODEL, 0.35, file_without_vnni=INT8_U8W_DETECTOR_MODEL)}


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The x86 feature flags of this machine's first CPU, or none elsewhere (read once)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def int8_is_exact(machine: str | None = None, flags: frozenset[str] | None = None) -> bool:
    """Whether onnxruntime's uint8 x int8 convolutions add up their products exactly here.

    On x86 without VNNI, onnxruntime multiplies uint8 activations by int8
    weights with VPMADDUBSW, which saturates each pair's sum at 16 bits, and
    the INT8 detector loses rows: on an AVX2-only EPYC it read 78.4% of the
    endtoend/us plates exactly, against 82.0% for the same model computed
    without saturation (models/README.md). ARM's kernels (NEON widening
    multiplies, or SDOT/UDOT) and x86 VNNI accumulate in 32 bits. Where they
    do not, the INT8 detector runs from its uint8-weights file instead.
    """
    machine = (machine or platform.machine()).lower()
    if machine in ("aarch64", "arm64", "armv8l"):
        return True
    if machine in ("x86_64", "amd64", "i686", "i386"):
        flags = cpu_flags() if flags is None else flags
        return bool({"avx512_vnni", "avx_vnni"} & flags)
    return False


def describe_detector(setting: str) -> str:
    """One line for benches and logs: which detector model runs, from which file, and why."""
    name = resolve_detector(setting)
    model = DETECTOR_MODELS[name]
    file = model.file_here()
    if not model.file_without_vnni:
        why = ""
    elif file == model.file_without_vnni:
        why = ": uint8 weights, as this CPU's uint8 x int8 sums saturate (x86 without VNNI)"
    else:
        why = ": int8 weights, as this CPU sums uint8 x int8 products exactly"
    return f"detector {name} ({'auto, ' if setting == 'auto' else ''}{file}{why})"


def resolve_detector(setting: str) -> str:
    """The detector model `[reader] detector` names: auto is the INT8 one.

    Its convolutions add up exactly on every CPU it runs on (int8_is_exact),
    but its maps agree only among x86 CPUs: on ARM onnxruntime's quantized
    element-wise ops round ties otherwise, and up to tens of pixels a photo
    cross the threshold (README, "Proven on arm64"). The float model's maps
    agree to 5e-6 between x86 and arm64.
    """
    return "int8" if setting == "auto" else setting


PLATE_CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# A plate character the full model gives less than this probability is
# something else it was forced into the charset: an emblem or a sticker
# between character groups (measured at 0.00-0.07 on EU plates), a bolt, a
# dash. Dropping it beats reading it as a character.
MIN_CHAR_PROB = 0.2
# The first and last positions are where plate frames, bolts, flags and
# country or state marks sit; a weak read there is usually one of them.
# Measured on a character and its look-alikes together (plates.py's
# confusion groups): a thin I splits its probability with 1.
MIN_EDGE_CHAR_PROB = 0.5
ALTERNATIVES = 6


def _group_of(ch: str) -> str:
    return next((g for g in CONFUSION_GROUPS if ch in g), ch)


def model_path(name: str) -> Path:
    """Locate a model (this package's assets or the rapidocr wheel) and verify its checksum."""
    if name in ASSET_MODELS:
        path = Path(str(resources.files("edge_agent") / "assets" / name))
        if not path.is_file():
            raise AgentError(f"reader: model file missing: {path} (see models/README.md)")
    else:
        try:
            path = Path(str(resources.files("rapidocr") / "models" / name))
        except ModuleNotFoundError as exc:
            raise AgentError("reader: the 'rapidocr' package (which ships the OCR models) is not installed") from exc
        if not path.is_file():
            raise AgentError(f"reader: model file missing: {path}")
    _verify(path, MODEL_SHA256[name])
    return path


@lru_cache(maxsize=None)
def _verify(path: Path, expected: str) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise AgentError(f"reader: model file {path} has checksum {digest[:12]}..., expected {expected[:12]}...")


def _session(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    # The arena keeps freed activations for the next run instead of handing
    # them back to the C library. The agent pins glibc's mmap threshold
    # (cli.bound_heap), so without the arena every megabyte-sized tensor is
    # a fresh mmap whose pages fault in on each run: the recognizer took
    # 77-87 ms per highway frame that way, 48-50 ms with the arena.
    opts.enable_cpu_mem_arena = True
    # No memory patterns (one pre-planned block per input shape): the
    # detector's shape changes with every following window and every
    # still's size, the recognizer's with every batch, and each new shape
    # left the arena larger (the INT8 detector alone: 237 MB after 1024-,
    # 1280- and 1600-side stills, 323 MB after the same three again). On the
    # highway clip the agent peaked at 283 MB without them, 329 MB with,
    # at the same detect time (bench speed, interleaved: 26.7/25.5 ms
    # against 25.6/25.4 ms median; an AVX-512 EPYC core).
    opts.enable_mem_pattern = False
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class TextBox:
    quad: np.ndarray  # 4x2 float32, clockwise from top-left, frame pixels
    score: float


def order_quad(points: np.ndarray) -> np.ndarray:
    """Order 4 points clockwise from top-left."""
    pts = np.asarray(points, dtype=np.float32).reshape(4, 2)
    by_x = pts[np.argsort(pts[:, 0])]
    left, right = by_x[:2], by_x[2:]
    tl, bl = left[np.argsort(left[:, 1])]
    tr, br = right[np.argsort(right[:, 1])]
    return np.array([tl, tr, br, bl], dtype=np.float32)


def detector_input(image: np.ndarray, max_side: int, upscale: bool = False) -> np.ndarray:
    """The detector's input: longest side at most max_side, sides multiples of 32, scaled to [-1, 1].

    With `upscale`, a smaller image is enlarged to max_side too.
    models/quantize_ppocr.py calibrates the INT8 model on exactly this.
    """
    return _blob(_resized(image, max_side, upscale))


def _resized(image: np.ndarray, max_side: int, upscale: bool) -> np.ndarray:
    rw, rh, how = _detector_size(image, max_side, upscale)
    return cv2.resize(image, (rw, rh), interpolation=how)


def detector_pixels(image: np.ndarray, max_side: int, upscale: bool = False) -> int:
    """How many pixels the detector's input for the image has."""
    rw, rh, _ = _detector_size(image, max_side, upscale)
    return rw * rh


def _detector_size(image: np.ndarray, max_side: int, upscale: bool) -> tuple[int, int, int]:
    """The detector's input width and height for the image (multiples of 32), and the interpolation to it."""
    h, w = image.shape[:2]
    scale = max_side / max(h, w) if upscale else min(1.0, max_side / max(h, w))
    rw, rh = max(32, int(round(w * scale / 32)) * 32), max(32, int(round(h * scale / 32)) * 32)
    return rw, rh, cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR


def _window_pixels(image: np.ndarray, rw: int, rh: int, how: int) -> Callable[[int, int, int, int], np.ndarray]:
    """A function giving the window (x0, y0, x1, y1) of the image resized to rw x rh with `how`.

    When the model's 32-pixel grid falls on whole image pixels (1280x720 or
    1920x1080 to 1024x576), each window is resized on its own, to the same
    pixels, as INTER_AREA weighs the same source pixels at the same phase;
    that spares resizing the whole frame for a few windows. Otherwise the
    whole image is resized once and cut.
    """
    h, w = image.shape[:2]
    gx, gy = 32 * w / rw, 32 * h / rh
    if rw <= w and rh <= h and gx.is_integer() and gy.is_integer():
        fx, fy = int(gx), int(gy)  # image pixels per grid cell
        return lambda x0, y0, x1, y1: cv2.resize(
            image[y0 // 32 * fy:y1 // 32 * fy, x0 // 32 * fx:x1 // 32 * fx], (x1 - x0, y1 - y0), interpolation=how)
    resized = cv2.resize(image, (rw, rh), interpolation=how)
    return lambda x0, y0, x1, y1: resized[y0:y1, x0:x1]


def _blob(resized: np.ndarray) -> np.ndarray:
    return (resized.astype(np.float32) * (2.0 / 255.0) - 1.0).transpose(2, 0, 1)[None]


class TextDetector:
    """DB text detector: returns the text lines of an image as quads."""

    def __init__(self, max_side: int = 1280, threads: int = 1, thresh: float = 0.3,
                 box_thresh: float = 0.5, unclip_ratio: float = 1.6, model: str = FLOAT_DETECTOR_MODEL):
        self.model = model
        self.session = _session(model_path(model), threads)
        self.max_side = max_side
        self.thresh = thresh
        self.box_thresh = box_thresh
        self.unclip_ratio = unclip_ratio

    def __call__(self, image: np.ndarray, upscale: bool = False,
                 windows: list[Box] | None = None, max_side: int | None = None,
                 max_pixels: int | None = None) -> list[TextBox]:
        """The text lines of the image, or only of the given windows of it (image pixels).

        `max_side` overrides the detector's own for this one image.

        A window is detected on exactly the pixels the whole image's scan
        would give the model there, on the model's 32-pixel grid
        (_window_pixels). A line touching a window's edge inside
        the image is dropped: it may be text cut in half.

        With `max_pixels`, an image whose detector input would be larger is
        scanned in overlapping tiles of at most that many pixels (tiles()).
        The model's activations grow with its input, and the arena keeps
        the largest for good: a 1600x1200 scan took ~180 MB, against ~80 MB
        for 1024x768. Each tile gives only the rows centred in its core (up
        to the middle of its overlaps), where a row narrower than the
        overlap lies whole and away from the tile's edge: the model sees
        well past a row, and near a tile's edge it boxed car9's pale plate
        larger than the whole scan did. Rows the model is unsure of may
        still come and go with what else a tile shows.
        """
        h, w = image.shape[:2]
        rw, rh, how = _detector_size(image, max_side or self.max_side, upscale)
        if windows is None and (max_pixels is None or rw * rh <= max_pixels):
            resized = cv2.resize(image, (rw, rh), interpolation=how)
            prob = self.session.run(None, {"x": _blob(resized)})[0][0, 0]
            return self._boxes(prob, w / resized.shape[1], h / resized.shape[0])
        sx, sy = w / rw, h / rh
        pixels = _window_pixels(image, rw, rh, how)
        if windows is None:
            scans = tiles(rw, rh, max_pixels)
        else:
            scans = [Tile(box, box) for box in grid_windows(windows, sx, sy, rw, rh)]
        out = []
        for (x0, y0, x1, y1), (cx0, cy0, cx1, cy1) in scans:
            prob = self.session.run(None, {"x": _blob(pixels(x0, y0, x1, y1))})[0][0, 0]
            for line in self._boxes(prob, 1.0, 1.0):
                q = line.quad
                inner = ((x0 > 0 and q[:, 0].min() <= 1) or (y0 > 0 and q[:, 1].min() <= 1)
                         or (x1 < rw and q[:, 0].max() >= x1 - x0 - 2) or (y1 < rh and q[:, 1].max() >= y1 - y0 - 2))
                mx, my = q.mean(axis=0) + [x0, y0]
                if not inner and cx0 <= mx < cx1 and cy0 <= my < cy1:
                    out.append(TextBox(((q + [x0, y0]) * [sx, sy]).astype(np.float32), line.score))
        return out

    def _boxes(self, prob: np.ndarray, sx: float, sy: float) -> list[TextBox]:
        mask = cv2.dilate((prob > self.thresh).astype(np.uint8), np.ones((2, 2), np.uint8))
        contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        out = []
        for contour in contours[:1000]:
            (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
            if min(rw, rh) < 3:
                continue
            quad = cv2.boxPoints(((cx, cy), (rw, rh), angle))
            score = _mean_inside(prob, quad)
            if score < self.box_thresh:
                continue
            # DB predicts a shrunk text kernel; grow it back by the distance
            # the model was trained to shrink it by (area * ratio / perimeter).
            d = rw * rh * self.unclip_ratio / (2 * (rw + rh))
            quad = cv2.boxPoints(((cx, cy), (rw + 2 * d, rh + 2 * d), angle))
            quad[:, 0] *= sx
            quad[:, 1] *= sy
            out.append(TextBox(order_quad(quad), float(score)))
        return out


# Overlap of two neighbouring tiles, detector pixels: a row up to this wide
# centred in a tile's core lies whole inside that tile. Rows are found at a
# closer look because they are small; a plate's row filling a third of a
# 1024-pixel look is read at the first. Overlap costs time: a 1600x1216
# look in four tiles took 800 against 626 ms whole (median, 30 US photos).
TILE_OVERLAP = 320


class Tile(NamedTuple):
    window: tuple[int, int, int, int]  # x0, y0, x1, y1: what the model sees
    core: tuple[int, int, int, int]  # the part whose rows this tile gives: up to the middle of each overlap


def tiles(rw: int, rh: int, max_pixels: int) -> list[Tile]:
    """The fewest overlapping tiles on the 32-pixel grid covering rw x rh, each of at most max_pixels.

    One tile, the whole input, where no tiling with TILE_OVERLAP fits.
    """
    def spans(size: int, n: int) -> list[tuple[int, int]] | None:
        """n spans of one length overlapping by TILE_OVERLAP; None where n does not split `size`."""
        if n == 1:
            return [(0, size)]
        step = -(-(size + (n - 1) * TILE_OVERLAP) // n // 32) * 32
        if step >= size:
            return None
        starts = [min(size - step, round(i * (size - step) / (n - 1) / 32) * 32) for i in range(n)]
        return [(s, s + step) for s in starts] if len(set(starts)) == n else None

    def cores(sp: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
        cuts = [0] + [(a[1] + b[0]) // 2 for a, b in zip(sp, sp[1:])] + [size]
        return list(zip(cuts, cuts[1:]))

    best = None
    for nx in range(1, 9):
        for ny in range(1, 9):
            xs, ys = spans(rw, nx), spans(rh, ny)
            if xs is None or ys is None:
                continue
            area = (xs[0][1] - xs[0][0]) * (ys[0][1] - ys[0][0])
            if area <= max_pixels and (best is None or (nx * ny, area) < best[0]):
                best = ((nx * ny, area), xs, ys)
    if best is None:
        # A budget too small for tiles that overlap (detect_max_side near
        # its 320 floor): such a look is small enough to scan whole.
        return [Tile((0, 0, rw, rh), (0, 0, rw, rh))]
    _, xs, ys = best
    return [Tile((x0, y0, x1, y1), (cx0, cy0, cx1, cy1))
            for (y0, y1), (cy0, cy1) in zip(ys, cores(ys, rh))
            for (x0, x1), (cx0, cx1) in zip(xs, cores(xs, rw))]


def grid_windows(windows: list[Box], sx: float, sy: float, rw: int, rh: int) -> list[tuple[int, int, int, int]]:
    """Windows (image pixels) as (x0, y0, x1, y1) on the detector's 32-pixel grid, overlapping ones merged."""
    snapped = []
    for b in windows:
        x0, y0 = int(b.x / sx) // 32 * 32, int(b.y / sy) // 32 * 32
        x1, y1 = -(-math.ceil((b.x + b.w) / sx) // 32) * 32, -(-math.ceil((b.y + b.h) / sy) // 32) * 32
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(rw, x1), min(rh, y1)
        if x1 > x0 and y1 > y0:
            snapped.append((x0, y0, x1, y1))
    merged = True
    while merged:
        merged = False
        for i in range(len(snapped)):
            for j in range(i + 1, len(snapped)):
                a, b = snapped[i], snapped[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    snapped[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del snapped[j]
                    merged = True
                    break
            if merged:
                break
    return snapped


def _mean_inside(prob: np.ndarray, quad: np.ndarray) -> float:
    h, w = prob.shape
    x0, y0 = np.clip(np.floor(quad.min(0)).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(quad.max(0)).astype(int), 0, [w - 1, h - 1])
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(mask, [(quad - [x0, y0]).astype(np.int32)], 1)
    return float(cv2.mean(prob[y0:y1 + 1, x0:x1 + 1], mask)[0])


def rectify(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Warp the quad's content to an upright rectangle."""
    tl, tr, br, bl = quad
    width = int(round(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))))
    height = int(round(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))))
    width, height = max(width, 2), max(height, 2)
    dst = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    return cv2.warpPerspective(image, matrix, (width, height), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REPLICATE)


@dataclass(frozen=True)
class TextLine:
    text: str  # characters from the allowed set, spaces dropped
    confidence: float  # mean probability of the emitted characters
    char_probs: tuple[float, ...]
    # For each character, the plate characters the model found likely at
    # that position, best first: what a format rule may choose from.
    alternatives: tuple[tuple[tuple[str, float], ...], ...] = ()
    # The row as the model reads it with its whole vocabulary, punctuation
    # included: a camera's burnt-in clock or date shows its colons and
    # dashes there (its digits alone can look like a plate).
    raw: str = ""
    # The recognizer's probabilities at each time step across the row:
    # column 0 anything that is no plate character (blank, space, marks),
    # then PLATE_CHARSET; how another reader's text is weighed against this
    # one (ctc.py, consensus.py). None where no matrix is known.
    steps: np.ndarray | None = field(default=None, compare=False, repr=False)
    # Whose read this is, where two readers were combined (consensus.py): "" for one recognizer's own.
    reader: str = ""
    # Each reader's own read of the row there: (reader, text, confidence).
    readers: tuple[tuple[str, str, float], ...] = ()
    # Whether the plate's region writes this text's round glyph as 0 (consensus.round_glyph_is_zero).
    zero_for_o: bool = False


def ctc_collapse(best: np.ndarray, vocabulary: list[str]) -> str:
    """The characters of a CTC argmax path: repeats merged, blanks (class 0) dropped."""
    keep = np.flatnonzero((best != 0) & np.diff(best, prepend=-1).astype(bool))
    return "".join(vocabulary[k] for k in best[keep])


class TextRecognizer:
    """CTC line recognizer, decoding only the characters a plate can hold."""

    HEIGHT = 48
    MAX_WIDTH = 480
    # PaddleOCR and RapidOCR lay every row on a canvas at least this wide
    # (rec_img_shape 3x48x320), padded with zeros, as the model was
    # trained. A short row on a canvas of its own width reads a little
    # worse (6WHS906 as 6WHS206). It costs time: read stage 37 -> 58 ms
    # per highway frame, so streams, voted over many frames, do without,
    # and read each run's rows on its widest row's canvas.
    REFERENCE_CANVAS = 320
    # Rows per run. The arena keeps the largest batch's activations for good,
    # ~10 MB a row at full width. Reading the US dev photos (closer looks
    # included) peaked at 847 MB with all of a still's rows in one run, 491
    # MB at 8 rows a run and 423 MB at 4, at the same time and with the same
    # reads on every dev photo and crop. One row a run took the float
    # detector's bench on the US and EU photos from 397 to 348-354 MB, and
    # the highway clip's from 312 to 285 MB (INT8: 275 to 248 MB), with the
    # same reads, no slower on one core (interleaved runs, AVX-512 EPYC:
    # 694 against 705 ms a US photo; read stage 42-43 ms a highway frame
    # either way). Not measured with more than one thread.
    MAX_BATCH = 1

    def __init__(self, threads: int = 1, charset: str = PLATE_CHARSET, min_char_prob: float = MIN_CHAR_PROB):
        self.min_char_prob = min_char_prob
        self.session = _session(model_path("PP-OCRv6_rec_small.onnx"), threads)
        meta = self.session.get_modelmeta().custom_metadata_map
        vocabulary = ["<blank>"] + meta["character"].splitlines() + [" "]
        index = {ch: i for i, ch in enumerate(vocabulary)}
        # Restricting the argmax to plate characters (plus blank and space,
        # which only separate characters) stops the multilingual model from
        # spending probability on punctuation and CJK look-alikes.
        keep = [0, index[" "]] + [index[ch] for ch in charset]
        self._keep = np.array(keep)
        self._vocabulary = vocabulary
        self._labels = ["", " "] + list(charset)
        at = {ch: i for i, ch in enumerate(self._labels)}
        self._look_alikes = [[at[c] for c in _group_of(ch) if c in at] or [i] for i, ch in enumerate(self._labels)]

    def __call__(self, crops: list[np.ndarray], min_canvas: int = 0) -> list[TextLine]:
        """Each crop's read, in order.

        With `min_canvas` (a still's rows), a row is read on a canvas as wide
        as itself or min_canvas, whichever is wider, never as wide as another
        row of its batch, so its read does not move with the rows read
        beside it: rows share a run only with rows of the same canvas.
        Without it (a stream's rows, voted over frames), every row is read
        on the widest one's canvas, however many runs (MAX_BATCH) they take.
        """
        if not min_canvas:
            groups = [list(range(len(crops)))]
            min_canvas = max((self._width(c) for c in crops), default=0)
        else:
            by_canvas: dict[int, list[int]] = {}
            for i, crop in enumerate(crops):
                by_canvas.setdefault(max(min_canvas, self._width(crop)), []).append(i)
            groups = list(by_canvas.values())
        out: list[TextLine | None] = [None] * len(crops)
        for group in groups:
            for start in range(0, len(group), self.MAX_BATCH):
                part = group[start:start + self.MAX_BATCH]
                for i, line in zip(part, self._read([crops[i] for i in part], min_canvas)):
                    out[i] = line
        return out  # type: ignore[return-value]

    def _width(self, crop: np.ndarray) -> int:
        """The crop's width once scaled to the model's height."""
        return min(self.MAX_WIDTH, max(8, math.ceil(self.HEIGHT * crop.shape[1] / max(1, crop.shape[0]))))

    def _read(self, crops: list[np.ndarray], min_canvas: int) -> list[TextLine]:
        if not crops:
            return []
        widths = [self._width(c) for c in crops]
        batch = np.zeros((len(crops), 3, self.HEIGHT, max(min_canvas, *widths)), np.float32)
        for i, (crop, width) in enumerate(zip(crops, widths)):
            resized = cv2.resize(crop, (width, self.HEIGHT), interpolation=cv2.INTER_CUBIC)
            batch[i, :, :, :width] = (resized.astype(np.float32) * (2.0 / 255.0) - 1.0).transpose(2, 0, 1)
        probs = self.session.run(None, {"x": batch})[0]
        return [self._decode(p) for p in probs]

    def _decode(self, probs: np.ndarray) -> TextLine:
        sub = probs[:, self._keep]
        best = sub.argmax(axis=1)
        chars, char_probs, steps = [], [], []
        previous = -1
        for t, k in enumerate(best):
            if k != previous and k > 1 and sub[t, k] >= self.min_char_prob:
                chars.append(self._labels[k])
                char_probs.append(float(sub[t, k]))
                steps.append(t)
            previous = k
        # At the edges, what matters is whether a character is there at all:
        # a thin I ending a plate reads as I or 1 (0.43 each on one Slovak
        # plate) and is kept; the format step picks letter or digit.
        while steps and self._glyph_mass(sub[steps[0]], best[steps[0]]) < MIN_EDGE_CHAR_PROB:
            del chars[0], char_probs[0], steps[0]
        while steps and self._glyph_mass(sub[steps[-1]], best[steps[-1]]) < MIN_EDGE_CHAR_PROB:
            del chars[-1], char_probs[-1], steps[-1]
        confidence = float(np.mean(char_probs)) if char_probs else 0.0
        alternatives = []
        for t in steps:
            top = np.argsort(sub[t, 2:])[::-1][:ALTERNATIVES] + 2
            alternatives.append(tuple((self._labels[k], float(sub[t, k])) for k in top))
        plate = sub[:, 2:]
        steps = np.concatenate([np.clip(1.0 - plate.sum(axis=1, keepdims=True), 0.0, 1.0), plate], axis=1)
        return TextLine("".join(chars), confidence, tuple(char_probs), tuple(alternatives),
                        ctc_collapse(probs.argmax(axis=1), self._vocabulary), steps.astype(np.float32))

    def _glyph_mass(self, step_probs: np.ndarray, k: int) -> float:
        """Probability of the character read at a step or any look-alike of it."""
        return float(step_probs[self._look_alikes[k]].sum())
