"""Stacked characters: two small characters set one above the other beside a plate's serial.

Many US plates carry them: a specialty or county mark (Massachusetts' and
West Virginia's U/S on "United We Stand", Minnesota's H/C, Oregon's C/U,
New Jersey's R/M, Washington's S/N, D.C.'s D/C) or a series suffix
(Wyoming's county 22 before the bucking horse and B/H after the serial).
Registries' records and the public benchmarks leave them out of the
registration. The two readers disagree on them: PP-OCR's line recognizer,
trained on lines of text, reads the full-height row and passes over the
half-height pair; the plate recognizer reads the pair as characters
(US5555 for 5555, 4779A for 4779). Where the row's read is as long as the
plate's row of full-height glyphs and a stacked pair stands at its end, the
consensus keeps the row's length (consensus.combine).

This finds them by the glyphs' shapes, with no model: the plate is
thresholded (dark characters on a light plate; a light-on-dark plate is
not looked at, and nothing changes for it), the longest row of glyphs of
one height is the main row, and a stacked column is two components each
0.3-0.6 of that height, one above the other, together filling the row's
height, just before or after it. On the US dev crops it finds 10 of 376,
each a real stacked pair (README.md, "Stacked characters"); on rendered
plates of every other US class, none.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

HEIGHT = 96  # the plate is looked at this tall
# A glyph of the main row: its height within this share of the row's, its
# middle within this share of the row's height of the others'.
SAME_HEIGHT = 0.15
# A stacked character: this share of the main row's height.
STACKED_HEIGHT = (0.3, 0.6)
# How far a stacked column may stand from the main row, in row heights.
MAX_GAP = 2.0
# Glyphs are unevenly spaced where two middles are this many times their
# median spacing apart: wider than a serial's printed gap or dash.
UNEVEN = 1.7

Component = tuple[int, int, int, int, int]  # x, y, width, height, area


@dataclass(frozen=True)
class Glyphs:
    main: int  # full-height glyphs in the plate's main row
    left: int  # stacked columns before it
    right: int  # and after it
    # Whether the main row's glyphs are evenly spaced: where one is missed
    # (merged with a sticker or a slogan below it) a gap shows, and `main`
    # is short of the row's length.
    even: bool = True

    @property
    def stacked(self) -> bool:
        return bool(self.left or self.right)


def glyphs(plate: np.ndarray) -> Glyphs | None:
    """The plate's main row and stacked columns; None where no row of dark glyphs is found."""
    gray = cv2.cvtColor(plate, cv2.COLOR_BGR2GRAY) if plate.ndim == 3 else plate
    h, w = gray.shape[:2]
    if h < 8 or w < 8:
        return None
    gray = cv2.resize(gray, (max(8, round(w * HEIGHT / h)), HEIGHT), interpolation=cv2.INTER_AREA)
    width = gray.shape[1]
    _, whole = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    # A local threshold too: plates fade across their width (a sky gradient,
    # shade); the one that finds the longer row wins.
    local = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, HEIGHT // 2 | 1, 8)
    best: tuple[list[Component], list[Component]] | None = None
    for binary in (whole, local):
        n, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        # One touching the edge is the plate's frame, its surround or a cut glyph.
        comps = [tuple(int(v) for v in stats[i]) for i in range(1, n)
                 if stats[i, 0] > 0 and stats[i, 1] > 0 and stats[i, 0] + stats[i, 2] < width
                 and stats[i, 1] + stats[i, 3] < HEIGHT]
        main = _main_row(comps, width)  # type: ignore[arg-type]
        if len(main) >= 3 and (best is None or len(main) > len(best[0])):
            best = (main, comps)  # type: ignore[assignment]
    if best is None:
        return None
    main, comps = best
    left, right = _stacked_columns(main, [c for c in comps if c not in main])
    middles = sorted(c[0] + c[2] / 2 for c in main)
    spacing = np.diff(middles)
    return Glyphs(len(main), left, right, bool(spacing.max() <= UNEVEN * np.median(spacing)))


def _main_row(comps: list[Component], width: int) -> list[Component]:
    """The most glyph-shaped components of one height on one line (the tallest such line on a tie)."""
    shaped = [c for c in comps if 0.25 * HEIGHT <= c[3] <= 0.95 * HEIGHT and c[2] <= 0.3 * width
              and 0.1 * c[3] <= c[2] <= 1.2 * c[3] and c[4] >= 0.08 * c[2] * c[3]]
    best: list[Component] = []
    best_height = 0
    for ref in shaped:
        middle = ref[1] + ref[3] / 2
        row = [c for c in shaped if abs(c[3] - ref[3]) <= SAME_HEIGHT * ref[3]
               and abs(c[1] + c[3] / 2 - middle) <= SAME_HEIGHT * ref[3]]
        if (len(row), ref[3]) > (len(best), best_height):
            best, best_height = row, ref[3]
    return best


def _stacked_columns(main: list[Component], others: list[Component]) -> tuple[int, int]:
    """Stacked columns before and after the main row."""
    height = float(np.median([c[3] for c in main]))
    top, bottom = min(c[1] for c in main), max(c[1] + c[3] for c in main)
    x0, x1 = min(c[0] for c in main), max(c[0] + c[2] for c in main)
    lo_h, hi_h = STACKED_HEIGHT
    small = [c for c in others if lo_h * height <= c[3] <= hi_h * height and 0.25 * c[3] <= c[2] <= 0.9 * height]
    columns: list[float] = []
    for a in small:
        for b in small:
            if b[1] <= a[1] + 0.8 * a[3] or abs(a[3] - b[3]) > 0.25 * max(a[3], b[3]):
                continue  # b below a, the two of one size
            if abs(a[1] - top) > 0.2 * height or abs(b[1] + b[3] - bottom) > 0.2 * height:
                continue  # together as tall as the row
            if min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]) < 0.5 * min(a[2], b[2]):
                continue  # one above the other
            lo, hi = min(a[0], b[0]), max(a[0] + a[2], b[0] + b[2])
            if hi < x0 - MAX_GAP * height or lo > x1 + MAX_GAP * height:
                continue
            columns.append((lo + hi) / 2)
    merged: list[float] = []
    for x in sorted(columns):
        if not merged or x - merged[-1] > 0.3 * height:
            merged.append(x)
    return sum(x < x0 for x in merged), sum(x > x1 for x in merged)
