"""The model files the reader runs, and how they are opened on onnxruntime.

The PP-OCRv6 small models (Apache-2.0) are shipped inside the PyPI wheel
`rapidocr`; only the model files are used, checked against the checksums
below so a changed wheel cannot silently change what the unit reads. The
INT8 quantizations of the wheel's float detector, made by this project
(models/quantize_ppocr.py), and the plate recognizer ship in this package's
assets/ and are checked the same way. Which detector file a CPU gets is
decided here (resolve_detector), as is how every session is opened.
"""

from __future__ import annotations

import hashlib
import platform
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..errors import AgentError

MODEL_SHA256 = {
    "PP-OCRv6_det_small.onnx": "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
    "PP-OCRv6_rec_small.onnx": "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
    # Made by this project (models/quantize_ppocr.py), shipped in edge_agent/assets/.
    "PP-OCRv6_det_small_int8.onnx": "f86f8abf8e20d90198cf79883b19352a83924ee363b42df56d935a2ce4e1fd66",
    "PP-OCRv6_det_small_int8_u8w.onnx": "cb48ee64952ff6a89e1e8369514aa4c08362289142cd0f9e05d860c7a5fc1974",
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


def _session(path: Path, threads: int, spin: bool = True):
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
    if not spin:
        # Intra-op threads that sleep between parallel parts, for a session
        # whose threads borrow a core another thread works on.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
