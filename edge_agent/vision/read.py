"""Plate reading: the characters on each plate candidate of a frame.

The default reader rectifies each candidate's character row and reads it with
PP-OCR's recognizer limited to A-Z0-9. EasyOCR's English recognizer, exported
to ONNX (easyocr_onnx.py), is the other engine, read on the same rows; neither
needs torch.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timezone
from functools import partial
from typing import Callable, Mapping, Protocol

import cv2
import numpy as np

from ..config import ReaderConfig
from .consensus import combine
from .detect import PlateDetector, TextLinePlateDetector
from .ocr import TextLine, TextRecognizer, rectify
from .plate_recognizer import PlateRecognizer, SlotRead, plate_crop
from .rank import Ranked, keep_plates, plate_like, plate_rank, ranked_plates, vote_looks
from . import two_rows
from ..records import Box, Frame, PlateCandidate, PlateRead
from .settle import SettledRows
from .stacked import Glyphs, glyphs

log = logging.getLogger(__name__)

# Longest side a plate crop is scaled to before its character row is found.
CROP_SIDE = 320
# A row's box often stops short of a plate's end character, or a whole
# character group (CLT0108 boxed as LT0108, 1A MW240 as MW240). Nothing
# here reads such a row again wider: the plate recognizer reads the plate
# around the row (plate_recognizer.plate_crop) and the consensus takes the
# characters it sees past the box (consensus.py).
# A still (a photo, a plate crop) is one look at a plate, and the
# recognizer's read of a row moves with a few pixels of crop (a W read as N
# at one height and as W at another). So each row of a still is read at its
# detected height and trimmed by these fractions of it, and the most
# confident read is kept. A box that takes in the plate's frame or a slice
# of the state name reads best trimmed by up to a third. Stream frames do
# not need it: a vehicle in a stream is read in many frames and the tracker
# votes, and four reads per row would quadruple the recognizer's time per
# frame.
STILL_TRIMS = (0.0, 0.1, 0.2, 0.3)


class PlateReader(Protocol):
    def __call__(self, frame: Frame, candidates: list[PlateCandidate]) -> list[PlateRead]: ...

    def rank_still(self, frame: Frame, candidates: list[PlateCandidate]) -> list[Ranked]: ...


class RowReader:
    """Reads the rectified character row of each candidate with a line recognizer.

    Both engines share it, and the rows read_crop finds (with PP-OCR's
    detector), so they differ only in the recognizer.
    """

    # Keyword arguments for the recognizer when it reads a still.
    still_options: dict[str, int] = {}

    def __init__(self, cfg: ReaderConfig, recognizer: Callable[..., list[TextLine]],
                 plate_recognizer: PlateRecognizer | None = None):
        self.cfg = cfg
        self.recognizer = recognizer
        # Reads each plate-like row's plate again, to agree with (consensus.py).
        self.plate_recognizer = plate_recognizer
        self._crop_detector = None
        self._settled = SettledRows(cfg.reread_every)

    def sharing_models(self) -> RowReader:
        """Another camera's reader on this one's models: its own settled rows."""
        return type(self)(self.cfg, self.recognizer, self.plate_recognizer)

    def __call__(self, frame: Frame, candidates: list[PlateCandidate],
                 plates: Mapping[int, SlotRead] | None = None) -> list[PlateRead]:
        """`plates`: the plate recognizer's reads of some candidates' plates, made ahead (read_plate_ahead)."""
        if frame.still:
            return vote_looks(self.rank_still(frame, candidates))
        to_read, matched = self._settled.split(candidates, frame.captured_at)
        chosen = [candidates[i] for i in to_read]
        quads = [c.quad for c in chosen]
        lines = self.read_rows(frame.image, quads)
        first = len(chosen)
        joined = two_rows.add_joined(chosen, lines, quads)
        ahead = [plates.get(i) for i in to_read] + [None] * len(joined) if plates else None
        lines = two_rows.settle_joined(self.agree(frame.image, quads, lines, ahead=ahead), joined, first)
        reads = keep_plates(frame, chosen, lines, self.cfg, verify=True, context=candidates)
        return reads + self._settled.update(frame, candidates, to_read, matched, reads)

    def rank_still(self, frame: Frame, candidates: list[PlateCandidate]) -> list[Ranked]:
        """A still's plate-like reads of these candidates, each ranked, not yet voted over looks (vote_looks)."""
        lines, read_at = self.read_rows_of_still(frame.image, [c.quad for c in candidates], require_digit=True)
        candidates, first = list(candidates), len(candidates)
        joined = two_rows.add_joined(candidates, lines, read_at)
        quads = [c.quad for c in candidates]
        lines = two_rows.settle_joined(self.agree(frame.image, quads, lines), joined, first)
        return ranked_plates(frame, candidates, lines, self.cfg, verify=True, read_at=read_at)

    def read_plate_ahead(self, frame: Frame, candidate: PlateCandidate) -> SlotRead | None:
        """The plate recognizer's read of a candidate's plate, as agree() would make it.

        The pipeline's detector thread makes these in time it would
        otherwise wait for this reader (pipeline.py); a plate is read alone
        in each run, so a read made ahead is the read agree() would make.
        """
        if self.plate_recognizer is None or frame.still:
            return None
        return self.plate_recognizer([plate_crop(frame.image, candidate.quad)])[0]

    def agree(self, image: np.ndarray, quads: list[np.ndarray], lines: list[TextLine],
              plate: SlotRead | None = None, ahead: list[SlotRead | None] | None = None,
              glyphs_of: Callable[[int], Glyphs | None] | None = None) -> list[TextLine]:
        """Each row's read, or where the plate recognizer reads its plate too, the two readers' consensus.

        Only rows the engine reads as a possible registration are read
        again: its read of a date, a clock or a caption (plate_rank 0), or
        of more characters than any plate holds, is no plate's. `ahead`
        holds, per quad, its plate's read if one was made ahead;
        `glyphs_of`, the glyphs of each quad's plate (stacked.glyphs), by
        default of the plate around the row.
        """
        if self.plate_recognizer is None:
            return lines
        todo = [i for i, line in enumerate(lines)
                if line.steps is not None and 2 <= len(line.text) <= self.cfg.max_chars + 1
                and plate_rank(line.text, line.raw) != 0]
        if plate is not None:
            plates = [plate] * len(todo)
        else:
            made = ahead or [None] * len(quads)
            missing = [i for i in todo if made[i] is None]
            fresh = dict(zip(missing, self.plate_recognizer([plate_crop(image, quads[i]) for i in missing])))
            plates = [made[i] if made[i] is not None else fresh[i] for i in todo]
        out = list(lines)
        for i, plate in zip(todo, plates):
            look = partial(glyphs_of, i) if glyphs_of is not None else partial(_glyphs_around, image, quads[i])
            out[i] = combine(lines[i], plate, look).line
        return out

    def read_rows_of_still(self, image: np.ndarray, quads: list[np.ndarray],
                           require_digit: bool) -> tuple[list[TextLine], list[np.ndarray]]:
        """Read each row at the heights of STILL_TRIMS; its most confident plate-like read, and where it was read."""
        trims = [[trim(q, by) for q in quads] for by in STILL_TRIMS]
        lines, read_at = self.read_rows(image, trims[0], still=True), list(trims[0])
        for trimmed in trims[1:]:
            again = self.read_rows(image, trimmed, still=True)
            for i, (a, b) in enumerate(zip(lines, again)):
                if self._better(b, a, require_digit):
                    lines[i], read_at[i] = b, trimmed[i]
        return lines, read_at

    def _better(self, b: TextLine, a: TextLine, require_digit: bool) -> bool:
        # A tight trim can cut a plate's weak end characters off (627-WW read
        # as 627), and the shorter read is then surer; one left too short
        # for a plate is not a read of it.
        if plate_like(a.text, self.cfg, require_digit) and not plate_like(b.text, self.cfg, require_digit):
            return False
        return b.confidence > a.confidence

    def read_rows(self, image: np.ndarray, quads: list[np.ndarray], still: bool = False) -> list[TextLine]:
        """Each row's read by the engine."""
        options = self.still_options if still else {}
        return self.recognizer([rectify(image, q) for q in quads], **options)

    def read_crop(self, image: np.ndarray) -> list[PlateRead]:
        """Read a picture that is already one plate: find its character row first."""
        if self._crop_detector is None:
            self._crop_detector = TextLinePlateDetector(replace(self.cfg, detect_max_side=CROP_SIDE, min_plate_height=8))
        h, w = image.shape[:2]
        # Upscale small crops: the row detector needs characters ~20 px tall.
        scale = max(1.0, CROP_SIDE / max(h, w))
        big = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
        frame = Frame(big, 0, datetime.now(timezone.utc), "crop", still=True)
        candidates = self._crop_detector(frame)
        whole = np.array([[0, 0], [big.shape[1] - 1, 0], [big.shape[1] - 1, big.shape[0] - 1],
                          [0, big.shape[0] - 1]], np.float32)
        candidates.append(PlateCandidate(Box(0, 0, big.shape[1], big.shape[0]), 0.0, whole))
        lines, _ = self.read_rows_of_still(big, [c.quad for c in candidates], require_digit=False)
        # The crop is the plate: the plate recognizer reads it whole, as it
        # was trained, and each row is weighed against that one read.
        plate = self.plate_recognizer([big])[0] if self.plate_recognizer is not None else None
        seen = glyphs(big)  # the crop is the plate, whichever row is read
        lines = self.agree(big, [c.quad for c in candidates], lines, plate=plate, glyphs_of=lambda _: seen)
        reads = keep_plates(frame, candidates, lines, self.cfg, require_digit=False)
        # On a plate the registration is the tallest text; state names,
        # slogans and year stickers are smaller. The whole-crop fallback
        # counts as a little shorter than the tallest row found in it.
        tallest = max((r.box.h for r in reads if r.box.h < big.shape[0]), default=big.shape[0])

        def score(r: PlateRead) -> float:
            height = 0.75 if r.box.h >= big.shape[0] else min(1.0, r.box.h / tallest)
            return r.confidence * height + 0.1 * (plate_rank(r.text) == 2)

        # A crop is one plate: of the rows' reads, the one the plate
        # recognizer's read of the whole plate makes likeliest, the
        # registration's height and confidence only between equals. A
        # state name, a slogan or a row the detector cut short agrees with
        # that read in little; ranked by height and confidence alone, GR8B
        # (the row cut short) beat GR8BUNZ and 345D beat Wyoming's 1345D.
        key = (lambda r: (plate.log_likelihood(r.text), score(r))) if plate is not None else score
        # Chosen as the letters they show, vanity plates are then written
        # as their region's records write them (consensus.round_glyph_is_zero).
        reads = _without_stacked(sorted(reads, key=key, reverse=True), seen)
        return [replace(r, text=r.text.replace("O", "0")) if r.zero_for_o else r for r in reads]


class PpocrReader(RowReader):
    # A still is one look at its plate: it is read as PP-OCR's own pipeline does.
    still_options = {"min_canvas": TextRecognizer.REFERENCE_CANVAS}

    def __init__(self, cfg: ReaderConfig, recognizer: TextRecognizer | None = None,
                 plate_recognizer: PlateRecognizer | None = None):
        super().__init__(cfg, recognizer or TextRecognizer(threads=cfg.threads), plate_recognizer)


class EasyOcrReader(RowReader):
    """EasyOCR's English recognizer (english_g2) on onnxruntime, for comparison."""

    def __init__(self, cfg: ReaderConfig, recognizer: Callable[[list[np.ndarray]], list[TextLine]] | None = None,
                 plate_recognizer: PlateRecognizer | None = None):
        from .easyocr_onnx import EasyOcrRecognizer

        super().__init__(cfg, recognizer or EasyOcrRecognizer(threads=cfg.threads), plate_recognizer)


def _glyphs_around(image: np.ndarray, quad: np.ndarray) -> Glyphs | None:
    return glyphs(plate_crop(image, quad))


def _without_stacked(reads: list[PlateRead], seen: Glyphs | None) -> list[PlateRead]:
    """A crop's reads with the read of its main row first where the best read only adds stacked characters to it.

    The whole-crop row, or a row the detector drew over a stacked pair, can
    read the pair as characters (2248 for Wyoming's 22 248 BH), and the
    plate recognizer's whole-crop read, which orders the reads, reads it
    so too (stacked.py).
    """
    if not reads or seen is None or not seen.stacked:
        return reads
    best = reads[0].text
    for r in reads[1:]:
        if len(r.text) == seen.main < len(best) and ((seen.left and best.endswith(r.text))
                                                     or (seen.right and best.startswith(r.text))):
            return [r] + [x for x in reads if x is not r]
    return reads


def trim(quad: np.ndarray, by: float) -> np.ndarray:
    """The quad with `by` of its height taken off, half at the top and half at the bottom."""
    tl, tr, br, bl = quad
    down = ((bl - tl) + (br - tr)) / 2 * by / 2
    return np.array([tl + down, tr + down, br - down, bl - down], np.float32)


def read_frame(frame: Frame, detector: PlateDetector, reader: PlateReader) -> list[PlateRead]:
    """The plate reads of one frame, best first: detect, then read.

    A still whose first look gives no read of letters and digits is looked
    at closer (detect.STILL_LOOKS): the closer looks' rows are read, and
    every look's reads merged (vote_looks). Looking closer at every still
    found the same plates (dev photos) at three times the time.
    """
    candidates = detector(frame)
    if not frame.still:
        return reader(frame, candidates)
    ranked = reader.rank_still(frame, candidates)
    # Rank 2 is a read of letters and digits (a letters-only read ranks 1).
    if not any(r.key[0] == 2 for r in ranked):
        # A still's row reads the same whatever is read beside it
        # (ocr.TextRecognizer), so the first look's rows are not read again.
        ranked += reader.rank_still(frame, detector.closer_looks(frame))
    return vote_looks(ranked)


def make_reader(cfg: ReaderConfig) -> PlateReader:
    plates = PlateRecognizer(threads=cfg.threads) if cfg.plate_recognizer else None
    if cfg.engine == "easyocr":
        return EasyOcrReader(cfg, plate_recognizer=plates)
    return PpocrReader(cfg, plate_recognizer=plates)
