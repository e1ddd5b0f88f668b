"""Settled plates: read again only every `reread_every` frames while they stay in view."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import numpy as np

from edge_agent.config import ReaderConfig, TrackerConfig
from edge_agent.vision.detect import TextLinePlateDetector
from edge_agent.vision.read import make_reader
from edge_agent.records import Box, Frame, PlateCandidate, PlateRead
from edge_agent.vision.settle import SETTLED_READS, SettledRows
from edge_agent.vision.track import Tracker

try:
    from datasets import HIGHWAY_PLATES, highway_frames
except ImportError:  # tests/ imported as a package
    from tests.datasets import HIGHWAY_PLATES, highway_frames

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)
IMAGE = np.zeros((720, 1280, 3), np.uint8)


def candidate(x: int, y: int = 300) -> PlateCandidate:
    quad = np.array([[x, y], [x + 90, y], [x + 90, y + 25], [x, y + 25]], np.float32)
    return PlateCandidate(Box(x, y, 90, 25), 0.9, quad)


def step(rows: SettledRows, i: int, x: int, text: str | None) -> tuple[list[int], list[PlateRead]]:
    """One frame at 24 fps with one row at x, read as `text` if it is read (None: no plate)."""
    frame = Frame(IMAGE, i, T0 + timedelta(seconds=i / 24), "test")
    c = candidate(x)
    to_read, matched = rows.split([c], frame.captured_at)
    reads = [PlateRead(text, 0.9, c.box, i, frame.captured_at, IMAGE[:1, :1])] if to_read and text else []
    return to_read, reads + rows.update(frame, [c], to_read, matched, reads)


def test_a_plate_read_alike_three_times_is_read_every_third_frame():
    rows = SettledRows(reread_every=3)
    read_in = []
    for i in range(12):
        to_read, out = step(rows, i, 100 + 5 * i, "6380CCS")
        read_in.append(bool(to_read))
        assert [r.text for r in out] == ["6380CCS"]
        assert out[0].carried == (not to_read) and out[0].box.x == 100 + 5 * i
    assert SETTLED_READS == 3
    assert read_in == [True, True, True, False, False, True, False, False, True, False, False, True]


def settled(rows: SettledRows, text: str = "6380CCS") -> int:
    """Read the row alike SETTLED_READS times, then carry it until it is due a read; that frame's index."""
    for i in range(SETTLED_READS):
        assert step(rows, i, 100, text)[0]
    for i in range(SETTLED_READS, SETTLED_READS + rows.reread_every - 1):
        assert not step(rows, i, 100, text)[0]
    return SETTLED_READS + rows.reread_every - 1


def test_a_look_alike_read_keeps_the_plate_settled():
    rows = SettledRows(reread_every=3)
    i = settled(rows)
    assert step(rows, i, 100, "G380CCS")[0]  # due a read; G and 6 fold alike
    assert not step(rows, i + 1, 100, "6380CCS")[0]


def test_another_text_unsettles_the_plate():
    rows = SettledRows(reread_every=3)
    i = settled(rows)
    assert step(rows, i, 100, "8589BXT")[0]
    # The streak starts again: read until the new text has settled.
    assert all(step(rows, j, 100, "8589BXT")[0] for j in range(i + 1, i + SETTLED_READS))
    assert not step(rows, i + SETTLED_READS, 100, "8589BXT")[0]


def test_a_row_that_jumps_or_is_read_as_no_plate_is_read_again():
    rows = SettledRows(reread_every=3)
    for i in range(SETTLED_READS):
        step(rows, i, 100, "6380CCS")
    assert step(rows, SETTLED_READS, 400, "6380CCS")[0]  # 300 px in 1/24 s: another row
    rows = SettledRows(reread_every=3)
    i = settled(rows)
    step(rows, i, 100, None)  # due a read, and read as no plate: forgotten
    assert all(step(rows, j, 100, "6380CCS")[0] for j in range(i + 1, i + 1 + SETTLED_READS))


def test_reread_every_1_reads_every_plate_in_every_frame():
    rows = SettledRows(reread_every=1)
    assert all(step(rows, i, 100, "6380CCS")[0] for i in range(8))


def test_the_highway_clip_reads_the_same_vehicles_with_a_third_of_the_reads():
    images = highway_frames(36)
    cfg = ReaderConfig(detector="float", full_scan_seconds=0)
    detector = TextLinePlateDetector(cfg)
    candidates = [detector(Frame(im, i, T0 + timedelta(seconds=i / 24), "highway")) for i, im in enumerate(images)]

    def run(reread_every: int) -> tuple[list[tuple[str, int]], int]:
        reader = make_reader(replace(cfg, reread_every=reread_every))
        rows_read = 0
        recognizer = reader.recognizer

        def counting(crops):
            nonlocal rows_read
            rows_read += len(crops)
            return recognizer(crops)

        reader.recognizer = counting
        tracker = Tracker(TrackerConfig())
        vehicles = []
        for i, (im, found) in enumerate(zip(images, candidates)):
            frame = Frame(im, i, T0 + timedelta(seconds=i / 24), "highway")
            vehicles += tracker.update(reader(frame, found), frame.captured_at)
        vehicles += tracker.flush()
        return sorted((v.text, v.frames) for v in vehicles), rows_read

    every, every_rows = run(1)
    settled, settled_rows = run(3)
    assert [t for t, _ in settled] == [t for t, _ in every]
    assert {t for t, _ in settled} <= set(HIGHWAY_PLATES) and len(settled) >= 4
    assert settled_rows < 0.6 * every_rows
    # Each vehicle's vote still rests on real reads, a third or more of them.
    for (_, n_settled), (_, n_every) in zip(settled, every):
        assert n_settled >= n_every / 3


def test_rows_of_a_frame_long_ago_settle_nothing():
    rows = SettledRows(reread_every=3)
    for i in range(SETTLED_READS):
        step(rows, i, 100, "6380CCS")
    assert step(rows, 24 * 5, 100, "6380CCS")[0]  # 5 s later: another car may stand there
