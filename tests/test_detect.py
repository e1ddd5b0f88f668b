"""Plate-row detection: stills are enlarged before detection, streams are not."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import cv2
import numpy as np

from edge_agent.config import ReaderConfig
from edge_agent.detect import TextLinePlateDetector, quad_size
from edge_agent.ocr import detector_input
from edge_agent.read import make_reader
from edge_agent.records import Frame

try:
    from datasets import DATASETS, require
except ImportError:  # tests/ imported as a package
    from tests.datasets import DATASETS, require

US_PHOTOS = DATASETS / "openalpr-benchmarks" / "endtoend" / "us"
CFG = ReaderConfig()


def test_detector_input_enlarges_only_when_asked():
    image = np.zeros((360, 480, 3), np.uint8)
    assert detector_input(image, 1024).shape == (1, 3, 352, 480)
    assert detector_input(image, 1024, upscale=True).shape == (1, 3, 768, 1024)
    # A frame larger than max_side is reduced either way.
    big = np.zeros((1080, 1920, 3), np.uint8)
    assert detector_input(big, 1024, upscale=True).shape == detector_input(big, 1024).shape


def _small_text(height_px: int) -> np.ndarray:
    image = np.full((300, 400, 3), 255, np.uint8)
    scale = height_px / 22  # FONT_HERSHEY_SIMPLEX capitals are ~22 px at scale 1
    cv2.putText(image, "AB 1234", (60, 150), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return image


def test_rows_of_an_enlarged_still_are_held_to_min_plate_height_in_its_own_pixels():
    image = _small_text(7)
    lenient = TextLinePlateDetector(replace(CFG, min_plate_height=6))
    # Enlarged, the detector finds the 7 px row...
    assert lenient.candidates(image, upscale=True)
    # ...and the default detector drops it, as too small to read.
    rows = TextLinePlateDetector(CFG).candidates(image, upscale=True)
    assert all(quad_size(c.quad)[1] >= CFG.min_plate_height for c in rows)
    assert not rows


def test_a_small_photo_is_read_whole_once_enlarged():
    # car3 is 904x768; at its own size the detector boxes Utah's 1A MW240
    # short of the 1A.
    photo = require(US_PHOTOS) / "car3.jpg"
    image = cv2.imread(str(photo))
    frame = Frame(image, 0, datetime.now(timezone.utc), str(photo), still=True)
    reads = make_reader(CFG)(frame, TextLinePlateDetector(CFG)(frame))
    assert reads[0].text == "1AMW240"
