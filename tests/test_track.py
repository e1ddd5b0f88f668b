import logging
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from edge_agent.config.tracker import TrackerConfig
from edge_agent.records import Box, PlateRead
from edge_agent.vision.track import MAX_READS_PER_TRACK, Tracker, vote

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
W, H = 80, 20


def at(frame, fps=10):
    return T0 + timedelta(milliseconds=1000 * frame // fps)


def pr(text, x, y, frame, conf=0.9, fps=10):
    return PlateRead(
        text=text,
        confidence=conf,
        box=Box(int(x), int(y), W, H),
        frame_index=frame,
        captured_at=at(frame, fps),
        crop=np.full((H, W, 3), frame % 256, np.uint8),
    )


def run(tracker, frames, fps=10):
    """Feed {frame: [reads]} for frames 0..max; return everything emitted."""
    out = []
    for i in range(max(frames) + 1):
        out += tracker.update(frames.get(i, []), at(i, fps))
    return out + tracker.flush()


def test_two_vehicles_in_parallel_with_misreads(caplog):
    a = {2: "G380CCS", 5: "6380CC", 7: "6380CC5"}
    b = {3: "KX55P0", 6: "KX5SPQ"}
    frames = {}
    for i in range(10):
        # 120 px apart vertically: inside each other's 3-plate-width gate,
        # so only the nearest-first assignment keeps them apart.
        ra = pr(a.get(i, "6380CCS"), 100 + 40 * i, 100, i, conf=0.7 if i in a else 0.9)
        rb = pr(b.get(i, "KX55PQ"), 120 + 40 * i, 220, i, conf=0.6 if i in b else 0.85)
        reads = [ra] if i == 4 else [rb, ra] if i % 2 else [ra, rb]  # b missed in frame 4
        frames[i] = reads
    with caplog.at_level(logging.DEBUG):
        out = run(Tracker(TrackerConfig(max_gap_seconds=1.0, min_frames=2)), frames)
    assert [(v.text, v.frames) for v in out] == [("6380CCS", 10), ("KX55PQ", 9)]
    assert out[0].first_seen == at(0) and out[0].last_seen == at(9)
    assert out[0].box.y == 100 and out[1].box.y == 220
    for v in out:
        assert 0.0 < v.confidence <= 1.0
    for text in ("6380CCS", "KX55PQ", "G380CCS"):
        assert text not in caplog.text  # no plate text in logs


def test_same_text_far_apart_is_two_vehicles():
    frames = {i: [pr("AB12CD", 100 + 10 * i, 100, i), pr("AB12CD", 900, 600, i)] for i in range(5)}
    out = run(Tracker(TrackerConfig()), frames)
    assert [v.text for v in out] == ["AB12CD", "AB12CD"]


def test_one_read_per_track_per_frame():
    t = Tracker(TrackerConfig())
    t.update([pr("AB12CD", 100, 100, 0)], at(0))
    t.update([pr("AB12CD", 102, 100, 1), pr("AB12CD", 110, 100, 1)], at(1))
    assert t.open_tracks == 2


def test_prediction_follows_fast_vehicle_across_missed_frame():
    # 220 px per frame is 2.75 plate widths; after a missed frame the read is
    # 5.5 widths from the last one, and only the predicted position is near.
    frames = {i: [pr("FAST01", 220 * i, 300, i)] for i in range(10) if i != 5}
    out = run(Tracker(TrackerConfig(max_jump_plate_widths=3.0)), frames)
    assert [(v.text, v.frames) for v in out] == [("FAST01", 9)]


@pytest.mark.parametrize("min_frames, want", [(2, ["REAL01"]), (1, ["REAL01", "GHOST9"])])
def test_single_frame_ghost(min_frames, want):
    frames = {i: [pr("REAL01", 100 + 20 * i, 100, i)] for i in range(6)}
    frames[3] = frames[3] + [pr("GHOST9", 1200, 700, 3, conf=0.4)]
    out = run(Tracker(TrackerConfig(min_frames=min_frames)), frames)
    assert [v.text for v in out] == want


def test_gap_closes_track_with_explicit_timestamps():
    cfg = TrackerConfig(max_gap_seconds=1.0, min_frames=1)
    t = Tracker(cfg)
    for i in range(3):  # t = 0.0, 0.1, 0.2
        assert t.update([pr("GAP123", 100, 100, i)], at(i)) == []
    assert t.update([], T0 + timedelta(seconds=1.0)) == []  # 0.8 s gap
    assert t.update([], T0 + timedelta(seconds=1.2)) == []  # exactly 1.0 s: still open
    closed = t.update([pr("NEXT99", 100, 100, 13)], T0 + timedelta(seconds=1.3))
    assert [(v.text, v.frames, v.last_seen) for v in closed] == [("GAP123", 3, at(2))]
    # The read at the same spot after the gap started a new track.
    assert t.open_tracks == 1
    assert [(v.text, v.frames) for v in t.flush()] == [("NEXT99", 1)]
    assert t.flush() == []


def test_a_slow_unit_still_links_a_vehicle_across_consecutive_frames():
    # 1.5 s per frame, longer than max_gap_seconds: each frame that sees the
    # car continues its track; one frame without it, and the track closes.
    cfg = TrackerConfig(max_gap_seconds=1.0, min_frames=2)
    t = Tracker(cfg)
    times = [T0 + timedelta(seconds=1.5 * i) for i in range(6)]
    out = []
    for i in range(3):
        out += t.update([pr("SLOW42", 100 + 10 * i, 100, i)], times[i])
    assert out == [] and t.open_tracks == 1
    assert t.update([], times[3]) == []  # missed once: kept for now
    closed = t.update([pr("NEXT77", 130, 100, 4)], times[4])
    assert [(v.text, v.frames) for v in closed] == [("SLOW42", 3)]
    assert t.open_tracks == 1  # the read after the missed frame is a new vehicle


def test_a_stalled_camera_does_not_join_the_car_before_it_to_the_car_after_it():
    t = Tracker(TrackerConfig(max_gap_seconds=1.0, min_frames=1))
    t.update([pr("BEFORE1", 100, 100, 0)], T0)
    # No frame at all for 6 s (more than SLOW_FRAME_GAP_FACTOR gaps), then a car at the same spot.
    closed = t.update([pr("AFTER22", 100, 100, 1)], T0 + timedelta(seconds=6))
    assert [v.text for v in closed] == ["BEFORE1"]
    assert [v.text for v in t.flush()] == ["AFTER22"]


def test_photos_join_at_the_same_spot_only_if_they_read_alike():
    # Photos of a folder: the next snapshot of one vehicle, or another
    # vehicle parked where the last one stood.
    t = Tracker(TrackerConfig(min_frames=1))
    out = t.update([pr("VLX039", 100, 100, 0)], at(0), still=True)
    out += t.update([pr("5LTA600", 102, 100, 1)], at(1), still=True)
    out += t.update([pr("5LTA6O0", 104, 100, 2)], at(2), still=True)
    out += t.flush()
    assert sorted(v.text for v in out) == ["5LTA600", "VLX039"]
    # The same reads as frames of a stream are one vehicle by position.
    t = Tracker(TrackerConfig(min_frames=1))
    out = t.update([pr("VLX039", 100, 100, 0)], at(0)) + t.update([pr("5LTA600", 102, 100, 1)], at(1))
    assert len(out + t.flush()) == 1


def test_vote_fixes_single_frame_errors_per_position():
    reads = [pr("6380CCS", 0, 0, 0, 0.6), pr("G380CCS", 0, 0, 1, 0.7), pr("6380CC5", 0, 0, 2, 0.7)]
    v = vote(reads, 3, at(0), at(2))
    assert v.text == "6380CCS"  # no text has a majority, every position does
    assert v.confidence == pytest.approx((0.6 * 7 + 0.7 * 6 + 0.7 * 6) / (3 * 7))
    assert v.captured_at == at(0) and v.crop[0, 0, 0] == 0  # the read that says it


def test_vote_uses_best_read_of_winning_text_and_shorter_reads_lower_confidence():
    reads = [pr("AB12CD", 0, 0, 0, 0.5), pr("AB12CD", 5, 0, 1, 0.9), pr("AB12C", 9, 0, 2, 0.9)]
    v = vote(reads, 3, at(0), at(2))
    assert v.text == "AB12CD" and v.captured_at == at(1) and v.box.x == 5
    assert v.confidence == pytest.approx((0.5 + 0.9) / 3)
    agree = vote([pr("AB12CD", 0, 0, i, 0.8) for i in range(4)], 4, at(0), at(3))
    assert agree.confidence == pytest.approx(0.8)


def test_bounded_memory_for_parked_car():
    rng = np.random.default_rng(0)
    t = Tracker(TrackerConfig(min_frames=2))
    out, peak = [], 0
    for i in range(10_000):
        jitter = rng.integers(-2, 3, size=2)
        read = pr("PARK42", 500 + jitter[0], 400 + jitter[1], i, conf=float(rng.uniform(0.5, 1.0)))
        out += t.update([read], at(i))
        assert t.open_tracks <= 1
        assert all(len(tr.reads) <= MAX_READS_PER_TRACK for tr in t._tracks)
        peak = max([peak] + [len(tr.reads) for tr in t._tracks])
    out += t.flush()
    assert peak == MAX_READS_PER_TRACK  # the cap was reached and held
    # Reported once, after its first minute (10 fps, 60 s), not held for the
    # whole run; its later minutes vote the same and are not reported again.
    assert [(v.text, v.frames) for v in out] == [("PARK42", 601)]
    assert (out[0].last_seen - out[0].first_seen).total_seconds() == 60


def test_a_vehicle_in_view_for_minutes_is_reported_again_only_if_read_otherwise():
    t = Tracker(TrackerConfig(min_frames=2), max_track_seconds=10)
    frames = {i: [pr("PARK4M" if i < 100 else "PARK42", 500, 400, i)] for i in range(400)}  # 40 s at 10 fps
    out = run(t, frames)
    # The first 10 s voted PARK4M; the next PARK42, which is reported; the
    # rest vote PARK42 again and are not. Look-alikes (PARK4Z) count as the
    # same text, as they do for the hot list.
    assert [(v.text, v.frames) for v in out] == [("PARK4M", 101), ("PARK42", 100)]
    t = Tracker(TrackerConfig(min_frames=2), max_track_seconds=10)
    frames = {i: [pr("PARK4Z" if i < 100 else "PARK42", 500, 400, i)] for i in range(300)}
    assert [v.text for v in run(t, frames)] == ["PARK4Z"]


def test_cap_keeps_the_most_confident_reads():
    t = Tracker(TrackerConfig(), max_reads=5)
    confs = [0.3, 0.9, 0.5, 0.95, 0.1, 0.7, 0.8, 0.2, 0.6, 0.85]
    for i, c in enumerate(confs):
        t.update([pr("CAP555", 300, 300, i, conf=c)], at(i))
    (track,) = t._tracks
    assert sorted(r.confidence for r in track.reads) == sorted(confs)[-5:]
    (v,) = t.flush()
    assert v.frames == 10 and v.captured_at == at(3)


def test_open_tracks_are_bounded():
    from edge_agent.vision.track import MAX_OPEN_TRACKS

    t = Tracker(TrackerConfig(min_frames=1))
    out = t.update([pr(f"N{i:03d}", 1000 * i, 0, 0) for i in range(MAX_OPEN_TRACKS + 6)], at(0))
    assert t.open_tracks == MAX_OPEN_TRACKS
    assert len(out) == 6


def test_clock_stepping_back_closes_tracks():
    t = Tracker(TrackerConfig(min_frames=1))
    t.update([pr("STEP01", 100, 100, 0)], at(100))
    closed = t.update([pr("STEP01", 100, 100, 1)], at(0))
    assert [v.text for v in closed] == ["STEP01"] and t.open_tracks == 1


def test_carried_reads_keep_a_vehicle_in_view_but_do_not_vote():
    from dataclasses import replace

    tracker = Tracker(TrackerConfig(max_gap_seconds=1.0, min_frames=2))
    frames = {0: [pr("6380CCS", 100, 100, 0)], 1: [pr("6380CCS", 104, 100, 1)]}
    # Then 2.5 s of carried reads (settle.py), the text a wrong one on purpose:
    # past max_gap_seconds without a read, the vehicle is still the same one.
    for i in range(2, 27):
        frames[i] = [replace(pr("XXXX999", 100 + 4 * i, 100, i), carried=True)]
    frames[27] = [pr("6380CC5", 208, 100, 27, conf=0.5)]
    out = run(tracker, frames)
    assert [(v.text, v.frames) for v in out] == [("6380CCS", 3)]
    assert out[0].last_seen == at(27)


def test_a_carried_read_opens_no_vehicle():
    from dataclasses import replace

    tracker = Tracker(TrackerConfig(max_gap_seconds=1.0, min_frames=1))
    frames = {i: [replace(pr("6380CCS", 100, 100, i), carried=True)] for i in range(5)}
    assert run(tracker, frames) == []


def test_a_text_read_differently_in_every_frame_is_no_vehicle():
    # A painted-out Czech photo's texture, as one pass read it: four frames, four guesses.
    guesses = ["05137", "F051C3", "P051239", "PF015103Y"]
    frames = {i: [pr(text, 300 + 5 * i, 200, i)] for i, text in enumerate(guesses)}
    assert run(Tracker(TrackerConfig(min_frames=2)), frames) == []
    # Two of them alike would be enough; one frame each is not.
    frames[4] = [pr("05137", 320, 200, 4)]
    assert [v.text for v in run(Tracker(TrackerConfig(min_frames=2)), frames)] == ["05137"]
    assert [v.text for v in run(Tracker(TrackerConfig(min_frames=1)), {0: [pr("05137", 300, 200, 0)]})] == ["05137"]


def test_reads_one_character_off_agree_with_the_vote_they_make():
    # No frame read 6380CCS, but each is one character from it, and the
    # per-position vote puts it together: three frames agree with it.
    frames = {0: [pr("G380CCS", 100, 100, 0)], 1: [pr("6J80CCS", 110, 100, 1)], 2: [pr("6380CC5", 120, 100, 2)]}
    out = run(Tracker(TrackerConfig(min_frames=3)), frames)
    assert [(v.text, v.frames) for v in out] == [("6380CCS", 3)]
    # Reads two characters off do not agree.
    frames = {0: [pr("G38OCCS", 100, 100, 0)], 1: [pr("6J80CCS", 110, 100, 1)], 2: [pr("6380CC5", 120, 100, 2)]}
    assert run(Tracker(TrackerConfig(min_frames=3)), frames) == []
