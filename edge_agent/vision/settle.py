"""Which plate rows of a stream frame need reading again.

The recognizer costs ~25 ms per row on one x86 core (more on a Pi), and on
a road most rows in a frame are plates already read the same way in the
frames before. A row read the same way in SETTLED_READS consecutive frames
is read again only every `[reader] reread_every` frames while it stays in
view; in the frames between, the reader passes on a carried read: the
row's new position with the settled text, flagged `carried`. The tracker
follows a vehicle by it and the vote ignores it, so a vehicle's vote is
made of real reads only, fewer of them.

Privacy: the texts held here are those of the rows in the last frame,
in memory only, as the tracker holds them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from .follow import MAX_GAP_SECONDS, cheapest_pairs
from ..plates import fold
from ..records import Box, Frame, PlateCandidate, PlateRead

# Three agreeing reads in a row: one misread can start a streak, not finish it.
SETTLED_READS = 3
# How far a row may move between two frames and still be the same row, in
# row heights: a little, plus the fastest plates of the highway clip (~14
# row heights a second, follow.UNKNOWN_ROWS_PER_SECOND). A wrong match costs
# little: the other plate goes unread for at most reread_every - 1 frames,
# and a carried read has no vote. Rows older than follow.MAX_GAP_SECONDS
# match nothing.
SAME_ROW_ROWS = 1.0
SAME_ROW_ROWS_PER_SECOND = 14.0
NO_CROP = np.zeros((0, 0, 3), np.uint8)


@dataclass
class _Row:
    box: Box
    text: str
    confidence: float
    streak: int  # consecutive frames read as `text`
    carried: int  # frames carried since its last read


class SettledRows:
    """The rows of the last stream frame and how settled their reads are."""

    def __init__(self, reread_every: int):
        self.reread_every = reread_every
        self._rows: list[_Row] = []
        self._at: datetime | None = None

    def split(self, candidates: list[PlateCandidate], at: datetime) -> tuple[list[int], dict[int, _Row]]:
        """Which candidates to read (indices), and each candidate's row of the last frame, if any."""
        matched = self._match(candidates, at)
        to_read = [i for i in range(len(candidates))
                   if i not in matched or not self._settled(matched[i])]
        return to_read, matched

    def _settled(self, row: _Row) -> bool:
        return row.streak >= SETTLED_READS and row.carried + 1 < self.reread_every

    def update(self, frame: Frame, candidates: list[PlateCandidate], to_read: list[int],
               matched: dict[int, _Row], reads: list[PlateRead]) -> list[PlateRead]:
        """Remember this frame's rows and their reads; the carried reads of the rows not read."""
        read_here = set(to_read)
        by_box = {r.box: r for r in reads}
        rows, carried = [], []
        for i, c in enumerate(candidates):
            before = matched.get(i)
            if i not in read_here and before is not None:
                rows.append(replace(before, box=c.box, carried=before.carried + 1))
                carried.append(PlateRead(text=before.text, confidence=before.confidence, box=c.box,
                                         frame_index=frame.index, captured_at=frame.captured_at,
                                         crop=NO_CROP, carried=True))
                continue
            read = by_box.get(c.box)
            if read is None:
                continue  # not read as a plate: nothing to settle
            same = before is not None and fold(before.text) == fold(read.text)
            rows.append(_Row(c.box, read.text, read.confidence, before.streak + 1 if same else 1, 0))
        self._rows, self._at = rows, frame.captured_at
        return carried

    def _match(self, candidates: list[PlateCandidate], at: datetime) -> dict[int, _Row]:
        if self._at is None or not self._rows:
            return {}
        gap = (at - self._at).total_seconds()
        if not 0 <= gap <= MAX_GAP_SECONDS:
            return {}
        pairs = []
        for i, c in enumerate(candidates):
            for j, row in enumerate(self._rows):
                h = max(c.box.h, row.box.h)
                if h > 1.35 * min(c.box.h, row.box.h):
                    continue
                (cx, cy), (rx, ry) = c.box.center, row.box.center
                moved = math.hypot(cx - rx, cy - ry) / h
                if moved <= SAME_ROW_ROWS + SAME_ROW_ROWS_PER_SECOND * gap:
                    pairs.append((moved, i, j))
        return {i: self._rows[j] for i, j in cheapest_pairs(pairs).items()}
