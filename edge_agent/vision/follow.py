"""Which parts of a stream frame the plate detector scans.

Scanning a whole 1280x720 frame is most of a frame's time on one core. A
plate moves little from one frame to the next, so between whole scans a
frame is scanned only in windows around where the rows of the frame before
should be now (following). A vehicle that comes into view is found at the
next whole scan, due `[reader] full_scan_seconds` after following began.

Each row's motion is measured from frame to frame, so a window is centred
on where the row is heading and only has to allow for the error of that
guess. This matters on a slow unit on a live camera: the frame after a
whole scan comes as long after it as the scan took (half a second on one
x86 core), and a plate may have moved 7 row heights by then.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from ..records import Box

# A window reaches this many row heights beyond where the row is expected,
# so the model sees enough around it to box it as a whole scan would.
MARGIN_ROWS = 2.0
# Plus the distance the row may have moved since the frame before, in row
# heights per second: on the highway clip (rear plates 13-31 px tall, seen
# from an overpass) up to ~14 a second (median 5), most of it downwards as
# they come closer. With the row's own motion measured, what is left is
# its change and the jitter of the boxes it was measured from.
UNKNOWN_ROWS_PER_SECOND = 14.0
KNOWN_ROWS_PER_SECOND = 4.0
# Past this share of the frame, windows cost about what a whole scan does.
MAX_AREA = 0.5
# Rows seen this long ago say little about where plates are now.
MAX_GAP_SECONDS = 2.0


@dataclass(frozen=True)
class Row:
    box: Box
    velocity: tuple[float, float] | None = None  # pixels per second; None until seen twice

    def expected(self, gap: float) -> tuple[tuple[float, float], float]:
        """Where the row's centre should be `gap` seconds on, and how far off that may be (pixels)."""
        cx, cy = self.box.center
        if self.velocity is None:
            return (cx, cy), self.box.h * (MARGIN_ROWS + UNKNOWN_ROWS_PER_SECOND * gap)
        vx, vy = self.velocity
        return (cx + vx * gap, cy + vy * gap), self.box.h * (MARGIN_ROWS + KNOWN_ROWS_PER_SECOND * gap)


class Follower:
    """The rows of the last stream frame, their motion, and when a whole scan is due."""

    def __init__(self, full_scan_seconds: float):
        self.full_scan_seconds = full_scan_seconds
        self.rows: list[Row] = []
        self._last_at: datetime | None = None
        # When following began after the last whole scan: the next is due
        # full_scan_seconds later. Counted from the frame after the scan, not
        # the scan's own frame, or a unit whose whole scan takes longer than
        # full_scan_seconds on a live camera would never follow at all.
        self._since: datetime | None = None

    def windows(self, at: datetime, width: int, height: int) -> list[Box] | None:
        """The windows to scan in a frame taken `at`, or None when the whole frame is due a scan."""
        if self.full_scan_seconds <= 0 or self._last_at is None:
            return None
        gap = (at - self._last_at).total_seconds()
        # A clock stepped back, or a new file, starts over with a whole scan.
        if not 0 <= gap <= MAX_GAP_SECONDS:
            return None
        if self._since is not None and (at - self._since).total_seconds() >= self.full_scan_seconds:
            return None
        out = []
        for row in self.rows:
            (cx, cy), m = row.expected(gap)
            x0, y0 = max(0, round(cx - row.box.w / 2 - m)), max(0, round(cy - row.box.h / 2 - m))
            x1, y1 = min(width, round(cx + row.box.w / 2 + m)), min(height, round(cy + row.box.h / 2 + m))
            if x1 > x0 and y1 > y0:
                out.append(Box(x0, y0, x1 - x0, y1 - y0))
        if sum(b.w * b.h for b in out) > MAX_AREA * width * height:
            return None
        return out

    def update(self, found: list[Box], at: datetime, whole: bool) -> None:
        """Remember this frame's rows, each with its motion if it continues a row of the frame before."""
        gap = (at - self._last_at).total_seconds() if self._last_at is not None else 0.0
        if whole:
            self._since = None
        elif self._since is None:
            self._since = at
        matched = self._match(found, gap) if gap > 0 else {}
        rows = []
        for i, box in enumerate(found):
            before = matched.get(i)
            if before is None:
                rows.append(Row(box))
                continue
            (ox, oy), (nx, ny) = before.box.center, box.center
            v = ((nx - ox) / gap, (ny - oy) / gap)
            if before.velocity is not None:
                # Smoothed: one jittery box must not throw the next window off.
                v = ((v[0] + before.velocity[0]) / 2, (v[1] + before.velocity[1]) / 2)
            rows.append(Row(box, v))
        self.rows, self._last_at = rows, at

    def _match(self, found: list[Box], gap: float) -> dict[int, Row]:
        """Each found row's row of the frame before: the nearest expected there, within its margin."""
        pairs = []
        for i, box in enumerate(found):
            for j, row in enumerate(self.rows):
                if max(box.h, row.box.h) > 1.5 * min(box.h, row.box.h):
                    continue
                (ex, ey), m = row.expected(gap)
                d = math.hypot(box.center[0] - ex, box.center[1] - ey)
                if d <= m:
                    pairs.append((d, i, j))
        return {i: self.rows[j] for i, j in cheapest_pairs(pairs).items()}


def cheapest_pairs(pairs: list[tuple[float, int, int]]) -> dict[int, int]:
    """Greedy one-to-one matching of (cost, i, j) candidates, cheapest first: {i: j}."""
    out: dict[int, int] = {}
    used: set[int] = set()
    for _, i, j in sorted(pairs):
        if i not in out and j not in used:
            out[i] = j
            used.add(j)
    return out
