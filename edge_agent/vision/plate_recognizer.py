"""A recognizer trained on licence plates, read beside PP-OCR's general text recognizer.

fast-plate-ocr's `cct-xs-v2-global` (MIT, models/README.md): a compact
convolutional transformer that reads a whole plate picture into ten
character slots, each a probability over 0-9, A-Z and a pad, and names the
plate's country or region. It was trained on plates of some sixty
countries, so it knows their fonts, two-row layouts and what does not
belong to the registration (state names, slogans, dealer frames), which a
general text recognizer has to be told by rules. It runs on onnxruntime
from this package's assets after its checksum is checked, like the other
models; the fast-plate-ocr package itself is not needed (its runtime is the
resize below).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from .onnx_models import _session, model_path

MODEL = "cct_xs_v2_global.onnx"
# From the model's plate config (models/cct_xs_v2_global_plate_config.yaml).
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_"
PAD = "_"
SLOTS = 10
WIDTH, HEIGHT = 128, 64
REGIONS = (
    "Albania", "Andorra", "Argentina", "Armenia", "Australia", "Austria", "Azerbaijan", "Bahrain",
    "Belarus", "Belgium", "Bosnia and Herzegovina", "Brazil", "Bulgaria", "Cambodia", "Canada", "Croatia",
    "Cyprus", "Czech Republic", "Denmark", "Estonia", "Finland", "France", "Georgia", "Germany",
    "Gibraltar", "Greece", "Guernsey", "Hungary", "Iceland", "Indonesia", "Ireland", "Israel", "Italy",
    "Latvia", "Liechtenstein", "Lithuania", "Luxembourg", "Malaysia", "Malta", "Mexico", "Moldova",
    "Monaco", "Montenegro", "Netherlands", "New Zealand", "North Macedonia", "Norway", "Poland",
    "Portugal", "Qatar", "Romania", "San Marino", "Serbia", "Singapore", "Slovakia", "Slovenia", "Spain",
    "Sweden", "Switzerland", "Thailand", "Turkey", "United States", "Ukraine", "United Kingdom", "Vietnam",
    "Unknown",
)
_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}
# No probability is taken as exactly zero: a log of it would rule a text
# out on one model's word alone.
FLOOR = 1e-6
# How likely the recognizer is to miss a character of a plate, or to read
# one that is not there: a state's initials or a county number beside a
# short registration (US 5555, Wyoming's county before its serial), a
# sticker or a bolt. 1e-2 and 3e-2 gave the same reads of every dev photo
# and crop; 1e-3 let four such extra characters outvote a sure row reader.
MISSED = 1e-2


@dataclass(frozen=True)
class SlotRead:
    """One plate picture as the plate recognizer reads it."""

    text: str  # the most likely character of each slot, pads dropped
    slot_probs: np.ndarray = None  # type: ignore[assignment]  # SLOTS x len(ALPHABET)
    region_probs: np.ndarray = None  # type: ignore[assignment]  # over REGIONS
    _logs: list[list[float]] | None = field(default=None, repr=False, compare=False)

    @property
    def region(self) -> str:
        """The region (country) the model takes the plate for."""
        return REGIONS[int(self.region_probs.argmax())]

    def _log_slots(self) -> list[list[float]]:
        # Plain lists: the alignment below is a small loop, where numpy's
        # per-element cost would dominate.
        if self._logs is None:
            object.__setattr__(self, "_logs", np.log(np.maximum(self.slot_probs, FLOOR)).tolist())
        return self._logs

    @property
    def char_probs(self) -> tuple[float, ...]:
        return tuple(float(self.slot_probs[i, _INDEX[ch]]) for i, ch in enumerate(self.text))

    @property
    def confidence(self) -> float:
        """The mean probability of the text's characters and of the pads after it."""
        return float(np.exp(self.log_likelihood(self.text) / SLOTS))

    def log_likelihood(self, text: str) -> float:
        """log P(text), given what the slots read: the best alignment of the text with the slots.

        Each character of the text is read in a slot (its probability
        there), or was missed (MISSED); a slot read as a character the text
        does not have is an extra (MISSED too); the slots after the text
        hold pads. Without misses and extras a text one character longer
        or shorter than the read would pay for every slot after the
        difference, as if each were misread: the recognizer does not
        misread six characters where it adds one.
        """
        if any(ch not in _INDEX or ch == PAD for ch in text):
            return -math.inf
        return self._align(text)[0]

    def char_probs_of(self, text: str) -> list[float]:
        """Each character's probability in the slot the best alignment reads it in; 0 for one it missed."""
        _, moves = self._align(text)
        logp = self._log_slots()
        out = [0.0] * len(text)
        i, j = len(text), SLOTS
        while i > 0:
            move = moves[i][j]
            if move == _READ:
                out[i - 1] = math.exp(logp[j - 1][_INDEX[text[i - 1]]])
                i, j = i - 1, j - 1
            elif move == _MISSED:
                i -= 1
            else:
                j -= 1
        return out

    def _align(self, text: str) -> tuple[float, list[list[int]]]:
        logp = self._log_slots()
        miss = math.log(MISSED)
        pad = [max(row[_INDEX[PAD]], miss) for row in logp]
        cols = [_INDEX[ch] for ch in text]
        n, inf = len(text), -math.inf
        # best[i][j]: the first i characters aligned with the first j slots;
        # moves[i][j]: the step that got there.
        best = [[inf] * (SLOTS + 1) for _ in range(n + 1)]
        moves = [[_EXTRA] * (SLOTS + 1) for _ in range(n + 1)]
        best[0][0] = 0.0
        for i in range(n + 1):
            for j in range(SLOTS + 1):
                here = best[i][j]
                if here == inf:
                    continue
                if i < n:
                    if j < SLOTS and here + logp[j][cols[i]] > best[i + 1][j + 1]:
                        best[i + 1][j + 1], moves[i + 1][j + 1] = here + logp[j][cols[i]], _READ
                    if here + miss > best[i + 1][j]:
                        best[i + 1][j], moves[i + 1][j] = here + miss, _MISSED
                if j < SLOTS:
                    step = pad[j] if i == n else miss
                    if here + step > best[i][j + 1]:
                        best[i][j + 1], moves[i][j + 1] = here + step, _EXTRA
        return float(best[n][SLOTS]), moves


# How each place of the alignment was reached (SlotRead._align).
_READ, _MISSED, _EXTRA = 0, 1, 2


class PlateRecognizer:
    """Reads plate pictures (BGR, any size) with cct-xs-v2-global."""

    def __init__(self, threads: int = 1):
        self.session = _session(model_path(MODEL), threads)

    def __call__(self, plates: list[np.ndarray]) -> list[SlotRead]:
        # One plate a run: the session's arena keeps what its largest run
        # took, for good (3 MB after one plate, 25 MB after a still's eight),
        # and without the arena each run's tensors are fresh pages under the
        # agent's pinned mmap threshold (cli.bound_heap): 5.7 against 3.3 ms
        # a plate. A batch saves nothing on one core.
        # The model was trained on plates stretched to 128x64, whatever their
        # shape (keep_aspect_ratio: false), by linear interpolation, in RGB.
        out = []
        for plate in plates:
            batch = cv2.cvtColor(cv2.resize(plate, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR),
                                 cv2.COLOR_BGR2RGB)[None]
            (probs,), (region,) = self.session.run(None, {"input": batch})
            text = "".join(ALPHABET[k] for k in probs.argmax(axis=1)).replace(PAD, "")
            out.append(SlotRead(text, probs, region))
        return out


# The plate around a character row, as the plate recognizer reads it: the
# row grown by these fractions of its height above and below, and at each
# end. The recognizer was trained on plates as a plate detector boxes them;
# the row alone cuts off what it uses to place the characters, and much
# more takes in a bumper or a second row of text.
PLATE_ABOVE_BELOW = 0.15
PLATE_AT_ENDS = 0.25


def plate_quad(quad: np.ndarray, width: int, height: int) -> np.ndarray:
    """The quad of the plate around a character row's quad (clockwise from top-left), kept inside the image."""
    tl, tr, br, bl = quad.astype(np.float64)
    row_height = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    along = (tr - tl) / max(1e-6, float(np.linalg.norm(tr - tl)))
    down = (bl - tl) / max(1e-6, float(np.linalg.norm(bl - tl)))
    a, d = along * PLATE_AT_ENDS * row_height, down * PLATE_ABOVE_BELOW * row_height
    out = np.array([tl - a - d, tr + a - d, br + a + d, bl - a + d], np.float32)
    out[:, 0] = np.clip(out[:, 0], 0, width - 1)
    out[:, 1] = np.clip(out[:, 1], 0, height - 1)
    return out


def plate_crop(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The plate around a character row, upright."""
    from .ocr import rectify

    return rectify(image, plate_quad(quad, image.shape[1], image.shape[0]))
