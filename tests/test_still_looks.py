"""A still with no plate at its first look is looked at closer (detect.STILL_LOOKS, read.read_frame)."""

from __future__ import annotations

from datetime import datetime, timezone

import cv2
import numpy as np

from edge_agent.broker import LocalBroker
from edge_agent.config import ReaderConfig, load_config
from edge_agent.detect import TextLinePlateDetector
from edge_agent.read import Ranked, make_reader, read_frame, vote_looks
from edge_agent.records import Box, Frame, PlateRead

try:
    from agent_configs import write_config
    from datasets import DATASETS, require
    from mqtt_helpers import alerts_of_a_run
except ImportError:  # tests/ imported as a package
    from tests.agent_configs import write_config
    from tests.datasets import DATASETS, require
    from tests.mqtt_helpers import alerts_of_a_run

US_PHOTOS = DATASETS / "openalpr-benchmarks" / "endtoend" / "us"
CFG = ReaderConfig()
NOW = datetime.now(timezone.utc)


def ranked(text: str, confidence: float, box: Box, look: int, alone: bool = True, rank: int = 2) -> Ranked:
    read = PlateRead(text, confidence, box, 0, NOW, np.zeros((1, 1, 3), np.uint8))
    return Ranked((rank, alone, confidence), look, read)


PLATE = Box(96, 145, 90, 27)
PLATE_CLOSER = Box(95, 143, 91, 30)  # the same row, boxed a little larger when enlarged


def test_the_first_looks_read_of_a_row_stands_against_the_closer_looks():
    # 4B2 1875 with its inspection stickers between the groups, read as an 8
    # by both closer looks.
    reads = vote_looks([ranked("4B21875", .99, PLATE, 0), ranked("4B281875", .955, PLATE_CLOSER, 1),
                        ranked("4B281875", .954, PLATE, 2)])
    assert [r.text for r in reads] == ["4B21875"]


def test_a_row_the_first_look_missed_takes_the_closer_looks_surest_text():
    # A pale plate found only when enlarged, read differently at the two closer looks.
    reads = vote_looks([ranked("PE3RZX", .6, PLATE, 1), ranked("PE3R2X", .9, PLATE_CLOSER, 2)])
    assert [r.text for r in reads] == ["PE3R2X"]
    # Beside a row read once by the first look, more surely than either.
    sign = Box(300, 40, 80, 20)
    reads = vote_looks([ranked("EXIT79B", .99, sign, 0), ranked("PE3R2X", .7, PLATE, 1),
                        ranked("PE3R2X", .7, PLATE_CLOSER, 2)])
    assert [r.text for r in reads] == ["PE3R2X", "EXIT79B"]


def test_rows_of_one_look_are_never_merged():
    # A plate and a frame line overlapping it, both found at the first look.
    frame_line = Box(96, 160, 90, 20)
    assert PLATE.iou(frame_line) > 0.3
    reads = vote_looks([ranked("CYZ5139", 1.0, PLATE, 0), ranked("R0UST0N7", .77, frame_line, 0)])
    assert [r.text for r in reads] == ["CYZ5139", "R0UST0N7"]


def test_a_row_read_at_every_look_outranks_one_read_once_and_stands_alone_by_most_of_its_support():
    # The plate is stacked on a state name at the first look only; a dealer
    # line seen at one closer look stands alone.
    dealer = Box(100, 100, 70, 15)
    reads = vote_looks([ranked("CYZ5139", 1.0, PLATE, 0, alone=False), ranked("CYZ5139", 1.0, PLATE_CLOSER, 1),
                        ranked("CYZ5139", 1.0, PLATE, 2), ranked("R0UST0N7", .79, dealer, 2)])
    assert [r.text for r in reads] == ["CYZ5139", "R0UST0N7"]


class CountingDetector(TextLinePlateDetector):
    closer_calls = 0

    def closer_looks(self, frame):
        self.closer_calls += 1
        return super().closer_looks(frame)


def read_photo(name: str, still: bool = True) -> tuple[list[str], CountingDetector]:
    photo = require(US_PHOTOS) / name
    frame = Frame(cv2.imread(str(photo)), 0, NOW, str(photo), still=still)
    detector = CountingDetector(CFG)
    return [r.text for r in read_frame(frame, detector, make_reader(CFG))], detector


def test_a_pale_plate_the_first_look_misses_is_read_closer():
    photo = require(US_PHOTOS) / "car9.jpg"
    frame = Frame(cv2.imread(str(photo)), 0, NOW, str(photo), still=True)
    assert make_reader(CFG)(frame, TextLinePlateDetector(CFG)(frame)) == []
    texts, detector = read_photo("car9.jpg")
    assert texts[:1] == ["PE3R2X"] and detector.closer_calls == 1


def test_a_still_read_at_its_first_look_is_not_looked_at_again():
    texts, detector = read_photo("wts-lg-000047.jpg")
    assert texts == ["CLT0108"] and detector.closer_calls == 0


def test_closer_looks_can_be_turned_off(tmp_path):
    photo = require(US_PHOTOS) / "car9.jpg"
    frame = Frame(cv2.imread(str(photo)), 0, NOW, str(photo), still=True)
    cfg = load_config(write_config(tmp_path, source=photo.parent, port=1883, hotlist="plate\nAB1234\n",
                                    reader="closer_looks = false")).reader
    assert cfg.closer_looks is False
    assert read_frame(frame, TextLinePlateDetector(cfg), make_reader(cfg)) == []


def test_stream_frames_get_one_look_even_with_no_plate():
    texts, detector = read_photo("car9.jpg", still=False)
    assert texts == [] and detector.closer_calls == 0


def test_the_agent_on_an_image_folder_alerts_on_a_plate_only_a_closer_look_reads(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "car9.jpg").symlink_to(require(US_PHOTOS) / "car9.jpg")  # read in place
    with LocalBroker() as broker:
        config = write_config(tmp_path, source=folder, port=broker.port,
                              hotlist="plate,category,ref\nPE3R2X,stolen-vehicle,R-9\n",
                              tracker="min_frames = 1")
        _, alerts = alerts_of_a_run(config, broker.host, broker.port, 1)
    assert [a["plate"] for a in alerts] == ["PE3R2X"]
