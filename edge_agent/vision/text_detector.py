"""PP-OCR's text detector: where the rows of text are in a frame, as rotated boxes.

Pre- and post-processing are done here with OpenCV and NumPy, which keeps
the per-frame path short and under our control: the plate stages need the
raw boxes and the probability map's windows, not just strings. Large frames
are read in overlapping tiles (tiles), a following camera's windows as one
grid (grid_windows).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from ..records import Box
from .onnx_models import FLOAT_DETECTOR_MODEL, _session, model_path

# How a call's independent model runs are made: SpareHands.map's shape.
Runs = Callable[[Callable[["Tile"], np.ndarray], list["Tile"]], list[np.ndarray]]


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
    rw, rh, how = detector_size(image, max_side, upscale)
    return cv2.resize(image, (rw, rh), interpolation=how)


def detector_pixels(image: np.ndarray, max_side: int, upscale: bool = False) -> int:
    """How many pixels the detector's input for the image has."""
    rw, rh, _ = detector_size(image, max_side, upscale)
    return rw * rh


def detector_size(image: np.ndarray, max_side: int, upscale: bool) -> tuple[int, int, int]:
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
                 box_thresh: float = 0.5, unclip_ratio: float = 1.6, model: str = FLOAT_DETECTOR_MODEL,
                 spin: bool = True):
        self.model = model
        # spin=False: intra-op threads that sleep between a run's parallel
        # parts. With two workers the detector's second thread is the
        # reader's core, lent while the reader waits (pipeline.py); spinning,
        # it took that core from the reader: 1.22-1.32x the frames of one
        # worker, against 1.57-1.58x with one thread.
        self.session = _session(model_path(model), threads, spin=spin)
        # Only whole scans (one long run nothing else can share) borrow the
        # sleeping thread: waking it for each parallel part of a small
        # followed window cost more than it gave (2-core AVX-512 VM, highway
        # clip, two workers: ~100 000 context switches and 102-112 ms of CPU
        # a frame, against ~17 000 and 94-110 ms with windows on their own
        # one-thread session; 7-15 MB more, the agent on the clip 287-288
        # against 273 MB). Maps are the same on either.
        self.window_session = self.session if spin or threads <= 1 else _session(model_path(model), 1)
        self.max_side = max_side
        self.thresh = thresh
        self.box_thresh = box_thresh
        self.unclip_ratio = unclip_ratio

    def __call__(self, image: np.ndarray, upscale: bool = False,
                 windows: list[Box] | None = None, max_side: int | None = None,
                 max_pixels: int | None = None, runs: Runs | None = None) -> list[TextBox]:
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

        With `runs` (spare_hands.SpareHands.map), the windows' model runs
        are made through it, so another thread may make some of them; each
        is one run on its own pixels, the same whichever thread makes it.
        Tiles are scanned one after another: they bound the memory of a still and of a stream's whole scan
        (detect.WHOLE_SCAN_MAX_OVERLAP).
        """
        h, w = image.shape[:2]
        rw, rh, how = detector_size(image, max_side or self.max_side, upscale)
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

        session = self.session if windows is None else self.window_session

        def scan(tile: Tile) -> np.ndarray:
            x0, y0, x1, y1 = tile.window
            return session.run(None, {"x": _blob(pixels(x0, y0, x1, y1))})[0][0, 0]

        # map() is lazy: one tile's map at a time.
        probs = runs(scan, scans) if runs is not None and windows is not None else map(scan, scans)
        out = []
        for ((x0, y0, x1, y1), (cx0, cy0, cx1, cy1)), prob in zip(scans, probs):
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
