"""Plate verification: is a read text row the character row of a plate?

The text detector finds every plate-shaped row of text in a frame, and the
recognizer reads signs, vehicle lettering and burnt-in clocks as readily as
plates. This module looks at the image around a candidate row, at a cost of
about a millisecond, for evidence that the row sits on a plate:

* A plate is a small bounded panel. Its background (the colour around the
  characters) stops at the plate's edge, a row height or so above and below
  and a little past the row's ends. The background of a sign, a van's side
  or a tailgate runs on well past that. `plate_evidence` grows the row's
  background outwards (pixels of that colour, not crossing an edge) and
  reports on which sides it runs past a plate's extent ("open" sides).
  A white plate on a white car, or a black one on a black bumper, can be
  open on one side, or on both ends; on three only where nothing but its
  own smaller text closes it (a black Czech plate on a black bumper, its
  CZECH REPUBLIC line below the registration), so a row open on three
  sides counts only if its read fits a national format (plate_formats)
  and no row of its height stacks on it.
* Signs, lists and lettering stack rows of the same height one above the
  other; a plate's other text (state name, slogan, dealer frame) is much
  smaller. Stacked same-height rows count only together with open sides,
  because two-row plates stack too, but are enclosed.
* A row touching the image border is cut by it: either a plate partly out
  of view, read short, or text burnt into the frame edge (clock,
  copyright line). Neither is a whole plate.
* A plate's registration is set in one size. A sign often sets two words
  of different sizes in one line (EXIT 79B): a run of characters of one
  height next to a run of another (`two_heights`). Single odd components
  (a bolt, a frame's edge, an EU band, a seal) do not make a run. Chrome
  badges (TOYOTA RAV4) do not split into characters by brightness, so
  this says nothing about them.
* An all-digit read is more often a fleet number painted on a truck or a
  bus than a plate, so it must sit on a closed panel: no open side at all
  (1 of 93 plates read right on the US dev photos had one).

`PlateEvidence.plausible_for` combines these into the check the reader
applies to each read (`looks_like_plate` in one call); it says no only on
positive evidence against a plate, so a plate that merely lacks evidence
(low contrast, blur) is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import cv2
import numpy as np

from .detect import quad_size
from .plate_formats import fits

# The row is rectified to this height in pixels (highway rows are 18-22 px).
ROW_HEIGHT = 20
# How far past the row a plate can extend: up to this fraction of the row's
# width from its centre, or this many row heights, whichever is more
# (a short US row sits on a plate about 3.6 row heights wide), and this
# many row heights above and below (US state name and bottom margin).
PLATE_HALF_WIDTH = 0.65
PLATE_MIN_HALF_WIDTH_ROWS = 2.0
PLATE_MARGIN_ROWS = 1.0
# A pixel is background if its colour is within this fraction of the
# character/background colour difference from the background colour...
COLOUR_TOLERANCE = 0.4
# ...and, outside the characters' own band, not on an edge stronger than
# this fraction of the character contrast (a plate's faint border).
EDGE_BARRIER = 0.08
# A side is open when this fraction of the band past the plate's extent
# on that side is reached by the row's background.
OPEN_FRACTION = 0.3
# Rows stacked with this one: height ratio within these bounds, vertical gap
# under this many row heights, overlapping by this fraction of the narrower.
STACK_HEIGHT_RATIO = (0.7, 1.45)
STACK_MAX_GAP_ROWS = 1.2
STACK_MIN_OVERLAP = 0.3
SIDES = ("top", "bottom", "left", "right")
# Character runs (two_heights): the row rectified to this height, grown by
# this fraction of it above and below so that no character is cut; a run is
# at least RUN_MIN_CHARS components in a row whose heights differ by at
# most RUN_HEIGHT_SPREAD, and two runs are two sizes when one is at least
# TWO_SIZES_RATIO taller. Of the rows kept on the dev photos (271 with
# their plates, 86 with them painted out) and the highway clip's 194 reads,
# only EXIT 79B split into two such runs more than 1.25 apart (1.41).
RUN_ROW_HEIGHT = 48
RUN_ROW_GROW = 0.15
RUN_MIN_CHARS = 3
RUN_HEIGHT_SPREAD = 1.2
TWO_SIZES_RATIO = 1.3


@dataclass(frozen=True)
class PlateEvidence:
    """What the image around one text row says about it being a plate."""

    open_sides: tuple[str, ...]  # sides where the row's background runs past a plate's extent
    stacked_rows: int  # other rows of about the same height directly above or below
    at_border: bool  # the row touches the image border
    two_sizes: bool = False  # a run of characters of one height beside a run of another (two_heights)

    @property
    def plausible(self) -> bool:
        return self._plausible(max_open_sides=2)

    def _plausible(self, max_open_sides: int) -> bool:
        if self.at_border or self.two_sizes or len(self.open_sides) > max_open_sides:
            return False
        return not (len(self.open_sides) >= 2 and self.stacked_rows > 0)

    @property
    def closed(self) -> bool:
        """A panel closed all round, inside the image, as a plate's row is.

        Rows stacked on it do not count against it: a bumper sticker or a
        frame's slogan over a plate stacks on it as a sign's lines do.
        """
        return not (self.at_border or self.open_sides)

    def plausible_for(self, text: str) -> bool:
        """Whether a row read as `text` may be a plate: `plausible`, and closed if all digits.

        A row open on three sides may still be a dark plate on a dark car
        if it reads as a format plates are issued in: on the dev photos'
        plates painted out, such rows gave no read (bench false-reads, as
        stills and as passes of 24 frames), and eu8's WSQ 3021 was one.

        A row with rows of its height stacked on it and its background
        running on past it is a line of a notice (a roadside sign's OPEN 7
        TO 8 under CALL 710 4856, rendered: models/train/render_us.py)
        unless it reads as a plate format. Plates with a slogan or sticker
        line over them stay: their registrations fit. On the dev photos and
        crops it changed no read and no false read.
        """
        return (self._plausible(max_open_sides=3 if fits(text) else 2)
                and not (text.isdigit() and self.open_sides)
                and not (self.stacked_rows and self.open_sides and not fits(text)))


def looks_like_plate(image: np.ndarray, quad: np.ndarray, others: Iterable[np.ndarray] = (), text: str = "") -> bool:
    """False when the image gives evidence that the row is not a plate's character row.

    image: the BGR frame; quad: the row's 4x2 corners (clockwise from
    top-left, as PlateCandidate.quad); others: the quads of the frame's
    other candidate rows (for stacked rows), may include `quad` itself;
    text: what the row was read as.
    """
    return plate_evidence(image, quad, others).plausible_for(text)


def plate_evidence(image: np.ndarray, quad: np.ndarray, others: Iterable[np.ndarray] = (),
                   row: np.ndarray | None = None) -> PlateEvidence:
    """The evidence about the candidate row `quad`.

    `row`, if given, is the part of the candidate the characters were read
    from (a still's row is read trimmed, read.STILL_TRIMS); the panel
    around the characters is judged from it. Stacking and the image border
    are judged from the candidate as detected.
    """
    quad = np.asarray(quad, np.float32)
    h, w = image.shape[:2]
    at_border = bool(quad[:, 0].min() <= 1 or quad[:, 1].min() <= 1
                     or quad[:, 0].max() >= w - 2 or quad[:, 1].max() >= h - 2)
    row = quad if row is None else np.asarray(row, np.float32)
    return PlateEvidence(open_sides=open_sides(image, row), stacked_rows=stacked_rows(quad, others),
                         at_border=at_border, two_sizes=two_heights(character_heights(image, quad)))


def open_sides(image: np.ndarray, quad: np.ndarray) -> tuple[str, ...]:
    """The sides on which the row's background runs on past a plate's extent."""
    width, height = quad_size(quad)
    H = ROW_HEIGHT
    W = max(2, int(round(H * width / height)))
    half = max(PLATE_HALF_WIDTH * W, PLATE_MIN_HALF_WIDTH_ROWS * H)
    # The window: the plate's largest extent plus a band of 0.5 H + 0.25 W
    # (left/right) and 0.6 H (top/bottom) to see whether the background
    # carries on into it.
    mx = int(round(half - W / 2 + 0.5 * H + 0.25 * W))
    my = int(round((PLATE_MARGIN_ROWS + 0.6) * H))
    size = (W + 2 * mx, H + 2 * my)
    dst = np.float32([[mx, my], [mx + W, my], [mx + W, my + H], [mx, my + H]])
    matrix = cv2.getPerspectiveTransform(quad, dst)
    win = cv2.warpPerspective(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    inside = cv2.warpPerspective(np.full(image.shape[:2], 255, np.uint8), matrix, size,
                                 flags=cv2.INTER_NEAREST) > 0
    win = cv2.GaussianBlur(win, (3, 3), 0).astype(np.float32)
    gray = cv2.cvtColor(win, cv2.COLOR_BGR2GRAY)

    row_gray = gray[my:my + H, mx:mx + W]
    background = row_background(row_gray.astype(np.uint8))
    if background.all() or not background.any():
        return ()
    row = win[my:my + H, mx:mx + W]
    bg_colour = np.median(row[background], axis=0)
    fg_colour = np.median(row[~background], axis=0)
    colour_sep = float(np.linalg.norm(bg_colour - fg_colour))
    grey_sep = abs(float(np.median(row_gray[background])) - float(np.median(row_gray[~background])))

    diff = win - bg_colour
    similar = (diff * diff).sum(axis=2) < (COLOUR_TOLERANCE * colour_sep) ** 2
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    edge = cv2.magnitude(gx, gy) / 4.0 >= max(4.0, EDGE_BARRIER * grey_sep)
    # The characters' own edges are no barrier: the background must stay
    # connected between them.
    edge[my + int(0.15 * H):my + H - int(0.15 * H), mx + int(0.03 * W):mx + W - int(0.03 * W)] = False
    similar &= inside & ~edge

    count, labels = cv2.connectedComponents(similar.astype(np.uint8), connectivity=4)
    seeds = labels[my:my + H, mx:mx + W][background & similar[my:my + H, mx:mx + W]]
    hits = np.bincount(seeds, minlength=count)
    hits[0] = 0
    reached = (hits >= 0.05 * background.sum())[labels]

    cx = mx + W / 2
    top, bottom = max(0, int(my - PLATE_MARGIN_ROWS * H)), int(my + H + PLATE_MARGIN_ROWS * H)
    left, right = max(0, int(cx - half)), int(cx + half)
    bands = {
        "top": (slice(0, top), slice(mx, mx + W)),
        "bottom": (slice(bottom, None), slice(mx, mx + W)),
        "left": (slice(my, my + H), slice(0, left)),
        "right": (slice(my, my + H), slice(right, None)),
    }
    out = []
    for side in SIDES:
        band = bands[side]
        seen = inside[band].sum()
        if seen and reached[band].sum() > OPEN_FRACTION * seen:
            out.append(side)
    return tuple(out)


def row_background(gray: np.ndarray) -> np.ndarray:
    """The background pixels of a rectified row (uint8 grey): the larger side of Otsu's split, the other side being the characters."""
    _, high = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    high = high.astype(bool)
    return high if high.mean() >= 0.5 else ~high


def character_heights(image: np.ndarray, quad: np.ndarray) -> list[int]:
    """Heights of the row's character-like components, left to right (row rectified to RUN_ROW_HEIGHT px).

    The characters are the row without its background (row_background), as
    in open_sides. Components under a quarter of the row's height (dots,
    noise), much wider than tall (a bar, characters run together) or
    spanning the whole grown row (a frame's edge) are not characters.
    """
    tl, tr, br, bl = np.asarray(quad, np.float32)
    grow = ((bl - tl) + (br - tr)) / 2 * RUN_ROW_GROW
    grown = np.array([tl - grow, tr - grow, br + grow, bl + grow], np.float32)
    width, height = quad_size(grown)
    H = RUN_ROW_HEIGHT
    W = max(8, int(round(H * width / max(height, 1.0))))
    matrix = cv2.getPerspectiveTransform(grown, np.float32([[0, 0], [W, 0], [W, H], [0, H]]))
    gray = cv2.cvtColor(cv2.warpPerspective(image, matrix, (W, H), flags=cv2.INTER_LINEAR,
                                            borderMode=cv2.BORDER_REPLICATE), cv2.COLOR_BGR2GRAY)
    ink = ~row_background(gray)
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    chars = [(x, h) for x, y, w, h, _ in stats[1:]
             if h >= 0.25 * H and w <= 1.5 * h and not (y <= 0 and y + h >= H)]
    return [int(h) for _, h in sorted(chars)]


def two_heights(heights: list[int]) -> bool:
    """Whether the heights split, left from right, into two runs of one height each, of two sizes."""
    n = RUN_MIN_CHARS
    for i in range(n, len(heights) - n + 1):
        a, b = heights[:i], heights[i:]
        if max(a) <= RUN_HEIGHT_SPREAD * min(a) and max(b) <= RUN_HEIGHT_SPREAD * min(b):
            small, tall = sorted((float(np.median(a)), float(np.median(b))))
            if tall >= TWO_SIZES_RATIO * small:
                return True
    return False


def stacked_rows(quad: np.ndarray, others: Iterable[np.ndarray]) -> int:
    """Rows of about this row's height directly above or below it, overlapping it sideways."""
    _, height = quad_size(quad)
    x0, x1 = float(quad[:, 0].min()), float(quad[:, 0].max())
    y0, y1 = float(quad[:, 1].min()), float(quad[:, 1].max())
    lo, hi = STACK_HEIGHT_RATIO
    n = 0
    for other in others:
        other = np.asarray(other, np.float32)
        if other.shape == quad.shape and np.allclose(other, quad):
            continue
        ratio = quad_size(other)[1] / height
        if not lo <= ratio <= hi:
            continue
        ox0, ox1 = float(other[:, 0].min()), float(other[:, 0].max())
        oy0, oy1 = float(other[:, 1].min()), float(other[:, 1].max())
        if min(x1, ox1) - max(x0, ox0) < STACK_MIN_OVERLAP * min(x1 - x0, ox1 - ox0):
            continue
        gap = max(oy0 - y1, y0 - oy1)
        if -0.3 * height < gap < STACK_MAX_GAP_ROWS * height:
            n += 1
    return n
