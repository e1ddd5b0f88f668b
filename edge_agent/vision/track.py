"""One vehicle's reads across frames -> one VehicleRead, by vote.

Association is by position, not text: several vehicles are in view at once
and the same plate reads differently frame to frame ('6380CCS', '6380CC',
'G380CCS'). A read joins the open track whose predicted plate centre is
nearest, within `max_jump_plate_widths` plate widths; text similarity only
nudges the choice between tracks at nearly equal distance.

Privacy: nothing here logs plate text; most reads match no hot list.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from difflib import SequenceMatcher
from typing import TYPE_CHECKING, Callable

from ..plates import fold
from ..records import Box, PlateRead, VehicleRead

if TYPE_CHECKING:
    from ..config.tracker import TrackerConfig

log = logging.getLogger(__name__)

MAX_READS_PER_TRACK = 50  # best reads kept; a parked car must not grow memory
# A track this old is voted and emitted, and goes on with its reads cleared,
# so a parked car does not grow memory or wait hours to be reported. Its
# later votes are emitted only when they differ from what was reported: a
# parked hot-listed car is one alert, not one a minute, and a sign or a
# burnt-in caption that stays in view is one false vehicle a run, not one a
# minute.
MAX_TRACK_SECONDS = 60.0
MAX_OPEN_TRACKS = 64  # a flood of ghost reads must not grow memory either
# Weight of text dissimilarity (0..1) in the association cost, in plate
# widths: a tie-breaker between tracks at nearly the same distance.
TEXT_WEIGHT = 0.1
# A photo of a folder (Frame.still) may be the next snapshot of the same
# passing vehicle, or another vehicle at the same spot, and the time
# between two photos says nothing (they are stamped as they are read). So
# a still's read joins a track only if it reads alike (difflib ratio, look-
# alikes folded): one or two characters apart on a 7-character plate
# (0.86, 0.71), where another car's plate is not (VLX039 and 5LTA600: 0.31).
STILL_MIN_SIMILARITY = 0.7
# A track is closed only once a processed frame has gone by without it: a
# unit that takes longer than max_gap_seconds per frame (a Pi on a busy
# scene, the float detector on a slow x86 core) would otherwise close every
# track before its second read, and report no vehicle at all. Up to this
# many times max_gap_seconds; past it (a camera that stalled) a car at the
# same spot is taken for a new one.
SLOW_FRAME_GAP_FACTOR = 5.0


@dataclass(eq=False)  # identity: tracks hold numpy crops
class _Track:
    id: int
    first_seen: datetime
    last_seen: datetime
    last_box: Box
    reads: list[PlateRead] = field(default_factory=list)
    count: int = 0  # all reads ever added, including those dropped by the cap
    velocity: tuple[float, float] = (0.0, 0.0)  # pixels per second
    missed: int = 0  # frames processed since its last read
    reported: str = ""  # the text already emitted for this vehicle (folded), if any
    seen: int = 0  # positions taken, carried reads included (count is reads to vote on)

    def predicted(self, now: datetime) -> tuple[float, float]:
        dt = max(0.0, (now - self.last_seen).total_seconds())  # clock may step back
        cx, cy = self.last_box.center
        return (cx + self.velocity[0] * dt, cy + self.velocity[1] * dt)

    def add(self, read: PlateRead, now: datetime, cap: int) -> None:
        if self.seen:
            dt = (now - self.last_seen).total_seconds()
            if dt > 0:
                (ox, oy), (nx, ny) = self.last_box.center, read.box.center
                v = ((nx - ox) / dt, (ny - oy) / dt)
                # The first measured velocity is taken as is; later ones are
                # smoothed so one jittery box does not throw the prediction.
                if self.seen == 1:
                    self.velocity = v
                else:
                    vx, vy = self.velocity
                    self.velocity = (0.5 * (vx + v[0]), 0.5 * (vy + v[1]))
        self.seen += 1
        self.missed = 0
        self.last_seen = max(self.last_seen, now)
        self.last_box = read.box
        if read.carried:
            return  # where the plate is now, not a read to vote on
        if read.crop.base is not None:
            # A crop sliced out of the frame would pin the whole frame in
            # memory for as long as the read is kept.
            read = replace(read, crop=read.crop.copy())
        self.reads.append(read)
        if len(self.reads) > cap:
            # Drop the weakest read (the earliest among equals).
            worst = min(range(len(self.reads)), key=lambda i: self.reads[i].confidence)
            del self.reads[worst]
        self.count += 1


class Tracker:
    """Groups per-frame PlateReads into tracks and votes each closed track."""

    def __init__(
        self,
        cfg: TrackerConfig,
        max_reads: int = MAX_READS_PER_TRACK,
        max_track_seconds: float = MAX_TRACK_SECONDS,
    ):
        self.cfg = cfg
        self.max_reads = max_reads
        self.max_track_seconds = max_track_seconds
        self._tracks: list[_Track] = []
        self._next_id = 0

    @property
    def open_tracks(self) -> int:
        return len(self._tracks)

    def update(self, reads: list[PlateRead], now: datetime, still: bool = False) -> list[VehicleRead]:
        """Add one frame's reads; return the vehicles whose tracks closed.

        `still`: the frame is a photo of a folder (STILL_MIN_SIMILARITY).
        """
        # Close stale tracks first, so a new car stopping where an old one
        # stood does not inherit its reads. abs(): a clock stepped back (NTP,
        # a new file) must close tracks too, not leave them open for hours.
        closed = self._take(lambda t: self._stale(t, now))
        for t in self._tracks:
            t.missed += 1  # until a read of this frame joins it
        # A read without text carries nothing to vote on.
        self._associate([r for r in reads if r.text], now, STILL_MIN_SIMILARITY if still else 0.0)
        age = self.max_track_seconds
        aged = self._take(lambda t: abs((now - t.first_seen).total_seconds()) >= age)
        if len(self._tracks) > MAX_OPEN_TRACKS:
            by_age = sorted(self._tracks, key=lambda t: (t.last_seen, t.id))
            oldest = {t.id for t in by_age[: len(by_age) - MAX_OPEN_TRACKS]}
            closed += self._take(lambda t: t.id in oldest)
        out = self._vote_all(closed + aged)
        for t in aged:  # still in view: goes on, its reads so far voted
            t.reads, t.count, t.first_seen = [], 0, now
            self._tracks.append(t)
        return out

    def _stale(self, track: _Track, now: datetime) -> bool:
        """Unseen for longer than max_gap_seconds, and missing from a processed frame (see SLOW_FRAME_GAP_FACTOR)."""
        gap = self.cfg.max_gap_seconds
        unseen = abs((now - track.last_seen).total_seconds())
        return unseen > gap and (track.missed > 0 or unseen > SLOW_FRAME_GAP_FACTOR * gap)

    def flush(self) -> list[VehicleRead]:
        """Close every open track (end of a file or stream)."""
        return self._vote_all(self._take(lambda t: True))

    def _take(self, pred: Callable[[_Track], bool]) -> list[_Track]:
        keep: list[_Track] = []
        out: list[_Track] = []
        for t in self._tracks:
            (out if pred(t) else keep).append(t)
        self._tracks = keep
        return out

    def _associate(self, reads: list[PlateRead], now: datetime, min_similarity: float) -> None:
        pairs: list[tuple[float, int, int]] = []
        for ti, t in enumerate(self._tracks):
            px, py = t.predicted(now)
            width = max(1.0, float(t.last_box.w))
            last_text = fold(max(t.reads, key=lambda r: r.confidence).text) if t.reads else t.reported
            for ri, r in enumerate(reads):
                cx, cy = r.box.center
                jump = math.hypot(cx - px, cy - py) / width
                if jump > self.cfg.max_jump_plate_widths:
                    continue
                sim = SequenceMatcher(None, last_text, fold(r.text)).ratio()
                if sim < min_similarity:
                    continue
                pairs.append((jump + TEXT_WEIGHT * (1.0 - sim), ti, ri))
        # Greedy, cheapest pair first: one read per track, one track per read.
        pairs.sort()
        used_t: set[int] = set()
        used_r: set[int] = set()
        for _, ti, ri in pairs:
            if ti in used_t or ri in used_r:
                continue
            used_t.add(ti)
            used_r.add(ri)
            self._tracks[ti].add(reads[ri], now, self.max_reads)
        for ri, r in enumerate(reads):
            # A carried read whose track has closed has no reads to join.
            if ri not in used_r and not r.carried:
                t = _Track(self._next_id, now, now, r.box)
                self._next_id += 1
                t.add(r, now, self.max_reads)
                self._tracks.append(t)

    def _vote_all(self, tracks: list[_Track]) -> list[VehicleRead]:
        out = []
        for t in sorted(tracks, key=lambda t: t.id):
            if t.count < self.cfg.min_frames:
                log.debug("track %d discarded: %d frame(s)", t.id, t.count)
                continue
            v = vote(t.reads, t.count, t.first_seen, t.last_seen)
            agreeing = sum(agrees(r.text, v.text) for r in t.reads)
            if agreeing < self.cfg.min_frames:
                # Seen often enough, but read differently each time: a
                # texture, a badge or a sticker the reader makes a new
                # guess of in every frame, where a plate reads the same.
                log.debug("track %d discarded: %d of its reads agree with the vote", t.id, agreeing)
                continue
            if fold(v.text) == t.reported:
                log.debug("track %d: still the vehicle already reported", t.id)
                continue
            t.reported = fold(v.text)  # a track that goes on (aged) reports it only once
            out.append(v)
            log.debug("track %d closed: %d frames", t.id, t.count)
        return out


def agrees(read: str, voted: str) -> bool:
    """The read says the voted text, or all of it but the one character the vote put right."""
    return len(read) == len(voted) and sum(a != b for a, b in zip(read, voted)) <= 1


def vote(
    reads: list[PlateRead], frames: int, first_seen: datetime, last_seen: datetime
) -> VehicleRead:
    """Merge one track's reads into one VehicleRead.

    1. The text with the largest summed confidence wins; its length L is the
       plate's length.
    2. Each position is re-voted among the reads of length L (summed
       confidence per character), which fixes a character misread in a
       minority of frames even when no single read is right throughout.
    3. confidence = sum over reads r and positions i of c_r * [len(r) == L
       and r[i] == text[i]], divided by (N * L), N = number of reads kept.
       It is the mean per-character support: equal to the reads' mean
       confidence when all agree, and scaled down by every disagreeing
       character or read of another length. Always in 0..1.
    """
    by_text: dict[str, float] = defaultdict(float)
    for r in reads:
        by_text[r.text] += r.confidence
    # Ties go to the text read more often, then to the alphabetically first,
    # so the result does not depend on dict order.
    winner = min(by_text, key=lambda s: (-by_text[s], -sum(r.text == s for r in reads), s))
    same_len = [r for r in reads if len(r.text) == len(winner)]

    chars = []
    for i, own in enumerate(winner):
        score: dict[str, float] = defaultdict(float)
        for r in same_len:
            score[r.text[i]] += r.confidence
        chars.append(max(score, key=lambda c: (score[c], c == own, c)))
    text = "".join(chars)

    support = sum(r.confidence for r in same_len for a, b in zip(r.text, text) if a == b)
    confidence = support / (len(reads) * len(text)) if reads and text else 0.0

    # The best picture is the most confident read of the final text; if the
    # per-position vote produced a text no single frame read, the closest.
    def closeness(r: PlateRead) -> tuple[int, float]:
        return (-sum(a != b for a, b in zip(r.text, text)), r.confidence)

    best = max(same_len, key=closeness)
    return VehicleRead(
        text=text,
        confidence=min(1.0, max(0.0, confidence)),
        captured_at=best.captured_at,
        first_seen=first_seen,
        last_seen=last_seen,
        frames=frames,
        box=best.box,
        crop=best.crop,
    )
