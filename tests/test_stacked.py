"""Stacked characters beside a plate's serial are no part of its registration (vision/stacked.py).

The class: two small characters one above the other before or after the
serial (U/S on "United We Stand" plates, Minnesota's H/C, Wyoming's county
and suffix). Checked on rendered plates of the class and of every other
class (models/train/render_us.py), and on real crops of the benchmark.
"""

from __future__ import annotations

from datetime import datetime, timezone
import cv2
import numpy as np
import pytest

from edge_agent.config import ReaderConfig
from edge_agent.records import Frame
from edge_agent.vision.detect import TextLinePlateDetector
from edge_agent.vision.read import make_reader, read_frame
from edge_agent.vision.stacked import glyphs

try:
    from datasets import DATASETS, require
    from rendered import render_us
except ImportError:  # tests/ imported as a package
    from tests.datasets import DATASETS, require
    from tests.rendered import render_us

CROPS = DATASETS / "openalpr-benchmarks" / "ocr" / "us"
SEEDS = range(8)
CFG = ReaderConfig()


@pytest.fixture(scope="module")
def reader():
    return make_reader(CFG)


def test_a_stacked_pair_is_found_beside_the_serial_and_nowhere_else():
    renderer = render_us()
    for seed in SEEDS:
        plate, text = renderer.render_us(seed, "stacked")
        seen = glyphs(plate)
        assert seen is not None and seen.stacked and seen.main == len(text), (seed, text, seen)
    for kind in ("serial", "all_digits", "short", "vanity"):
        for seed in SEEDS:
            plate, text = renderer.render_us(seed, kind)
            seen = glyphs(plate)
            assert seen is not None and not seen.stacked and seen.main == len(text), (kind, seed, text, seen)


def test_glyphs_of_a_blank_or_tiny_image_are_none():
    assert glyphs(np.full((60, 120, 3), 200, np.uint8)) is None
    assert glyphs(np.zeros((4, 4, 3), np.uint8)) is None


def test_a_rendered_plate_with_a_stacked_pair_is_read_without_it(reader):
    # Without the glyphs' say the reader took in a character of the pair on
    # all eight (233774, 1EG511, TA636B, ...), as a crop, in a still of the road
    # and in a camera's frame.
    renderer = render_us()
    detector = TextLinePlateDetector(CFG)
    crops, scenes, streams = [], [], []
    for seed in SEEDS:
        plate, text = renderer.render_us(seed, "stacked")
        crops.append((text, [r.text for r in reader.read_crop(plate)][:1]))
        scene, text, _ = renderer.road_scene(seed, "stacked")
        still = Frame(scene, 0, datetime.now(timezone.utc), "rendered", still=True)
        scenes.append((text, [r.text for r in read_frame(still, detector, reader)][:1]))
        # A camera's frame: one look, the plate around each row looked at.
        frame = Frame(scene, 0, datetime.now(timezone.utc), "rendered")
        streams.append((text, [r.text for r in reader(frame, detector(frame))][:1]))
    assert sum(got == [text] for text, got in crops) >= 7, crops
    assert sum(got == [text] for text, got in scenes) >= 7, scenes
    assert sum(got == [text] for text, got in streams) >= 7, streams


@pytest.mark.parametrize("name, registration", [("ma912.png", "5555"), ("wv1056.png", "7524"),
                                                ("wy712.png", "4779")])
def test_real_plates_with_a_stacked_pair_are_read_as_their_registration(reader, name, registration):
    # Massachusetts' and West Virginia's U/S, Wyoming's A/C after 4 779:
    # read US5555, US7524 and 4779A before.
    image = cv2.imread(str(require(CROPS / name)))
    assert image is not None, CROPS / name
    assert [r.text for r in reader.read_crop(image)][:1] == [registration]
