"""Two-row plates (edge_agent/vision/two_rows.py), rendered (models/train/render_two_rows.py):
Brazilian motorcycle plates, old and Mercosul, and the UK's square rear plates,
read as stills and through a stream to one vehicle."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from edge_agent.config import ReaderConfig, TrackerConfig
from edge_agent.vision.detect import TextLinePlateDetector
from edge_agent.vision.ocr import PLATE_CHARSET, TextLine, ctc_collapse
from edge_agent.vision.read import make_reader, read_frame
from edge_agent.records import Frame
from edge_agent.vision.track import Tracker
from edge_agent.vision.two_rows import joined_line, joined_quad, pairs

try:
    from rendered import render_two_rows
except ImportError:  # tests/ imported as a package
    from tests.rendered import render_two_rows

CFG = ReaderConfig()


@pytest.fixture(scope="module")
def reader():
    return TextLinePlateDetector(CFG), make_reader(CFG)


@pytest.mark.parametrize("kind", ["br_old", "br_mercosul", "uk"])
def test_a_two_row_plate_is_read_as_one_registration(kind, reader):
    # Before two_rows.py: CXM over 2488 read 2488, AGN over 0R95 read BRASIL.
    renderer = render_two_rows()
    detector, plate_reader = reader
    got = []
    for seed in range(8):
        scene, text, _ = renderer.road_scene(seed, kind)
        reads = read_frame(Frame(scene, 0, datetime.now(timezone.utc), kind, still=True), detector, plate_reader)
        got.append((text, [r.text for r in reads]))
    assert sum(reads[:1] == [text] for text, reads in got) >= 7, got
    # Neither row is left to stand as a read of its own.
    for text, reads in got:
        assert not any(r in (text[:3], text[3:], text[:4], text[4:]) for r in reads), (text, reads)


def test_a_two_row_plate_on_a_stream_is_one_vehicle(reader):
    renderer = render_two_rows()
    detector, plate_reader = reader
    scene, text, _ = renderer.road_scene(1, "br_mercosul")
    tracker = Tracker(TrackerConfig())
    t0 = datetime.now(timezone.utc)
    vehicles = []
    for i in range(6):
        frame = Frame(scene, i, t0 + timedelta(seconds=0.1 * i), "stream")
        vehicles += tracker.update(plate_reader(frame, detector(frame)), frame.captured_at)
    vehicles += tracker.flush()
    assert [v.text for v in vehicles if not v.letters_only] == [text]


def _one_hot(text: str, repeat: int = 2) -> np.ndarray:
    """CTC steps reading `text`: each character for `repeat` steps with a blank between."""
    columns = {ch: i + 1 for i, ch in enumerate(PLATE_CHARSET)}
    rows = []
    for ch in text:
        for _ in range(repeat):
            rows.append(columns[ch])
        rows.append(0)
    steps = np.zeros((len(rows), len(PLATE_CHARSET) + 1), np.float32)
    steps[np.arange(len(rows)), rows] = 1.0
    return steps


def test_joined_rows_read_top_then_bottom_even_where_the_rows_meet_in_one_character():
    # ABC over C12: without a blank between the steps, CTC would merge the two Cs.
    top = TextLine("ABC", 0.9, (0.9, 0.9, 0.9), raw="ABC", steps=_one_hot("ABC")[:-1])
    bottom = TextLine("C12", 0.8, (0.8, 0.8, 0.8), raw="C12", steps=_one_hot("C12"))
    line = joined_line(top, bottom)
    assert line.text == "ABCC12" and line.raw == "ABC C12" and len(line.char_probs) == 6
    assert ctc_collapse(line.steps.argmax(axis=1), ["", *PLATE_CHARSET]) == "ABCC12"


def test_rows_pair_only_when_stacked_like_a_plates_rows():
    def quad(x, y, w, h):
        return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)

    top, bottom = quad(100, 100, 60, 30), quad(95, 138, 80, 30)
    far, small, aside = quad(100, 200, 60, 30), quad(100, 138, 40, 12), quad(300, 138, 60, 30)
    assert pairs([top, bottom], [0, 0]) == [(0, 1)]
    assert pairs([top, far], [0, 0]) == []  # two rows' height apart: two lines, not one plate
    assert pairs([top, small], [0, 0]) == []  # a state name or a sticker under a row
    assert pairs([top, aside], [0, 0]) == []  # beside, not under
    assert pairs([top, bottom], [0, 1]) == []  # found at two looks of a still
    assert joined_quad(top, bottom).tolist() == quad(95, 100, 80, 68).tolist()
