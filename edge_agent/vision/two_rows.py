"""Plates of two rows, read as one: motorcycles' and square plates (Brazil's ABC over 1234, the UK's AB12 over CDE).

The text detector finds each row of such a plate alone, and neither row
is a registration: the old reader read a Brazilian motorcycle's CXM over
2488 as 2488, and Mercosul's AGN over 0R95 as the BRASIL band above them
(8 of 8 rendered plates wrong). The plate recognizer was trained on whole
plates, two-row ones among them, and read all 8 right from the plate
around both rows. So two rows of one height stacked one over the other,
overlapping sideways, are also read as one candidate: the line
recognizer's rows joined top then bottom (their CTC steps with a blank
between, so consensus.combine weighs the joined text as one row), and the
plate recognizer's read of the plate around both. Where the two readers'
consensus fits a plate format (regions.fits), the joined read stands for
the plate and its two rows' own reads are dropped; otherwise the joined
read is dropped, and the rows are judged alone as before: a sign's
stacked lines or a dealer's line over a plate do not join into a format.
"""

from __future__ import annotations

import numpy as np

from .detect import quad_size
from .ocr import TextLine
from ..records import Box, PlateCandidate
from .regions import fits
from .verify import STACK_HEIGHT_RATIO, STACK_MAX_GAP_ROWS, STACK_MIN_OVERLAP

# Row texts of a two-row plate: Brazil's 3 letters over 4, the UK's 4 over 3,
# a motorcycle's 2-3 over 3-5. A row of more is a one-row plate or a line of text.
MAX_ROW_CHARS = 5
NO_READ = TextLine("", 0.0, ())


def pairs(quads: list[np.ndarray], looks: list[int]) -> list[tuple[int, int]]:
    """(top, bottom) indices of rows of one look stacked as a two-row plate's are."""
    lo, hi = STACK_HEIGHT_RATIO
    out = []
    for i, top in enumerate(quads):
        _, h = quad_size(top)
        tx0, tx1, ty1 = float(top[:, 0].min()), float(top[:, 0].max()), float(top[:, 1].max())
        for j, bottom in enumerate(quads):
            if j == i or looks[j] != looks[i] or not lo <= quad_size(bottom)[1] / h <= hi:
                continue
            bx0, bx1, by0 = float(bottom[:, 0].min()), float(bottom[:, 0].max()), float(bottom[:, 1].min())
            if min(tx1, bx1) - max(tx0, bx0) < STACK_MIN_OVERLAP * min(tx1 - tx0, bx1 - bx0):
                continue
            if -0.3 * h < by0 - ty1 < STACK_MAX_GAP_ROWS * h:
                out.append((i, j))
    return out


def joined_quad(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """The quad around both rows: the top row's top edge to the bottom row's bottom edge, as wide as the wider."""
    x0 = min(float(top[:, 0].min()), float(bottom[:, 0].min()))
    x1 = max(float(top[:, 0].max()), float(bottom[:, 0].max()))
    y0, y1 = float(top[:, 1].min()), float(bottom[:, 1].max())
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def joined_line(top: TextLine, bottom: TextLine) -> TextLine:
    """The two rows' reads as one row's: top then bottom, a blank step between their steps."""
    steps = None
    if top.steps is not None and bottom.steps is not None:
        blank = np.zeros((1, top.steps.shape[1]), top.steps.dtype)
        blank[0, 0] = 1.0
        steps = np.vstack([top.steps, blank, bottom.steps])
    probs = top.char_probs + bottom.char_probs
    return TextLine(top.text + bottom.text, float(np.mean(probs)) if probs else 0.0, probs,
                    top.alternatives + bottom.alternatives, f"{top.raw} {bottom.raw}", steps)


def add_joined(candidates: list[PlateCandidate], lines: list[TextLine], read_at: list[np.ndarray]
               ) -> list[tuple[int, int]]:
    """Append a joined candidate, read and quad for each stacked pair of short rows; the pairs, in order."""
    found = [(i, j) for i, j in pairs(read_at, [c.look for c in candidates])
             if 1 <= len(lines[i].text) <= MAX_ROW_CHARS and 1 <= len(lines[j].text) <= MAX_ROW_CHARS]
    for i, j in found:
        quad = joined_quad(read_at[i], read_at[j])
        box = _union(candidates[i].box, candidates[j].box)
        candidates.append(PlateCandidate(box, min(candidates[i].score, candidates[j].score), quad,
                                         candidates[i].look))
        lines.append(joined_line(lines[i], lines[j]))
        read_at.append(quad)
    return found


def settle_joined(lines: list[TextLine], found: list[tuple[int, int]], first: int) -> list[TextLine]:
    """After both readers: a joined read that fits a format replaces its rows' reads; one that does not is dropped.

    `first`: the index of the first joined read in `lines` (add_joined appended them in `found`'s order).
    """
    out = list(lines)
    for k, (i, j) in enumerate(found):
        joined = out[first + k]
        if joined.text and fits(joined.text):
            out[i] = out[j] = NO_READ
        else:
            out[first + k] = NO_READ
    return out


def _union(a: Box, b: Box) -> Box:
    x0, y0 = min(a.x, b.x), min(a.y, b.y)
    return Box(x0, y0, max(a.x + a.w, b.x + b.w) - x0, max(a.y + a.h, b.y + b.h) - y0)
