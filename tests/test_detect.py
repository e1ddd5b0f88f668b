"""Plate-row detection: stills are enlarged before detection, streams are not;
boxes on one row are joined into one."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import cv2
import numpy as np
import pytest

from edge_agent.config import ReaderConfig
from edge_agent.vision.detect import TextLinePlateDetector, join_rows, quad_size
from edge_agent.vision.text_detector import TextBox, detector_input
from edge_agent.vision.read import make_reader
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
    # 6 px capitals: both detector models box them under 12 px (7.6-8.7).
    image = _small_text(6)
    lenient = TextLinePlateDetector(replace(CFG, min_plate_height=6))
    # Enlarged, the detector finds the 7 px row...
    assert lenient.candidates(image, upscale=True)
    # ...and the default detector drops it, as too small to read.
    rows = TextLinePlateDetector(CFG).candidates(image, upscale=True)
    assert all(quad_size(c.quad)[1] >= CFG.min_plate_height for c in rows)
    assert not rows


@pytest.mark.parametrize("model", ["float", "int8"])
def test_a_small_photo_is_found_whole_once_enlarged(model):
    # car3 is 904x768; at its own size neither model finds Utah's 1A MW240
    # whole (the float one not at all, the int8 one only its 240 on an AVX2
    # EPYC, its MW240, 52% of the plate's width, on a VNNI Xeon).
    photo = require(US_PHOTOS) / "car3.jpg"
    image = cv2.imread(str(photo))
    x, y, w, h = (int(v) for v in (US_PHOTOS / "car3.txt").read_text().split("\t")[1:5])
    detector = TextLinePlateDetector(replace(CFG, detector=model))

    def covered(candidates) -> float:
        on_plate = [c.box for c in candidates if y <= c.box.center[1] <= y + h]
        return max((min(x + w, b.x + b.w) - max(x, b.x)) / w for b in on_plate) if on_plate else 0.0

    assert covered(detector.candidates(image)) < 0.6
    assert covered(detector.candidates(image, upscale=True)) > 0.75
    frame = Frame(image, 0, datetime.now(timezone.utc), str(photo), still=True)
    reads = make_reader(CFG)(frame, detector(frame))
    # Read whole on a VNNI Xeon; on an AVX2 EPYC both models box it from the A
    # on, a few pixels short of the 1 (models/README.md: boxes move by a pixel
    # between CPUs' kernels).
    assert reads[0].text in ("1AMW240", "AMW240")


def _box(*corners: tuple[float, float]) -> TextBox:
    return TextBox(np.array(corners, np.float32), 0.8)


def test_a_tilted_row_split_at_its_gap_is_joined_but_text_off_its_line_is_not():
    # "6380" and "CCS" of a plate tilted ~6 degrees: the second box carries
    # on the first's top and bottom edges.
    left = _box((0, 0), (100, 10), (100, 50), (0, 40))
    right = _box((125, 13), (195, 20), (195, 60), (125, 53))
    assert len(join_rows([left, right])) == 1
    # A taller number sitting higher, a gap away: as near, but not on the row.
    number = _box((125, -6), (185, -6), (185, 44), (125, 44))
    level = _box((0, 10), (100, 10), (100, 50), (0, 50))
    assert len(join_rows([level, number])) == 2


def test_a_vans_fleet_number_beside_its_plate_is_not_read_as_part_of_it():
    # wts-lg-000163: NY's CDK-575 on a van with a taller 13 painted a
    # character's width past the plate frame; joined to the plate's row it
    # read CDK57513.
    photo = require(US_PHOTOS) / "wts-lg-000163.jpg"
    image = cv2.imread(str(photo))
    frame = Frame(image, 0, datetime.now(timezone.utc), str(photo), still=True)
    reads = make_reader(CFG)(frame, TextLinePlateDetector(CFG)(frame))
    assert reads[0].text == "CDK575"


def test_a_stream_frames_whole_scan_runs_in_two_tiles_and_finds_the_rows_one_run_finds():
    # Two tiles bound the detector's arena (detect.WHOLE_SCAN_MAX_OVERLAP); a
    # frame so small that their overlap would cost more is scanned whole.
    from datasets import HIGHWAY

    detector = TextLinePlateDetector(CFG)
    assert detector.whole_scan_tile(np.zeros((720, 1280, 3), np.uint8)) == 672 * 576
    assert detector.whole_scan_tile(np.zeros((480, 640, 3), np.uint8)) is None
    cap = cv2.VideoCapture(str(require(HIGHWAY)))
    frames = []
    for index in range(0, 120):
        ok, image = cap.read()
        if ok and index % 15 == 0:
            frames.append(image)
    cap.release()
    rows = tiled = 0
    for image in frames:
        whole = detector.candidates(image)
        two = detector.candidates(image, max_pixels=detector.whole_scan_tile(image))
        rows += len(whole)
        # Each row of the one run is found by the tiles. Its ends may move a
        # few pixels: the model sees past a row, and a tile shows less.
        tiled += sum(any(_overlap(c.box, t.box) >= 0.7 for t in two) for c in whole)
    assert rows >= 8 and tiled == rows, (tiled, rows)


def _overlap(a, b) -> float:
    w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    inter = max(0, w) * max(0, h)
    return inter / (a.w * a.h + b.w * b.h - inter)
