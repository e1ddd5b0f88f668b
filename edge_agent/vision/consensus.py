"""One read of a plate from two recognizers and the region's plate formats.

PP-OCR's line recognizer reads the plate's character row; the plate
recognizer (plate_recognizer.py) reads the plate around it. They fail
differently: the line recognizer, trained on text of every kind, reads
emblems and state names as characters, loses an end character the row's
box cut off, and confuses W/N or H/U on small plates; the plate recognizer
knows plates but confuses A/4, 8/B or 0/1 where the row reader is sure.

Each candidate text (both readers' own, their likeliest variants, and each
projected onto the formats of the plate's likely region) is scored by how
likely each reader makes it given everything it saw (the line
recognizer's CTC matrix, the plate recognizer's ten slots) and by how
likely the region's formats make it (regions.py), and the best is kept:
log P_row(text) + log P_plate(text) + log P_formats(text).

Stacked characters (stacked.py) are the one place the readers' lengths
are not weighed: where the plate shows a stacked pair beside its row of
full-height glyphs, only texts as long as that row are scored (the row
reader's own text among them, less a character of the pair it may have
taken in), since the plate recognizer reads the pair as characters and
registrations leave it out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import ctc
from .ocr import PLATE_CHARSET, TextLine
from .plate_recognizer import ALPHABET, PAD, REGIONS as RECOGNIZER_REGIONS, SlotRead
from .regions import CLASSES, REGIONS, fitting
from .stacked import Glyphs

_COLUMN = {ch: i + 1 for i, ch in enumerate(PLATE_CHARSET)}
_SLOT = {ch: i for i, ch in enumerate(ALPHABET)}
# Variants of each reader's own text: the plate recognizer's likeliest
# texts (a beam over its slots) and the row reader's second choices where
# it was unsure.
PLATE_BEAM = 8
ROW_UNSURE = 0.95
# A region weighs candidates only if the plate recognizer gives it at least this.
MIN_REGION_WEIGHT = 0.05
NEGLIGIBLE_REGION = 0.01


@dataclass(frozen=True)
class Consensus:
    line: TextLine  # the text kept, with each character's probability averaged over both readers
    reader: str  # whose read it is: "both", "row" (the line recognizer), "plate", or "formats" (neither alone)
    region: str  # the plate recognizer's region for the plate


def combine(line: TextLine, plate: SlotRead, glyphs: Callable[[], Glyphs | None] | None = None) -> Consensus:
    """The likeliest text given both readers and the region's formats.

    `glyphs` looks at the plate's glyphs (stacked.glyphs). Where it shows
    a stacked pair, the plate recognizer read the pair into its slots, so
    its slots no longer line up with the main row's characters: the row
    reader and the formats choose among texts as long as the main row.
    """
    weights = _region_weights(plate)
    likely = [REGIONS[n] for n, w in weights.items() if n and w >= MIN_REGION_WEIGHT]
    # Stacked pairs are a North American practice: on a plate the
    # recognizer places mostly in a region that has none (a European road's
    # rows) the glyphs are not looked at (~1 ms a row). On the plates where
    # they are, it often names no region with listed formats at all.
    elsewhere = sum(w for n, w in weights.items() if n and not REGIONS[n].stacked)
    look = glyphs is not None and elsewhere < 0.5
    main_row = _main_row_texts(line, glyphs() if look else None)
    if not main_row and line.text and line.text == plate.text and any(fitting(line.text, r) for r in likely):
        # Both read the same text and it fits a format of the plate's
        # region: nothing to weigh (on a road, most rows), and a stream
        # frame's time is better spent elsewhere.
        best, row_probs = line.text, list(line.char_probs)
    else:
        row_logp = ctc.log_steps(line.steps)
        texts = [t for t in dict.fromkeys(main_row + candidates(line, plate, weights)) if t]
        if main_row:
            texts = [t for t in texts if len(t) == len(main_row[0])]
        row_scores = ctc.log_likelihoods(row_logp, [[_COLUMN[ch] for ch in t] for t in texts])
        # Where the plate recognizer's slots hold a stacked pair, they say nothing of the main row.
        scored = {t: r + (0.0 if main_row else plate.log_likelihood(t)) + math.log(format_odds(t, weights))
                  for t, r in zip(texts, row_scores)}
        best = max(scored, key=lambda t: (scored[t], t == line.text, not main_row and t == plate.text))
        row_probs = ctc.char_probs(row_logp, [_COLUMN[ch] for ch in best])
    probs = tuple(row_probs) if main_row else tuple((a + b) / 2 for a, b in zip(row_probs, plate.char_probs_of(best)))
    reader = ("both" if best == line.text == plate.text else "row" if best == line.text
              else "plate" if best == plate.text else "formats")
    chosen = TextLine(best, float(np.mean(probs)) if probs else 0.0, probs, (), line.raw, line.steps, reader,
                      (("row", line.text, line.confidence), ("plate", plate.text, plate.confidence)),
                      round_glyph_is_zero(best, weights))
    return Consensus(chosen, reader, plate.region)


def _main_row_texts(line: TextLine, seen: Glyphs | None) -> list[str]:
    """The row reader's text without stacked characters, where the plate shows a stacked pair; else nothing.

    The row's read is the main row's where it is as long; one character
    longer, it took in one character of a pair at that end (3555N for
    Wyoming's 3555 A/N), provided the main row's glyphs were all found
    (Glyphs.even).
    """
    if seen is None or not seen.stacked:
        return []
    if len(line.text) == seen.main:
        return [line.text]
    if len(line.text) == seen.main + 1 and seen.even:
        return ([line.text[1:]] if seen.left else []) + ([line.text[:-1]] if seen.right else [])
    return []


def _region_weights(plate: SlotRead) -> dict[str, float]:
    """The plate recognizer's belief in each region with formats; the rest of its belief under ''."""
    probs = plate.region_probs / max(1e-9, float(plate.region_probs.sum()))
    weights: dict[str, float] = {}
    for name, p in zip(RECOGNIZER_REGIONS, probs):
        key = name if name in REGIONS else ""
        weights[key] = weights.get(key, 0.0) + float(p)
    return weights


def format_odds(text: str, weights: dict[str, float]) -> float:
    """How likely the regions' formats make the text: 1 where it fits, a region's `others` where not."""
    total = 0.0
    for name, w in weights.items():
        # A region the recognizer all but rules out weighs like one without formats.
        if not name or w < NEGLIGIBLE_REGION:
            total += w
        else:
            region = REGIONS[name]
            total += w * (1.0 if fitting(text, region) else region.others)
    return max(total, 1e-9)


def round_glyph_is_zero(text: str, weights: dict[str, float]) -> bool:
    """Whether the text's round glyphs are to be written as 0: it fits no format of a likely region, which writes them so.

    Both readers tell O from 0 and I from 1 where a plate's font does, and
    candidates projected onto the formats put letters and digits where
    formats want them; this is only for the rest. Most US states print one
    glyph for O and 0, and their records write it as 0
    (regions.Region.round_glyph_is_zero), vanity plates' too; regions that
    print them apart keep the readers' glyph. The text is rewritten once it
    is known to be a plate's (rank.py): a word of letters alone read off a
    van is judged as the letters it shows.
    """
    likely = [REGIONS[n] for n, w in weights.items() if n and w >= MIN_REGION_WEIGHT]
    if "O" not in text or any(fitting(text, region) for region in likely):
        return False
    zero = sum(w for n, w in weights.items() if n and REGIONS[n].round_glyph_is_zero)
    apart = sum(w for n, w in weights.items() if n and not REGIONS[n].round_glyph_is_zero)
    return zero > apart


def candidates(line: TextLine, plate: SlotRead, weights: dict[str, float]) -> list[str]:
    """Texts worth scoring: each reader's own, its likeliest variants, and their projections onto formats.

    Not every text: the score is no calibrated probability, and where the
    search is wider it finds texts the score overrates. A CTC prefix beam
    search over the row's steps with the plate's slots fused in (eight
    more candidates a plate) read 5 US dev crops fewer exactly (93.4
    against 94.7 %), each a character longer than the registration (12006R
    for 2006R, S5555 for 5555, C09144): a state initial or a bolt the plate
    recognizer reads in a slot gains more from it than the row's steps
    lose. It won nothing back.
    """
    own = [line.text, plate.text]
    out = own + _plate_beam(plate) + _row_variants(line)
    regions = [REGIONS[n] for n, w in weights.items() if n and w >= MIN_REGION_WEIGHT]
    for text in dict.fromkeys(own):
        for region in regions:
            for fmt in region.formats:
                if len(fmt) == len(text):
                    out.append(_project(text, fmt, line, plate))
    return out


def _plate_beam(plate: SlotRead) -> list[str]:
    """The plate recognizer's likeliest texts: a beam over its slots, pads only after the last character."""
    logp = np.log(np.maximum(plate.slot_probs, 1e-9))
    beam: list[tuple[float, str, bool]] = [(0.0, "", False)]
    pad = _SLOT[PAD]
    for slot in logp:
        top = np.argsort(slot)[::-1][:3]
        grown = []
        for score, text, ended in beam:
            if ended:
                grown.append((score + slot[pad], text, True))
                continue
            for k in top:
                grown.append((score + slot[k], text if k == pad else text + ALPHABET[k], k == pad))
        beam = sorted(grown, reverse=True)[:PLATE_BEAM]
    return [text for _, text, _ in beam]


def _row_variants(line: TextLine) -> list[str]:
    """The row reader's text with one unsure character replaced by its next choice, or dropped."""
    out = []
    for i, (ch, p) in enumerate(zip(line.text, line.char_probs)):
        if p >= ROW_UNSURE:
            continue
        out.append(line.text[:i] + line.text[i + 1:])
        if i < len(line.alternatives):
            for alt, _ in line.alternatives[i][:2]:
                if alt != ch:
                    out.append(line.text[:i] + alt + line.text[i + 1:])
    return out


def _project(text: str, fmt: str, line: TextLine, plate: SlotRead) -> str:
    """The text with each place that breaks the format given the likeliest character of the format's class there.

    Likeliest by both readers where each has a character at that place
    (the row reader only where its read is as long as the text).
    """
    out = []
    aligned = len(line.text) == len(text) and len(line.alternatives) == len(text)
    for i, (ch, cls) in enumerate(zip(text, fmt)):
        allowed = CLASSES[cls]
        if ch in allowed:
            out.append(ch)
            continue
        score = {c: math.log(max(float(plate.slot_probs[i, _SLOT[c]]), 1e-9)) for c in allowed}
        if aligned:
            row = dict(line.alternatives[i])
            for c in allowed:
                score[c] += math.log(max(row.get(c, 0.0), 1e-4))
        out.append(max(score, key=score.get))
    return "".join(out)
