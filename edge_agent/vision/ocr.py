"""PP-OCR text recognition on onnxruntime, without torch: a row's characters and their probabilities.

The recognizer is PP-OCRv6 small (Apache-2.0, from the `rapidocr` wheel,
opened by onnx_models.py). Pre- and post-processing are done here with
OpenCV and NumPy: the plate stages need per-character probabilities and
each character's alternatives, not just strings. The text detector that
finds the rows is text_detector.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..plates import CONFUSION_GROUPS
from .onnx_models import _session, model_path

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
