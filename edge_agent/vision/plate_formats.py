"""Plate formats: which letter/digit patterns plates are issued in.

A read that fits no known format may be one letter/digit confusion away
from one (California's 1ABC234 read as LABC234, B for 5, Z for 7). The
recognizer's own next-best character at that position decides what the
character is; the format only says whether a letter or a digit belongs
there. A read that already fits a format, or that needs more than one change
to fit one (a vanity plate, say), is left as read.

A read one character too long may carry something that is not a character:
a Slovak or Czech coat of arms or a sticker between the character groups
(RK0565AV for RK565AV), or at an end, Slovakia's coat of arms before the
registration or Arizona's cactus (RRK776AI, 4ASC7399). If dropping one weak
character makes it fit a format, it is dropped. Most US states' formats are
not listed, so inside a row an emblem is also dropped without a format's
say when it is the only weak character and both its neighbours are sure:
Florida's orange, Oregon's tree, Missouri's bluebird, the Czech stickers
(7168AHF for 7164HF, W107K for W17K). A blurred real character is rarely
alone in being weak; on the dev set this dropped one real H (DH5X9P) for
five emblems.
"""

from __future__ import annotations

import re

from .ocr import TextLine

# D: digit, L: letter, C: consonant. Current issue formats with the most plates on the road.
# US states issue so many formats (vanity, specialty, older series) that a
# one-swap correction into a short US format turns more good reads bad than
# it fixes (measured on the US crops: 1 fixed, 13 broken); only California's
# 1ABC234, the largest fleet, is distinctive enough to correct into.
FORMATS: dict[str, tuple[str, ...]] = {
    "us": ("DLLLDDD",),
    "eu": (
        "DDDDCCC",  # Spain: consonants only
        "LLDDDLL",  # France, Italy, Slovakia
        "LLDDLLL",  # United Kingdom
        "DLLDDDD", "LLLDDDD", "LDDDDLL",
    ),
}
DEFAULT_REGIONS = ("us", "eu")
# Formats that only say how to write O/0 and I/1 in their digit places,
# never which letter or digit to swap in: California's older commercial
# series 12345A1 (trucks, taxis), which prints 1 and I alike, and the Czech
# 1B1 9839. As full formats, one-swap corrections into them would turn the
# commonest misread of an all-digit plate into a letter. Only a read whose
# letter places hold letters other than O and I is rewritten, so an
# all-digit read never is, and these are consulted first: a Czech read
# 1BI9839 would otherwise be taken for DLLDDDD.
GLYPH_FORMATS: dict[str, tuple[str, ...]] = {
    "us": ("DDDDDLD",),
    "eu": ("DLDDDDD",),
}
# A swap is taken only if the model gave the replacement at least this
# probability: below it, the model saw no trace of that character.
MIN_SWAP_PROB = 1e-3
# A character is dropped as an emblem only below this probability (emblems
# read as 0, 8, R or 4 score 0.2-0.66; real characters near 1).
MAX_DROP_PROB = 0.7
# Without a format to fit, an inner character is dropped as an emblem only
# below this, between two characters at least SURE_PROB.
LONE_DROP_PROB = 0.5
SURE_PROB = 0.9


# What each place of a format may hold. Spain issues consonants only, so a
# read with a vowel there is not a Spanish plate, or has one wrong letter.
CLASSES = {"D": "0123456789", "L": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "C": "BCDFGHJKLMNPRSTVWXYZ"}


def _pattern(fmt: str) -> re.Pattern[str]:
    return re.compile("^" + "".join(f"[{CLASSES[c]}]" for c in fmt) + "$")


_COMPILED = {region: [(fmt, _pattern(fmt)) for fmt in fmts] for region, fmts in FORMATS.items()}
_GLYPH_ONLY = {region: [(fmt, re.compile("^" + "".join("[0-9OI]" if c == "D" else "[A-HJ-NP-Z]" for c in fmt) + "$"))
                        for fmt in fmts] for region, fmts in GLYPH_FORMATS.items()}


def fits(text: str, regions: tuple[str, ...] = DEFAULT_REGIONS) -> bool:
    return any(p.match(text) for r in regions for _, p in _COMPILED[r])


def apply_formats(line: TextLine, regions: tuple[str, ...] = DEFAULT_REGIONS) -> TextLine:
    """The read, or the best one-drop or one-swap correction of it into a known format."""
    line = _drop_emblem(line, regions)
    text = canonical_glyphs(line.text, regions)
    if text != line.text:
        line = TextLine(text, line.confidence, line.char_probs, line.alternatives)
    if not text or fits(text, regions) or len(line.alternatives) != len(text):
        return line
    best: tuple[float, int, str] | None = None
    for region in regions:
        for fmt, _ in _COMPILED[region]:
            if len(fmt) != len(text):
                continue
            wrong = [i for i, (c, f) in enumerate(zip(text, fmt)) if c not in CLASSES[f]]
            if len(wrong) != 1:
                continue
            i = wrong[0]
            options = [(p, ch) for ch, p in line.alternatives[i] if ch in CLASSES[fmt[i]] and p >= MIN_SWAP_PROB]
            if options:
                p, ch = max(options)
                if best is None or p > best[0]:
                    best = (p, i, ch)
    if best is None:
        return line
    p, i, ch = best
    probs = list(line.char_probs)
    probs[i] = p
    fixed = canonical_glyphs(text[:i] + ch + text[i + 1:], regions)
    # The corrected character's own (low) probability lowers the read's
    # confidence, so a corrected read never outranks a clean one.
    return TextLine(fixed, sum(probs) / len(probs), tuple(probs), line.alternatives)


def _drop_emblem(line: TextLine, regions: tuple[str, ...]) -> TextLine:
    """The read without one character that is an emblem, not a character (see the module's text)."""
    text, probs = line.text, line.char_probs
    if len(probs) != len(text) or fits(canonical_glyphs(text, regions), regions):
        return line
    drops = [(p, i) for i, p in enumerate(probs)
             if p < MAX_DROP_PROB and fits(canonical_glyphs(text[:i] + text[i + 1:], regions), regions)]
    if drops:
        return _without(line, min(drops)[1])
    lone = [i for i in range(1, len(probs) - 1)
            if probs[i] < LONE_DROP_PROB and probs[i - 1] >= SURE_PROB and probs[i + 1] >= SURE_PROB]
    return _without(line, lone[0]) if len(lone) == 1 else line


def _without(line: TextLine, i: int) -> TextLine:
    probs = line.char_probs[:i] + line.char_probs[i + 1:]
    alternatives = line.alternatives[:i] + line.alternatives[i + 1:] if line.alternatives else ()
    return TextLine(line.text[:i] + line.text[i + 1:], sum(probs) / len(probs), probs, alternatives)


def canonical_glyphs(text: str, regions: tuple[str, ...] = DEFAULT_REGIONS) -> str:
    """Write O/0 and I/1 the way the plate's format says.

    Where a format places a letter, the round glyph is O and the bar is I;
    where it places a digit, 0 and 1; GLYPH_FORMATS are consulted first. A
    read that fits no format gets 0 for the round glyph: most US states
    print one glyph for both, and US records write it as 0.
    """
    for region in regions:
        for fmt, pattern in _GLYPH_ONLY[region]:
            if pattern.match(text):
                return "".join(_as_class(c, f) for c, f in zip(text, fmt))
    for region in regions:
        for fmt, _ in _COMPILED[region]:
            if len(fmt) == len(text) and _pattern_folded(fmt).match(text):
                return "".join(_as_class(c, f) for c, f in zip(text, fmt))
    return text.replace("O", "0")


def _as_class(char: str, cls: str) -> str:
    if cls == "D":
        return {"O": "0", "I": "1"}.get(char, char)
    return {"0": "O", "1": "I"}.get(char, char)


def _pattern_folded(fmt: str) -> re.Pattern[str]:
    # O/0 and I/1 may stand in either class (O and I are no consonants).
    folded = {"D": "0-9OI", "L": "A-Z01", "C": CLASSES["C"]}
    return re.compile("^" + "".join(f"[{folded[c]}]" for c in fmt) + "$")
