"""[reader]: how plates are found and read."""

from __future__ import annotations

from dataclasses import dataclass

ENGINES = ("ppocr", "easyocr")
DETECTORS = ("auto", "float", "int8")
# The plate recognizer has 10 character slots (plate_recognizer.SLOTS); 12
# leaves room for an emblem or two read as characters (plate_formats.py).
MAX_PLATE_CHARS = 12
# A plate this tall is half the height of a 4K frame; a larger minimum would
# discard every plate a unit's camera can see.
MAX_MIN_PLATE_HEIGHT = 1000


# A Pi has four cores, a large x86 unit rarely more than eight for one agent.
MAX_WORKERS = 8


@dataclass(frozen=True)
class ReaderConfig:
    # ppocr: PP-OCRv6 (default); easyocr: EasyOCR's recognizer, for
    # comparison. Both run on onnxruntime, without torch.
    engine: str = "ppocr"
    # int8: this project's INT8 quantization of PP-OCRv6 small's text
    # detector (models/README.md), computed exactly on every CPU: ~0.6x
    # the float model's detection time where the CPU sums uint8 x int8
    # products exactly (ARM, x86 with VNNI); on other x86 CPUs, where those
    # sums saturate, from a file with the same weights stored as uint8, at
    # about float's (1.04x alone, 1.16x on a stream, AVX-512 EPYC; 1.17x
    # measured on AVX2 for a U8U8 model of the same graph). It reads 2 US
    # and 1 EU dev photo more than float, the same on every CPU. float: the
    # detector as shipped. auto (default): int8.
    detector: str = "auto"
    # Read each plate-like row a second time with a recognizer trained on
    # plates (fast-plate-ocr's cct-xs-v2-global, plate_recognizer.py) and
    # keep the text both readers and the region's plate formats make
    # likeliest (consensus.py). false: the engine alone, as before.
    plate_recognizer: bool = True
    # Longest side of the frame as given to the plate detector, in pixels.
    # 1024 reads what 1280 reads on the dev photos and the highway clip (plates
    # 18-22 px tall) in 40% less time; 960 starts to miss small US plates.
    detect_max_side: int = 1024
    # On a stream, frames are scanned only around the plates of the frame
    # before for this long (seconds of camera time) after each whole-frame
    # scan, then the whole frame again (follow.py). A vehicle that comes
    # into view is found at the next whole scan. 0 scans every frame whole.
    full_scan_seconds: float = 0.5
    # A plate read the same way in 3 consecutive frames is then read only
    # every this many frames while it stays in view; between, its position
    # is passed on for tracking (settle.py). 1 reads every plate in every
    # frame.
    reread_every: int = 3
    # A still (a photo from an image folder) whose first look finds no
    # plate of letters and digits is detected again at 1.25x and 1.56x
    # detect_max_side (read.read_frame): two more plates on the dev photos,
    # but ~4.6x the time on a still with no plate (170-180 against 810-840
    # ms median, painted-out US dev photos, one core). Streams never are.
    closer_looks: bool = True
    # Reads below this confidence are discarded before tracking.
    min_confidence: float = 0.6
    # Plates shorter than this (in frame pixels) are too small to read.
    min_plate_height: int = 12
    min_chars: int = 4
    max_chars: int = 9
    # Threads for model inference, per model.
    threads: int = 1
    # Frames in work at once on a stream (pipeline.py): 1 detects and reads
    # each frame on one thread; 2 detects the next frame while this one is
    # read, on two cores; more give the models of each side intra-op threads.
    workers: int = 2

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if self.engine not in ENGINES:
            out.append(("engine", f"must be one of {', '.join(ENGINES)}"))
        if self.detector not in DETECTORS:
            out.append(("detector", f"must be one of {', '.join(DETECTORS)}"))
        if not 320 <= self.detect_max_side <= 4096:
            out.append(("detect_max_side", "must be between 320 and 4096"))
        if not 0.0 <= self.full_scan_seconds <= 10.0:
            out.append(("full_scan_seconds", "must be between 0 and 10"))
        if not 1 <= self.reread_every <= 30:
            out.append(("reread_every", "must be between 1 and 30"))
        if not 0.0 <= self.min_confidence <= 1.0:
            out.append(("min_confidence", "must be between 0 and 1"))
        if not 6 <= self.min_plate_height <= MAX_MIN_PLATE_HEIGHT:
            out.append(("min_plate_height", f"must be between 6 and {MAX_MIN_PLATE_HEIGHT}"))
        if not 1 <= self.min_chars <= MAX_PLATE_CHARS:
            out.append(("min_chars", f"must be between 1 and {MAX_PLATE_CHARS}"))
        if not self.min_chars <= self.max_chars <= MAX_PLATE_CHARS:
            out.append(("max_chars", f"must be between min_chars and {MAX_PLATE_CHARS}"))
        if not 1 <= self.threads <= 16:
            out.append(("threads", "must be between 1 and 16"))
        if not 1 <= self.workers <= MAX_WORKERS:
            out.append(("workers", f"must be between 1 and {MAX_WORKERS}"))
        return out
