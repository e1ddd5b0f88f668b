"""Following: between whole-frame scans, a stream is scanned only around the plates in view."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
import pytest

from edge_agent.config import ReaderConfig
from edge_agent.vision.detect import TextLinePlateDetector
from edge_agent.vision import text_detector
from edge_agent.vision.follow import Follower
from edge_agent.records import Box, Frame, PlateCandidate

try:
    from datasets import highway_frames
except ImportError:  # tests/ imported as a package
    from tests.datasets import highway_frames

CFG = ReaderConfig(detector="float")
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module", name="highway_frames")
def first_highway_frames() -> list[np.ndarray]:
    return highway_frames(40)


@pytest.fixture(scope="module")
def detector() -> TextLinePlateDetector:
    return TextLinePlateDetector(CFG)


def frame(image: np.ndarray, seconds: float, index: int = 0) -> Frame:
    return Frame(image, index, T0 + timedelta(seconds=seconds), "highway")


def near(a: PlateCandidate, found: list[PlateCandidate]) -> bool:
    return any(a.box.iou(b.box) > 0.7 for b in found)


def travel(a: PlateCandidate, b: PlateCandidate) -> float:
    """How far apart two rows are, in plate widths."""
    (ax, ay), (bx, by) = a.box.center, b.box.center
    return float(np.hypot(ax - bx, ay - by)) / max(a.box.w, b.box.w)


def test_a_window_sees_what_the_whole_scan_sees(highway_frames, detector):
    image = highway_frames[20]
    whole = detector.text_detector(image)
    assert len(whole) >= 4
    for line in whole:
        x0, y0 = line.quad.min(axis=0)
        x1, y1 = line.quad.max(axis=0)
        h = y1 - y0
        window = Box(int(x0 - 2 * h), int(y0 - 2 * h), int(x1 - x0 + 4 * h), int(y1 - y0 + 4 * h))
        inside = detector.text_detector(image, windows=[window])
        # Same pixels on the same 32-px grid; the model sees less around
        # the row (2 rows, FOLLOW_MARGIN_ROWS), which moves a corner by up
        # to ~0.1 row (3 px of 31 here; 1 px with 4 rows around).
        assert min(np.abs(other.quad - line.quad).max() for other in inside) <= 0.15 * h


def test_frames_between_whole_scans_follow_the_plates_in_view(highway_frames):
    detector = TextLinePlateDetector(CFG)
    whole = detector(frame(highway_frames[0], 0.0))
    assert detector.scans.full == 1 and len(whole) >= 4
    for i in range(1, 13):  # 24 fps: following from 1/24 s, for under full_scan_seconds
        followed = detector(frame(highway_frames[i], i / 24, i))
    assert detector.scans.full == 1 and detector.scans.follow == 12
    # The plates of the whole scan are still found, where they have moved
    # to (a car entering at the frame's edge since then is not: the next
    # whole scan finds it).
    again = TextLinePlateDetector(CFG)(frame(highway_frames[12], 0.0))
    moved = [c for c in again if any(travel(c, w) < 1.0 for w in whole)]
    assert len(moved) >= 3 and all(near(c, followed) for c in moved)
    # Half a second after following began, the next whole scan is due.
    detector(frame(highway_frames[13], 13 / 24 + 0.001, 13))
    assert detector.scans.full == 2


def test_a_slow_unit_on_a_live_camera_follows_too(highway_frames):
    # The frame after a whole scan comes as long after it as the scan took;
    # half a second here. Once each row's motion is known from two frames,
    # windows are centred where it is heading and stay small.
    detector = TextLinePlateDetector(CFG)
    times = [0.0, 0.5, 1.0, 1.15, 1.3]
    found = [detector(frame(highway_frames[round(t * 24)], t, round(t * 24))) for t in times]
    assert detector.scans.full == 2 and detector.scans.follow == 3
    again = TextLinePlateDetector(CFG)(frame(highway_frames[round(1.3 * 24)], 0.0))
    moved = [c for c in again if any(travel(c, w) < 1.0 for w in found[-2])]
    assert len(moved) >= 3 and all(near(c, found[-1]) for c in moved)


def test_a_vehicle_coming_into_view_is_found_at_the_next_whole_scan(highway_frames):
    detector = TextLinePlateDetector(CFG)
    image = highway_frames[10]
    top = image.copy()
    top[360:] = 128  # the lower half's vehicles not yet in view
    assert all(c.box.y < 360 for c in detector(frame(top, 0.0)))
    # They come into view; until the next whole scan only the upper ones are followed.
    followed = detector(frame(image, 0.1))
    assert all(c.box.y < 360 for c in followed)
    found = detector(frame(image, 0.6))  # half a second after following began
    assert any(c.box.y > 360 for c in found)
    assert detector.scans.full == 2 and detector.scans.follow == 1


def test_whole_scans_for_stills_clock_steps_long_gaps_and_crowds(highway_frames):
    image = highway_frames[0]
    detector = TextLinePlateDetector(CFG)
    detector(Frame(image, 0, T0, "photos", still=True))
    assert detector.scans.full == detector.scans.follow == 0  # a still is always scanned whole
    detector(frame(image, 0.0))
    detector(frame(image, -1.0))  # clock stepped back: start over
    detector(frame(image, -0.96))
    assert (detector.scans.full, detector.scans.follow) == (2, 1)
    detector(frame(image, 5.0))  # the rows of 6 s ago say nothing of now
    assert detector.scans.full == 3
    # Rows so many that their windows would cover most of the frame: cheaper whole.
    follower = Follower(0.5)
    follower.update([Box(x, y, 200, 40) for x in range(0, 1280, 320) for y in range(0, 720, 180)], T0, whole=True)
    assert follower.windows(T0 + timedelta(seconds=0.04), 1280, 720) is None
    # full_scan_seconds = 0 scans every frame whole.
    always = TextLinePlateDetector(replace(CFG, full_scan_seconds=0))
    for i in range(3):
        always(frame(image, i / 24))
    assert (always.scans.full, always.scans.follow) == (3, 0)


def test_a_row_s_window_is_centred_where_it_is_heading():
    follower = Follower(0.5)
    follower.update([Box(100, 100, 80, 20)], T0, whole=True)
    follower.update([Box(100, 110, 80, 20)], T0 + timedelta(seconds=0.1), whole=False)  # 100 px/s down
    assert follower.rows[0].velocity == (0.0, 100.0)
    (window,) = follower.windows(T0 + timedelta(seconds=0.5), 1280, 720)
    # Expected 40 px further down; margin (2 + 4 x 0.4) rows = 72 px.
    assert window.center == (140.0, 160.0) and window.h == 20 + 2 * 72
    # A row seen once may be heading anywhere: (2 + 14 x 0.4) rows = 152 px around it.
    follower = Follower(0.5)
    follower.update([Box(600, 300, 80, 20)], T0, whole=True)
    (window,) = follower.windows(T0 + timedelta(seconds=0.4), 1280, 720)
    assert window.center == (640.0, 310.0) and window.h == 20 + 2 * 152


def test_the_next_whole_scan_is_due_counting_from_the_frame_after_the_last():
    follower = Follower(0.5)
    follower.update([Box(100, 100, 80, 20)], T0, whole=True)
    at = T0 + timedelta(seconds=0.6)  # the whole scan took 0.6 s: still the next frame follows
    assert follower.windows(at, 1280, 720) is not None
    follower.update([Box(100, 100, 80, 20)], at, whole=False)
    assert follower.windows(at + timedelta(seconds=0.45), 1280, 720) is not None
    assert follower.windows(at + timedelta(seconds=0.5), 1280, 720) is None


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (640, 480), (1000, 700)])
def test_a_window_gets_the_pixels_of_the_whole_frame_resized(highway_frames, size):
    # Resized on its own where the grid falls on whole pixels, cut from the
    # whole frame resized elsewhere (1000x700 -> 992x704): the same pixels.
    image = cv2.resize(highway_frames[0], size)
    rw, rh, how = text_detector.detector_size(image, 1024, upscale=False)
    whole = text_detector._resized(image, 1024, upscale=False)
    pixels = text_detector._window_pixels(image, rw, rh, how)
    for x0, y0, x1, y1 in ((0, 0, 64, 64), (96, 160, 384, 320), (rw - 128, rh - 96, rw, rh)):
        assert np.array_equal(pixels(x0, y0, x1, y1), whole[y0:y1, x0:x1])
