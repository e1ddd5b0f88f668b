"""Which of a frame's reads are plates, and in what order.

A row the recognizer reads is a plate's only if its read could be a
registration (plate_like, plate_rank: no date, clock, caption or words)
and the image around it shows a plate (verify.py). The reads that stay are
ranked: letters and digits above digits or letters alone, a row standing
alone above one stacked with rows of its height, then confidence. A
still's looks (detect.STILL_LOOKS) are merged by vote_looks.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from ..config import ReaderConfig
from .ocr import TextLine
from .plate_formats import apply_formats
from ..plates import letters_only
from ..records import Box, Frame, PlateCandidate, PlateRead
from .verify import plate_evidence


# A letters-only row of a whole frame is read as a vanity plate (G WAGEN,
# FZ RULZ) only when the model is this sure of it and the image shows a
# closed panel around it (PlateEvidence.closed). Badges and
# lettering still get through (FELICIA on a boot lid closed by its edges),
# which is why such reads stay inside the unit unless they hit (service/agent.py).
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

# A read's place in the frame's order: plate_rank (a letters-only read
# counts 1), standing alone rather than stacked, then confidence.
RankKey = tuple[int, bool, float]


class Ranked(NamedTuple):
    key: RankKey
    look: int  # the candidate's look (detect.STILL_LOOKS)
    read: PlateRead


def keep_plates(frame: Frame, candidates: list[PlateCandidate], lines: list[TextLine],
                 cfg: ReaderConfig, require_digit: bool = True, verify: bool = False,
                 read_at: list[np.ndarray] | None = None,
                 context: list[PlateCandidate] | None = None) -> list[PlateRead]:
    """The plate-like reads, best first (see ranked_plates)."""
    ranked = ranked_plates(frame, candidates, lines, cfg, require_digit, verify, read_at, context)
    ranked.sort(key=lambda r: r.key, reverse=True)
    return [r.read for r in ranked]


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


def ranked_plates(frame: Frame, candidates: list[PlateCandidate], lines: list[TextLine],
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
        # Two readers' consensus has weighed the formats already.
        line = line if vanity or line.reader else apply_formats(line)
        # A word of letters alone is ranked as the letters it shows (a
        # crop's vanity plate is written as its region's records write it
        # once it is chosen, read.RowReader.read_crop).
        if line.zero_for_o and not letters_only(line.text):
            line = replace(line, text=line.text.replace("O", "0"))
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
                         crop=evidence_crop(frame.image, candidate.box), reader=line.reader,
                         readers=line.readers, zero_for_o=line.zero_for_o)
        # A letters-only read ranks with all-digit ones, below a read of letters and digits.
        rank = 1 if vanity else plate_rank(read.text)
        ranked.append(Ranked((rank, not stacked, read.confidence), candidate.look, read))
    return ranked
