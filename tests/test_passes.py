"""A photo read as a vehicle's pass (passes.py, `bench ... --passes`)."""

from __future__ import annotations

from datetime import datetime, timezone

import cv2
import numpy as np

from edge_agent.config import ReaderConfig, TrackerConfig
from edge_agent.vision.detect import TextLinePlateDetector
from edge_agent.vision.passes import END_SCALE, RISE, drive_away, read_pass
from edge_agent.vision.read import make_reader
from edge_agent.records import Box
from edge_agent.vision.track import Tracker

try:
    from datasets import DATASETS, require
except ImportError:  # tests/ imported as a package
    from tests.datasets import DATASETS, require

US_PHOTOS = DATASETS / "openalpr-benchmarks" / "endtoend" / "us"


def labelled(name: str) -> tuple[np.ndarray, Box, str]:
    image = cv2.imread(str(require(US_PHOTOS) / f"{name}.jpg"))
    _, x, y, w, h, plate = (US_PHOTOS / f"{name}.txt").read_text().splitlines()[0].split("\t")
    return image, Box(int(x), int(y), int(w), int(h)), plate


def test_a_pass_starts_on_the_photo_and_drives_away():
    image, plate, _ = labelled("wts-lg-000029")
    frames = list(drive_away(image, plate, 10))
    assert len(frames) == 10 and all(f.shape == image.shape for f in frames)
    assert np.array_equal(frames[0], image)
    # Last frame: the plate at END_SCALE of its size, RISE of the height higher up.
    h = image.shape[0]
    px, py = plate.center
    s = END_SCALE
    y0 = round(py - RISE * h - s * plate.h / 2)
    x0 = round(px - s * plate.w / 2)
    small = frames[-1][y0:y0 + round(s * plate.h), x0:x0 + round(s * plate.w)]
    expected = cv2.resize(image[plate.y:plate.y + plate.h, plate.x:plate.x + plate.w], small.shape[1::-1],
                          interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - expected.astype(int)).mean() < 12
    # The space the smaller scene leaves (64% of the frame) is its edge pixels stretched,
    # not a black border for the detector to find edges on.
    def black(picture):
        return (picture.reshape(-1, 3) == 0).all(axis=1).mean()

    assert black(frames[-1]) <= black(image) + 0.01


def test_a_photo_read_as_a_pass_is_one_vehicle_with_its_plate():
    image, plate, text = labelled("wts-lg-000029")
    cfg = ReaderConfig()
    tracker = Tracker(TrackerConfig())
    result = read_pass(image, plate, 12, datetime.now(timezone.utc), "test", TextLinePlateDetector(cfg),
                       make_reader(cfg), tracker)
    assert result.frames == 12
    # Read in many frames (one of them a character off, 4YE132, with the
    # detector of 2026-12-07: the vote outweighs it), reported once, with the
    # frames it was seen in (beside it, the phone number on the rear window
    # may be another "vehicle").
    assert sum(r.text == text for r in result.frame_reads) >= 5
    plates = [v for v in result.vehicles if v.text == text]
    assert len(plates) == 1 and plates[0].frames >= 6
    assert tracker.open_tracks == 0
