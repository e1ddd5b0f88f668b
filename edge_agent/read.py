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
from typing import Callable, Protocol

import cv2
import numpy as np

from .config import ReaderConfig
from .detect import PlateDetector, TextLinePlateDetector, quad_size
from .ocr import TextLine, TextRecognizer, rectify
from .plate_formats import apply_formats, fits
from .plates import fold
from .rank import Ranked, keep_plates, plate_like, plate_rank, ranked_plates, vote_looks
from .records import Box, Frame, PlateCandidate, PlateRead
from .settle import SettledRows

log = logging.getLogger(__name__)

# Longest side a plate crop is scaled to before its character row is found.
CROP_SIDE = 320
# The text detector's box often stops short of a plate's first or last
# character when it sits close to the plate's edge (CLT0108 boxed as
# LT0108). Each plate-like row is read again this many row heights wider on
# each side; characters that appear only in the wider read are kept when the
# model is this sure of every one of them (a bolt, frame edge or state
# emblem gets far less). A read that already fits a known plate format is
# complete and is not read again, which spares most rows on a road.
WIDEN_BY = 0.25
WIDEN_MIN_PROB = 0.9
# A box can stop short of a whole character group too ("1A MW240" boxed as
# MW240). A row that grew when read wider and still fits no format is read
# again this much wider, under the same rule: car3's plate, at 0.85 of its
# size, re-saved as JPEG or found by the float detector, read AMW240 and
# now reads whole, and no other top read of the dev photos or crops moved.
# Only rows that grew pay for it.
WIDEN_FURTHER_BY = 0.75
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

    def __init__(self, cfg: ReaderConfig, recognizer: Callable[..., list[TextLine]]):
        self.cfg = cfg
        self.recognizer = recognizer
        self._crop_detector = None
        self._settled = SettledRows(cfg.reread_every)

    def __call__(self, frame: Frame, candidates: list[PlateCandidate]) -> list[PlateRead]:
        if frame.still:
            return vote_looks(self.rank_still(frame, candidates))
        to_read, matched = self._settled.split(candidates, frame.captured_at)
        chosen = [candidates[i] for i in to_read]
        lines = self.read_rows(frame.image, [c.quad for c in chosen], require_digit=True)
        reads = keep_plates(frame, chosen, lines, self.cfg, verify=True, context=candidates)
        return reads + self._settled.update(frame, candidates, to_read, matched, reads)

    def rank_still(self, frame: Frame, candidates: list[PlateCandidate]) -> list[Ranked]:
        """A still's plate-like reads of these candidates, each ranked, not yet voted over looks (vote_looks)."""
        lines, read_at = self.read_rows_of_still(frame.image, [c.quad for c in candidates], require_digit=True)
        return ranked_plates(frame, candidates, lines, self.cfg, verify=True, read_at=read_at)

    def read_rows_of_still(self, image: np.ndarray, quads: list[np.ndarray],
                           require_digit: bool) -> tuple[list[TextLine], list[np.ndarray]]:
        """Read each row at the heights of STILL_TRIMS; its most confident plate-like read, and where it was read."""
        trims = [[trim(q, by) for q in quads] for by in STILL_TRIMS]
        lines, read_at = self.read_rows(image, trims[0], require_digit, still=True), list(trims[0])
        for trimmed in trims[1:]:
            again = self.read_rows(image, trimmed, require_digit, still=True)
            for i, (a, b) in enumerate(zip(lines, again)):
                if self._better(b, a, require_digit):
                    lines[i], read_at[i] = b, trimmed[i]
        for i, line in enumerate(lines):
            if self._fits_no_format(line, require_digit):
                lines[i], read_at[i] = self._edges_by_vote(image, line, read_at[i], [t[i] for t in trims])
        return lines, read_at

    def _edges_by_vote(self, image: np.ndarray, line: TextLine, at: np.ndarray,
                       trims: list[np.ndarray]) -> tuple[TextLine, np.ndarray]:
        """The still's read with the characters its box cut off, if most of its trims, read wider, show them.

        Each trim's read is read wider if it fits no format (read_rows),
        and the surest trim's read is kept; where the box stops short of
        an end character, the trim whose wider read was least sure of it
        keeps the shorter read, often the surest of all (CLT-0108: three
        trims read whole at 0.96-0.99, one gave its C 0.79 and kept LT0108
        at 0.99). Taking any wider read with sure added characters also
        took a sticker read as a 4 (ASC7399 as 4ASC7399) and cost a crop;
        requiring the wider reads of most trims to agree on the added
        characters, each at least WIDEN_MIN_PROB (_with_edges's rule),
        read CLT0108 whole and moved no other read of the dev photos and
        crops, with either detector. Like read_rows, it reads only rows
        whose read fits no format: a still's other rows do not pay the
        recognizer run per trim it takes.
        """
        h, w = image.shape[:2]
        wider_at = [widen(q, WIDEN_BY, w, h) for q in trims]
        wider = self.recognizer([rectify(image, q) for q in wider_at], **self.still_options)
        votes: dict[tuple[str, str], list[int]] = {}
        for k, read in enumerate(wider):
            added = _added_edges(line, read, self.cfg)
            if added is not None:
                votes.setdefault(added, []).append(k)
        for ks in votes.values():
            if 2 * len(ks) > len(trims):
                k = max(ks, key=lambda k: wider[k].confidence)
                return wider[k], wider_at[k]
        return line, at

    def _fits_no_format(self, line: TextLine, require_digit: bool) -> bool:
        """A plate-like read that fits no known format: one that may have lost characters at its ends."""
        return plate_like(line.text, self.cfg, require_digit) and not fits(apply_formats(line).text)

    def _better(self, b: TextLine, a: TextLine, require_digit: bool) -> bool:
        # A tight trim can cut a plate's weak end characters off (627-WW read
        # as 627), and the shorter read is then surer; one left too short
        # for a plate is not a read of it.
        if plate_like(a.text, self.cfg, require_digit) and not plate_like(b.text, self.cfg, require_digit):
            return False
        return b.confidence > a.confidence

    def read_rows(self, image: np.ndarray, quads: list[np.ndarray], require_digit: bool,
                  still: bool = False) -> list[TextLine]:
        """Read each row; read a plate-like one that fits no format again wider (WIDEN_BY), and further
        (WIDEN_FURTHER_BY) if that made it grow and it still fits none."""
        options = self.still_options if still else {}
        lines = self.recognizer([rectify(image, q) for q in quads], **options)
        todo = [i for i, line in enumerate(lines) if self._fits_no_format(line, require_digit)]
        h, w = image.shape[:2]
        for by in (WIDEN_BY, WIDEN_FURTHER_BY):
            if not todo:
                break
            wider = self.recognizer([rectify(image, widen(quads[i], by, w, h)) for i in todo], **options)
            grew = []
            for i, line in zip(todo, wider):
                before = lines[i].text
                lines[i] = _with_edges(lines[i], line, self.cfg)
                if lines[i].text != before and not fits(apply_formats(lines[i]).text):
                    grew.append(i)
            todo = grew
        return lines

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
        reads = keep_plates(frame, candidates, lines, self.cfg, require_digit=False)
        # On a plate the registration is the tallest text; state names,
        # slogans and year stickers are smaller. The whole-crop fallback
        # counts as a little shorter than the tallest row found in it.
        tallest = max((r.box.h for r in reads if r.box.h < big.shape[0]), default=big.shape[0])

        def score(r: PlateRead) -> float:
            height = 0.75 if r.box.h >= big.shape[0] else min(1.0, r.box.h / tallest)
            return r.confidence * height + 0.1 * (plate_rank(r.text) == 2)

        return sorted(reads, key=score, reverse=True)


class PpocrReader(RowReader):
    # A still is one look at its plate: it is read as PP-OCR's own pipeline does.
    still_options = {"min_canvas": TextRecognizer.REFERENCE_CANVAS}

    def __init__(self, cfg: ReaderConfig, recognizer: TextRecognizer | None = None):
        super().__init__(cfg, recognizer or TextRecognizer(threads=cfg.threads))


class EasyOcrReader(RowReader):
    """EasyOCR's English recognizer (english_g2) on onnxruntime, for comparison."""

    def __init__(self, cfg: ReaderConfig, recognizer: Callable[[list[np.ndarray]], list[TextLine]] | None = None):
        from .easyocr_onnx import EasyOcrRecognizer

        super().__init__(cfg, recognizer or EasyOcrRecognizer(threads=cfg.threads))


def widen(quad: np.ndarray, by: float, width: int, height: int) -> np.ndarray:
    """The quad stretched along its row by `by` row heights on each side, kept inside the image."""
    tl, tr, br, bl = quad
    row_height = quad_size(quad)[1]
    along = (tr - tl) / max(1e-6, float(np.linalg.norm(tr - tl)))
    step = along * by * row_height
    out = np.array([tl - step, tr + step, br + step, bl - step], np.float32)
    out[:, 0] = np.clip(out[:, 0], 0, width - 1)
    out[:, 1] = np.clip(out[:, 1], 0, height - 1)
    return out


def trim(quad: np.ndarray, by: float) -> np.ndarray:
    """The quad with `by` of its height taken off, half at the top and half at the bottom."""
    tl, tr, br, bl = quad
    down = ((bl - tl) + (br - tr)) / 2 * by / 2
    return np.array([tl + down, tr + down, br - down, bl - down], np.float32)


def _with_edges(line: TextLine, wider: TextLine, cfg: ReaderConfig) -> TextLine:
    """The wider read if it only adds sure characters at the row's ends, else the first read."""
    return line if _added_edges(line, wider, cfg) is None else wider


def _added_edges(line: TextLine, wider: TextLine, cfg: ReaderConfig) -> tuple[str, str] | None:
    """The sure characters the wider read adds before and after the first read, or None if it does anything else."""
    # Compared with look-alikes folded: the two reads come from different
    # pixels and may differ on a D/0 the format step settles later.
    at = fold(wider.text).find(fold(line.text))
    if at < 0 or len(wider.text) == len(line.text) or len(wider.text) > cfg.max_chars:
        return None
    end = at + len(line.text)
    if min(wider.char_probs[:at] + wider.char_probs[end:]) < WIDEN_MIN_PROB:
        return None
    return wider.text[:at], wider.text[end:]



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
    if cfg.engine == "easyocr":
        return EasyOcrReader(cfg)
    return PpocrReader(cfg)
