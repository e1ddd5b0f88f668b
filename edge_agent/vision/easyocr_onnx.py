"""EasyOCR's English recognizer on onnxruntime, without torch.

The network and its weights are EasyOCR's generation-2 English recognizer
(english_g2, Apache-2.0), exported once to ONNX by models/export_easyocr.py
in a separate environment; the unit needs neither torch nor easyocr. The
file ships inside this package (edge_agent/assets/, which links to
models/) and is checked against MODEL_SHA256 before it is loaded.

What EasyOCR's `Reader.recognize(crop, allowlist=A-Z0-9)` does on the CPU is
reproduced here with OpenCV and NumPy: grayscale, resize to height 64
keeping the ratio, scale to [-1, 1], pad on the right to a multiple of 64 by
repeating the last column (its AlignCollate and NormalizePAD), greedy CTC
over blank + A-Z0-9, and a second pass with raised contrast when its score
is below 0.1. One difference: EasyOCR quantizes the network to int8 on the
CPU, and this is the float network; see models/README.md for how often
their reads differ.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from ..errors import AgentError
from .ocr import ALTERNATIVES, PLATE_CHARSET, TextLine, ctc_collapse
from .onnx_models import _session, _verify

MODEL_NAME = "easyocr_english_g2.onnx"
MODEL_SHA256 = "a7bb416a70b0c914d2577676b8a6753132694c76fa3139592494f4e3c9cc83bf"
HEIGHT = 64
# EasyOCR's recognize() defaults: crops scoring below CONTRAST_THS are read
# again with their contrast stretched towards ADJUST_CONTRAST.
CONTRAST_THS = 0.1
ADJUST_CONTRAST = 0.5


def model_path() -> Path:
    path = Path(str(resources.files("edge_agent") / "assets" / MODEL_NAME))
    if not path.is_file():
        raise AgentError(f"reader: model file missing: {path} (made by models/export_easyocr.py)")
    _verify(path, MODEL_SHA256)
    return path


def to_input(gray: np.ndarray, contrast: bool = False) -> np.ndarray:
    """One crop as the network's 1x1x64xW input, W a multiple of 64."""
    h, w = gray.shape
    ratio = w / h
    # A crop taller than wide (never a plate row) keeps its ratio here, padded
    # to 64 wide; EasyOCR would first stretch it into a tall strip.
    width = max(1, int(HEIGHT * ratio))
    # EasyOCR hands PIL's LANCZOS constant (1) to cv2.resize, where 1 means
    # INTER_LINEAR; its second, PIL resize is to the same size.
    resized = cv2.resize(gray, (width, HEIGHT), interpolation=cv2.INTER_LINEAR)
    if contrast:
        # After the resize, as EasyOCR does: the percentiles are the resized crop's.
        resized = stretch_contrast(resized)
    x = resized.astype(np.float32) * (2.0 / 255.0) - 1.0
    out = np.empty((1, 1, HEIGHT, HEIGHT * math.ceil(max(1.0, ratio))), np.float32)
    out[0, 0, :, :width] = x
    out[0, 0, :, width:] = x[:, -1:]
    return out


def stretch_contrast(gray: np.ndarray, target: float = ADJUST_CONTRAST) -> np.ndarray:
    """EasyOCR's adjust_contrast_grey: stretch a flat crop's 10-90 percentile range."""
    high, low = np.percentile(gray, 90), np.percentile(gray, 10)
    if (high - low) / max(10.0, high + low) >= target:
        return gray
    ratio = 200.0 / max(10.0, high - low)
    return np.clip((gray.astype(int) - low + 25) * ratio, 0, 255).astype(np.uint8)


class EasyOcrRecognizer:
    """Reads text lines (BGR or gray crops) into TextLines of A-Z0-9."""

    def __init__(self, threads: int = 1, charset: str = PLATE_CHARSET):
        self.session = _session(model_path(), threads)
        meta = self.session.get_modelmeta().custom_metadata_map
        characters = json.loads(meta["characters"])
        if int(meta["img_height"]) != HEIGHT:
            raise AgentError(f"reader: {MODEL_NAME} expects height {meta['img_height']}, not {HEIGHT}")
        # EasyOCR's allowlist zeroes every other class and renormalises:
        # the same as a softmax over blank and the allowed classes only.
        self._keep = np.array([0] + [characters.index(c) + 1 for c in charset])
        self._vocabulary = [""] + list(characters)
        self._labels = [""] + list(charset)

    def __call__(self, crops: list[np.ndarray]) -> list[TextLine]:
        grays = [c if c.ndim == 2 else cv2.cvtColor(c, cv2.COLOR_BGR2GRAY) for c in crops]
        first = self._read(grays)
        weak = [i for i, (_, score) in enumerate(first) if score < CONTRAST_THS]
        second = self._read([grays[i] for i in weak], contrast=True)
        lines = [line for line, _ in first]
        for i, (line, score) in zip(weak, second):
            # EasyOCR keeps the first read unless the second scores at least as well.
            if not first[i][1] > score:
                lines[i] = line
        return lines

    def _read(self, grays: list[np.ndarray], contrast: bool = False) -> list[tuple[TextLine, float]]:
        inputs = [to_input(g, contrast) for g in grays]
        out: list[tuple[TextLine, float] | None] = [None] * len(inputs)
        # EasyOCR reads one crop at a time, padded to its own width; crops of
        # one padded width are batched, which gives the same numbers.
        by_width: dict[int, list[int]] = {}
        for i, x in enumerate(inputs):
            by_width.setdefault(x.shape[3], []).append(i)
        for group in by_width.values():
            logits = self.session.run(None, {"image": np.concatenate([inputs[i] for i in group])})[0]
            for i, row in zip(group, logits):
                out[i] = self._decode(row)
        return out  # type: ignore[return-value]

    def _decode(self, logits: np.ndarray) -> tuple[TextLine, float]:
        sub = logits[:, self._keep]
        probs = np.exp(sub - sub.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        best = probs.argmax(axis=1)
        chars, char_probs, alternatives = [], [], []
        previous = 0
        for t, k in enumerate(best):
            if k != previous and k != 0:
                chars.append(self._labels[k])
                char_probs.append(float(probs[t, k]))
                top = np.argsort(probs[t, 1:])[::-1][:ALTERNATIVES] + 1
                alternatives.append(tuple((self._labels[j], float(probs[t, j])) for j in top))
            previous = k
        # EasyOCR's score (its custom_mean) decides only the contrast retry;
        # a TextLine's confidence is the mean of its characters' probabilities,
        # as for the default engine, so min_confidence means the same for both.
        steps = probs.max(axis=1)[best != 0]
        score = float(steps.prod() ** (2.0 / math.sqrt(len(steps)))) if len(steps) else 0.0
        confidence = float(np.mean(char_probs)) if char_probs else 0.0
        raw = ctc_collapse(logits.argmax(axis=1), self._vocabulary)
        # Column 0 is the blank, as TextLine.steps wants: the allowlist
        # leaves nothing else that is no plate character.
        return TextLine("".join(chars), confidence, tuple(char_probs), tuple(alternatives), raw,
                        probs.astype(np.float32)), score
