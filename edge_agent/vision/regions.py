"""Plate formats by region: which letters and digits each place of a registration holds.

General knowledge, not fitted to any photo: the serial formats that
registries issue now or issued in the last decades, for the regions whose
plates a unit is likeliest to see. A format is a string of classes, one
per character: D a digit, L a letter, C a consonant (Spain issues no
vowels). Variable formats (Germany's district, letters, digits) are written
as their fixed-length expansions.

A format does two jobs (consensus.py):
- it weighs candidate texts: a text that fits a format of the plate's region
  is likelier than one that fits none, by a region's `others` odds (vanity
  and old series in the US are common, in Brazil every plate has one of
  two formats);
- it fixes look-alike glyphs by position: where a format puts a digit the
  round glyph is 0 and the bar is 1, where it puts a letter they are O and
  I; candidates are also made by taking, at each place, the likeliest
  character of its class (B/8, S/5, Z/2, G/6 and A/4 that way).

The plate recognizer names the plate's region (plate_recognizer.REGIONS);
its region names key REGIONS below. Regions without listed formats put no
weight on any text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

CLASSES = {"D": "0123456789", "L": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "C": "BCDFGHJKLMNPRSTVWXYZ"}


def _expand(pattern: str, max_len: int = 9) -> tuple[str, ...]:
    """Fixed-length class strings of a pattern like 'L{1,3}D{1,4}' (each part a class and a count range)."""
    parts = re.findall(r"([DLC])(?:\{(\d+),(\d+)\})?", pattern)
    out = [""]
    for cls, lo, hi in parts:
        counts = range(int(lo), int(hi) + 1) if lo else range(1, 2)
        out = [p + cls * n for p in out for n in counts]
    return tuple(sorted({p for p in out if len(p) <= max_len}))


@dataclass(frozen=True)
class Region:
    formats: tuple[str, ...]
    # How likely a plate of the region is to fit none of its formats,
    # relative to one that fits: vanity, specialty and old series.
    others: float
    # Whether the region's registries write the round glyph of a plate that
    # fits no format as the digit 0 (US records do, and most US states
    # print one glyph for both).
    round_glyph_is_zero: bool = False
    # Whether the region's plates may carry stacked characters beside the
    # serial (stacked.py); elsewhere the consensus does not look for them.
    stacked: bool = False


# The US: the common passenger serials of the most populous states (CA
# 1ABC234; TX, NY, PA, OH, GA, NC, VA, WA, AZ, MI, WI ABC1234; IL AB12345;
# FL ABCD12; NJ A12BCD and ABC12D; MD 1AB2345; MO AB1C2D; MA and others
# 123ABC; NV 123A45), commercial and older series (ABC123, 1234AB,
# 1A23456, CA's truck 12345A1). About 1 US plate in 12 is a vanity plate,
# and specialty series are many: a text fitting none stays likely.
US = Region(("DLLLDDD", "LLLDDDD", "LLDDDDD", "DLLDDDD", "DLDDDDD", "DDDDDLD", "LLLLDD", "LDDLLL",
             "LLLDDL", "LLDLDL", "LLLDDD", "DDDLLL", "DDDDLL", "DLLDDD", "DDDLDD", "LDDDLL"),
            others=0.3, round_glyph_is_zero=True, stacked=True)

REGIONS: dict[str, Region] = {
    "United States": US,
    # Ontario ABCD123, Quebec ABC123 and 123ABC, and the US formats of the
    # provinces that follow them.
    "Canada": Region(("LLLLDDD",) + US.formats, others=0.3, round_glyph_is_zero=True, stacked=True),
    # Old grey plates ABC1234, Mercosul ABC1D23; no vanity plates.
    "Brazil": Region(("LLLDDDD", "LLLDLDD"), others=0.02),
    "Spain": Region(("DDDDCCC", "LDDDDLL", "LLDDDDLL", "LDDDDL", "LLDDDDL"), others=0.05),
    "France": Region(("LLDDDLL", "DDDLLLDD", "DDDDLLDD", "DDDLLDD", "DDLLLDD"), others=0.05),
    "Italy": Region(("LLDDDLL",), others=0.05),
    "Germany": Region(_expand("L{2,5}D{1,4}", 8) + _expand("L{2,4}D{1,3}L{1,1}", 8), others=0.1),
    "United Kingdom": Region(("LLDDLLL", "LDDDLLL", "LLLDDDL", "LLLDDD"), others=0.1),
    "Netherlands": Region(("LLDDDD", "DDDDLL", "DDLLDD", "LLDDLL", "LLLLDD", "DDLLLL", "DDLLLD", "DLLLDD",
                           "LLDDDL", "LDDDLL", "LLLDDL", "LDDLLL", "DLLDDD", "DDDLLD"), others=0.05),
    "Belgium": Region(("DLLLDDD", "LLLDDD"), others=0.1),
    "Poland": Region(("LLDDDDD", "LLDDDDL", "LLDDDLL", "LLDLDDD", "LLDLLDD", "LLLDDDD", "LLLDDDL", "LLLDDLL",
                      "LLLLDDD", "LLLDLDD", "LLLDLLD"), others=0.05),
    "Czech Republic": Region(("DLDDDDD", "DLLDDDD"), others=0.05),
    "Slovakia": Region(("LLDDDLL", "LLLDDDD"), others=0.05),
    "Portugal": Region(("LLDDLL", "DDLLDD", "DDDDLL", "LLDDDD"), others=0.05),
    "Sweden": Region(("LLLDDD", "LLLDDL"), others=0.1),
    "Norway": Region(("LLDDDDD",), others=0.1),
    "Denmark": Region(("LLDDDDD",), others=0.1),
    "Finland": Region(_expand("L{2,3}D{1,3}"), others=0.05),
    "Hungary": Region(("LLLDDD", "LLLLDDD"), others=0.05),
    "Romania": Region(("LLDDLLL", "LDDLLL", "LDDDLLL"), others=0.05),
    "Greece": Region(("LLLDDDD",), others=0.05),
    "Croatia": Region(_expand("L{2,2}D{3,4}L{1,2}"), others=0.05),
    "Bulgaria": Region(("LLDDDDLL", "LDDDDLL"), others=0.05),
    "Lithuania": Region(("LLLDDD",), others=0.05),
    "Latvia": Region(("LLDDDD", "LLDDD"), others=0.05),
    "Estonia": Region(("DDDLLL",), others=0.05),
    "Switzerland": Region(_expand("L{2,2}D{1,6}"), others=0.05),
    "Austria": Region(_expand("L{1,2}D{1,5}L{1,2}") + _expand("L{1,2}L{1,2}D{1,3}L{1,1}", 8), others=0.2),
    "Ireland": Region(_expand("D{2,3}L{1,2}D{1,6}"), others=0.05),
    "Ukraine": Region(("LLDDDDLL",), others=0.05),
    "Serbia": Region(("LLDDDLL", "LLDDDDLL"), others=0.05),
    "Slovenia": Region(_expand("L{2,2}L{1,2}D{3,3}") + _expand("L{2,2}D{3,3}L{1,2}"), others=0.1),
}


@lru_cache(maxsize=None)
def pattern(fmt: str) -> re.Pattern[str]:
    return re.compile("".join(f"[{CLASSES[c]}]" for c in fmt))


def fitting(text: str, region: Region) -> list[str]:
    """The region's formats the text fits, character for character."""
    return [f for f in _by_length(region.formats).get(len(text), ()) if pattern(f).fullmatch(text)]


@lru_cache(maxsize=None)
def _by_length(formats: tuple[str, ...]) -> dict[int, tuple[str, ...]]:
    out: dict[int, list[str]] = {}
    for f in formats:
        out.setdefault(len(f), []).append(f)
    return {n: tuple(fs) for n, fs in out.items()}


def fits(text: str, regions: tuple[str, ...] | None = None) -> bool:
    """Whether the text fits a format of any of the named regions (all listed regions if None)."""
    names = REGIONS if regions is None else regions
    return any(fitting(text, REGIONS[name]) for name in names if name in REGIONS)


def write_glyphs(text: str, fmt: str) -> str:
    """The text with O/0 and I/1 written as the format's class at each place says."""
    out = []
    for ch, cls in zip(text, fmt):
        if cls == "D":
            ch = {"O": "0", "I": "1"}.get(ch, ch)
        else:
            ch = {"0": "O", "1": "I"}.get(ch, ch)
        out.append(ch)
    return "".join(out)


def fits_folded(text: str, fmt: str) -> bool:
    """Whether the text fits the format once O/0 and I/1 may stand for each other."""
    return len(text) == len(fmt) and pattern(fmt).fullmatch(write_glyphs(text, fmt)) is not None
