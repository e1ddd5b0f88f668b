"""Plate reading: the characters on each plate candidate of a frame.

The default reader rectifies each candidate's character row and reads it with
PP-OCR's recognizer limited to A-Z0-9. EasyOCR's English recognizer, exported
to ONNX (easyocr_onnx.py), is the other engine, read on the same rows; neither
needs torch.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import datetime, timezone
from typing import Callable, NamedTuple, Protocol

import cv2
import numpy as np

from .config import ReaderConfig
from .detect import PlateDetector, TextLinePlateDetector, quad_size
from .ocr import TextLine, TextRecognizer, rectify
from .plate_formats import apply_formats, fits
from .plates import fold, letters_only
from .records import Box, Frame, PlateCandidate, PlateRead
from .settle import SettledRows
from .verify import plate_evidence

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


# A letters-only row of a whole frame is read as a vanity plate (G WAGEN,
# FZ RULZ) only when the model is this sure of it and the image shows a
# closed panel around it (PlateEvidence.closed). Badges and
# lettering still get through (FELICIA on a boot lid closed by its edges),
# which is why such reads stay inside the unit unless they hit (service.py).
LETTERS_ONLY_MIN_CONFIDENCE = 0.9
# An all-digit row of a whole frame must be read as surely. All-digit plates
# are plain digits in a plate font, and the model is sure of them (the 39
# all-digit US crops: 0.999 and up); what it reads as digits unsurely is
# something else, such as a chrome 323i badge read 3231 at 0.62.
ALL_DIGITS_MIN_CONFIDENCE = LETTERS_ONLY_MIN_CONFIDENCE
# So must a read of this many characters or fewer. Badges are short (323i,
# V6 LE, 2.0 TDI, LEXUS less a letter) and the model is unsure of chrome
# and script, where short plates are rare and set in a plate font: the
# 9 right reads of the US crops' 4-character plates score 0.996 and up.
SHORT_MAX_CHARS = 4
SHORT_MIN_CONFIDENCE = LETTERS_ONLY_MIN_CONFIDENCE


def plate_like(text: str, cfg: ReaderConfig, require_digit: bool = True) -> bool:
    """Whether a read could be a plate at all.

    In a whole frame, requiring a digit rejects most badges, brand names and
    sign words, at the cost of letters-only vanity plates (about 1 in 12 US
    plates, 2% of the benchmark photos). Inside a region already known to be
    a plate, letters-only reads are allowed; in a whole frame, only under
    the stricter check of _keep_plates (LETTERS_ONLY_MIN_CONFIDENCE).
    """
    if not cfg.min_chars <= len(text) <= cfg.max_chars:
        return False
    return not require_digit or any(c.isdigit() for c in text)


# Burnt-in camera dates and clocks are among the commonest plate-like text
# in a frame: YYYYMMDD, with the time run on. As a digit pattern alone a
# clock (HHMMSS) would also refuse one all-digit plate in eleven, such as
# Delaware's 211907, so a clock is told by its colons, and a date by its
# separators, in the row as the model reads it with punctuation
# (TextLine.raw): a year run into a separator (2014-04), or two digits
# between two separators (04-28, 10=07=20 where the colons smear). One dash
# alone says nothing: Rhode Island's all-digit plates carry one (697-241).
# Marks in a read with letters say nothing either: Czech stickers and
# Slovak arms between character groups read as colons.
_DATE = re.compile(r"^(19|20)\d\d((0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\d{0,6})?$")
_DATE_MARKS = r"(19|20)\d\d[-./=]|\d[-./=]\d\d[-./=]\d"
_STAMP_MARKS = re.compile(":|" + _DATE_MARKS)
# A date keeps its shape when one digit is read as a look-alike letter
# (2014-04-30 as C014-04-30); a clock's colon in a row with a letter may
# be a sticker's, so only a date's marks count there.
_DATE_WITH_ONE_LETTER = re.compile(_DATE_MARKS)
# A photo's watermark or a camera's caption opens with a copyright mark,
# which the model reads as such (eu3's watermark as '©SW722', a
# photographer's '© A.Brekke 2012'); no plate does. Inside a row the mark
# says nothing: the model reads some emblems between character groups as
# marks (Virginia's George Mason seal in 125 5GM as © or ®, a Czech sticker
# as @), and other marks say nothing anywhere (Alabama prints its name with
# a ®). Of the 19 187 rows read on the dev photos and crops, 18 raws opened
# with ©: all watermarks.
_CAPTION_MARK = "©"
# Plates are set in capitals. A row the model reads with a word in lower
# case (two letters in a row whose small form is no capital's look-alike)
# is a state name (SEP California, read SEPC), a slogan or a caption
# (© O.A.Brekke 2012, read 0AB2012 once the © is too small to be read as
# one). Of the 1867 reads of the labelled plates in passes of the dev
# photos, none has such a word; their captions and state names all do.
_LOWER_CASE_WORD = re.compile("[abdefghnqrty]{2}")


def plate_rank(text: str, raw: str = "") -> int:
    """How plate-like a read is: 2 letters and digits, 1 digits only, 0 a date, clock, caption or words.

    Almost every plate mixes letters and digits; all-digit plates exist but
    are rarer than the digit runs of signs, stamps and phone numbers. `raw`
    is the model's read of the row with punctuation.
    """
    if raw.lstrip().startswith(_CAPTION_MARK) or _LOWER_CASE_WORD.search(raw):
        return 0
    if text.isdigit():
        return 0 if _DATE.match(text) or _STAMP_MARKS.search(raw) else 1
    if sum(ch.isalpha() for ch in text) == 1 and _DATE_WITH_ONE_LETTER.search(raw):
        return 0
    return 2


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
        reads = _keep_plates(frame, chosen, lines, self.cfg, verify=True, context=candidates)
        return reads + self._settled.update(frame, candidates, to_read, matched, reads)

    def rank_still(self, frame: Frame, candidates: list[PlateCandidate]) -> list[Ranked]:
        """A still's plate-like reads of these candidates, each ranked, not yet voted over looks (vote_looks)."""
        lines, read_at = self.read_rows_of_still(frame.image, [c.quad for c in candidates], require_digit=True)
        return _ranked_plates(frame, candidates, lines, self.cfg, verify=True, read_at=read_at)

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
        reads = _keep_plates(frame, candidates, lines, self.cfg, require_digit=False)
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


# A read's place in the frame's order: plate_rank (a letters-only read
# counts 1), standing alone rather than stacked, then confidence.
RankKey = tuple[int, bool, float]


class Ranked(NamedTuple):
    key: RankKey
    look: int  # the candidate's look (detect.STILL_LOOKS)
    read: PlateRead


def _keep_plates(frame: Frame, candidates: list[PlateCandidate], lines: list[TextLine],
                 cfg: ReaderConfig, require_digit: bool = True, verify: bool = False,
                 read_at: list[np.ndarray] | None = None,
                 context: list[PlateCandidate] | None = None) -> list[PlateRead]:
    """The plate-like reads, best first (see _ranked_plates)."""
    ranked = _ranked_plates(frame, candidates, lines, cfg, require_digit, verify, read_at, context)
    ranked.sort(key=lambda r: r.key, reverse=True)
    return [r.read for r in ranked]


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


def vote_looks(ranked: list[Ranked]) -> list[PlateRead]:
    """A still's reads of each row over its looks merged into one, best first.

    Reads of different looks whose boxes overlap (IoU above LOOK_OVERLAP)
    are one row seen at several scales. The first look's read of a row
    stands where there is one: the closer looks are there to find rows it
    missed, and where it read a row, letting them outvote it lost a plate
    to a sticker read as a character (4B2 1875 as 4B281875, at two looks
    of three). A row the first look missed takes the text with the most
    summed confidence over the closer looks, if it is read as surely as
    CLOSER_ONLY_MIN_CONFIDENCE asks. A row ranks by its text's summed
    confidence, and stands alone where most of that confidence does.
    """
    groups: list[list[Ranked]] = []
    for r in ranked:
        for group in groups:
            if all(r.look != other.look for other in group) and \
                    any(r.read.box.iou(other.read.box) > LOOK_OVERLAP for other in group):
                group.append(r)
                break
        else:
            groups.append([r])
    out: list[tuple[RankKey, PlateRead]] = []
    for group in groups:
        support: dict[str, float] = {}
        for r in group:
            support[r.read.text] = support.get(r.read.text, 0.0) + r.read.confidence
        first = [r for r in group if r.look == 0]
        text = first[0].read.text if first else max(support, key=lambda t: (support[t], t))
        same = [r for r in group if r.read.text == text]
        best = max(same, key=lambda r: r.read.confidence)
        if not first and best.read.confidence < CLOSER_ONLY_MIN_CONFIDENCE:
            continue
        alone = sum(r.read.confidence for r in same if r.key[1]) >= support[text] / 2
        out.append(((best.key[0], alone, support[text]), best.read))
    out.sort(key=lambda pair: pair[0], reverse=True)
    return [read for _, read in out]


# Boxes of one row found at two looks overlap by far more than this; two
# rows of one look (a plate and the dealer line under it) by far less.
LOOK_OVERLAP = 0.3
# A row only the closer looks find was missed where the first look found
# nothing plate-like, which on a photo with no plate is every time: such
# rows are the likeliest to be invented, and must be read as surely as a
# letters-only row. On the dev photos the closer looks' only plates read at
# 0.95 and 1.0, and their invented rows (14-29 px tall lines on trucks and
# walls) at 0.65-0.85.
CLOSER_ONLY_MIN_CONFIDENCE = LETTERS_ONLY_MIN_CONFIDENCE


def _ranked_plates(frame: Frame, candidates: list[PlateCandidate], lines: list[TextLine],
                   cfg: ReaderConfig, require_digit: bool = True, verify: bool = False,
                   read_at: list[np.ndarray] | None = None,
                   context: list[PlateCandidate] | None = None) -> list[Ranked]:
    """The plate-like reads, each with its RankKey.

    `verify` checks the image around each row for a plate (verify.py); not
    inside a crop, whose whole-crop row touches the border by design. The
    panel around a row is judged where the row was read (`read_at`, the
    trim of a still's row that gave its read): a detector box that takes in
    a plate's whole panel and some bumper finds the dark bumper to be the
    row's background, open on three sides (YD6-L3C), where the trimmed row
    finds the plate's own white, closed all round. Among
    rows that pass, one with rows of its own height stacked on it (a sign's
    line, a watermark over its year) ranks below one standing alone, as a
    plate's row does: EXIT 79B on a sign read as surely as the plate below.
    `context` is all of the frame's rows, when only some are read
    (settle.py).
    """
    # Rows stack only with rows of their own look: a still's other looks
    # find the same rows again.
    others = (context or candidates) if verify else []
    ranked: list[Ranked] = []
    read_at = read_at or [c.quad for c in candidates]
    for candidate, line, quad in zip(candidates, lines, read_at):
        # Judge the read as the model wrote it, before formats rewrite glyphs.
        vanity = verify and require_digit and letters_only(line.text)
        if not plate_like(line.text, cfg, require_digit and not vanity) or plate_rank(line.text, line.raw) == 0:
            continue
        # No format holds letters alone, and a vanity plate's O is an O.
        line = line if vanity else apply_formats(line)
        # Dropping an emblem may leave too few characters for a plate.
        if line.confidence < cfg.min_confidence or len(line.text) < cfg.min_chars:
            continue
        if vanity and line.confidence < LETTERS_ONLY_MIN_CONFIDENCE:
            continue
        if verify and line.text.isdigit() and line.confidence < ALL_DIGITS_MIN_CONFIDENCE:
            continue
        if verify and len(line.text) <= SHORT_MAX_CHARS and line.confidence < SHORT_MIN_CONFIDENCE:
            continue
        stacked = False
        if verify:
            evidence = plate_evidence(frame.image, candidate.quad,
                                      [c.quad for c in others if c.look == candidate.look], row=quad)
            if not evidence.plausible_for(line.text) or (vanity and not evidence.closed):
                continue
            stacked = evidence.stacked_rows > 0
        read = PlateRead(text=line.text, confidence=line.confidence, box=candidate.box,
                         frame_index=frame.index, captured_at=frame.captured_at,
                         crop=evidence_crop(frame.image, candidate.box))
        # A letters-only read ranks with all-digit ones, below a read of letters and digits.
        rank = 1 if vanity else plate_rank(read.text)
        ranked.append(Ranked((rank, not stacked, read.confidence), candidate.look, read))
    return ranked


def make_reader(cfg: ReaderConfig) -> PlateReader:
    if cfg.engine == "easyocr":
        return EasyOcrReader(cfg)
    return PpocrReader(cfg)
