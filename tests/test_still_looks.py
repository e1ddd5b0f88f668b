"""A still with no plate at its first look is looked at closer (detect.STILL_LOOKS, read.read_frame)."""

from __future__ import annotations

from datetime import datetime, timezone

import cv2
import numpy as np
import pytest

from edge_agent.commands.broker import LocalBroker
from edge_agent.commands.cli import bound_heap
from edge_agent.config import ReaderConfig, load_config
from edge_agent.vision.detect import STILL_LOOKS, TextLinePlateDetector
from edge_agent.vision.text_detector import TILE_OVERLAP, detector_pixels, tiles
from edge_agent.vision.rank import Ranked, vote_looks
from edge_agent.vision.read import make_reader, read_frame
from edge_agent.records import Box, Frame, PlateRead

try:
    from agent_configs import write_config
    from datasets import DATASETS, require
    from mqtt_helpers import alerts_of_a_run
    from test_quantized_models import _resident_mb
except ImportError:  # tests/ imported as a package
    from tests.agent_configs import write_config
    from tests.datasets import DATASETS, require
    from tests.mqtt_helpers import alerts_of_a_run
    from tests.test_quantized_models import _resident_mb

US_PHOTOS = DATASETS / "openalpr-benchmarks" / "endtoend" / "us"
# Which rows a look finds depends on the detector model, and `auto` picks
# INT8 or float by CPU, so these tests name the float model, whose rows are
# the same on every CPU. With it, car9's pale plate is found at the first
# look, and missed there once the photo is shrunk to PALE_SCALE (from 0.5
# down to 0.4 at least), where a closer look finds it again.
CFG = ReaderConfig(detector="float")
PALE_SCALE = 0.45
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
    reads = vote_looks([ranked("EXIT79B", .99, sign, 0), ranked("PE3R2X", .93, PLATE, 1),
                        ranked("PE3R2X", .91, PLATE_CLOSER, 2)])
    assert [r.text for r in reads] == ["PE3R2X", "EXIT79B"]


def test_a_row_only_the_closer_looks_find_must_be_read_surely():
    # A 14 px line of a truck's lettering, found at the closest look only,
    # read as I6SME at 0.66 on a photo whose plate was painted out.
    lettering = Box(111, 156, 40, 14)
    assert vote_looks([ranked("I6SME", .66, lettering, 2)]) == []
    assert vote_looks([ranked("I6SME", .66, lettering, 1), ranked("I6SME", .66, lettering, 2)]) == []
    # Read by the first look, the same confidence stands: the first look's
    # reads answer to min_confidence only.
    assert [r.text for r in vote_looks([ranked("I6SME", .66, lettering, 0)])] == ["I6SME"]


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
                        ranked("CYZ5139", 1.0, PLATE, 2), ranked("R0UST0N7", .99, dealer, 2)])
    assert [r.text for r in reads] == ["CYZ5139", "R0UST0N7"]


class CountingDetector(TextLinePlateDetector):
    closer_calls = 0

    def closer_looks(self, frame):
        self.closer_calls += 1
        return super().closer_looks(frame)


def car9(scale: float = PALE_SCALE) -> np.ndarray:
    image = cv2.imread(str(require(US_PHOTOS) / "car9.jpg"))
    return image if scale == 1.0 else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def read_car9(scale: float = PALE_SCALE, still: bool = True) -> tuple[list[str], CountingDetector]:
    frame = Frame(car9(scale), 0, NOW, "car9.jpg", still=still)
    detector = CountingDetector(CFG)
    return [r.text for r in read_frame(frame, detector, make_reader(CFG))], detector


def test_a_pale_plate_the_first_look_misses_is_read_closer():
    frame = Frame(car9(), 0, NOW, "car9.jpg", still=True)
    assert make_reader(CFG)(frame, TextLinePlateDetector(CFG)(frame)) == []
    texts, detector = read_car9()
    assert texts[:1] == ["PE3R2X"] and detector.closer_calls == 1


def test_a_still_read_at_its_first_look_is_not_looked_at_again():
    texts, detector = read_car9(scale=1.0)
    assert texts == ["PE3R2X"] and detector.closer_calls == 0


def test_closer_looks_can_be_turned_off(tmp_path):
    frame = Frame(car9(), 0, NOW, "car9.jpg", still=True)
    cfg = load_config(write_config(tmp_path, source=tmp_path, port=1883, hotlist="plate\nAB1234\n",
                                    reader='closer_looks = false\ndetector = "float"')).reader
    assert cfg.closer_looks is False
    assert read_frame(frame, TextLinePlateDetector(cfg), make_reader(cfg)) == []


@pytest.mark.parametrize("size, budget", [((1600, 1216), 786432), ((1280, 960), 786432), ((1600, 896), 589824),
                                          ((1280, 1600), 1048576), ((1024, 768), 786432)])
def test_a_closer_look_is_cut_into_overlapping_tiles_no_larger_than_the_first_look(size, budget):
    rw, rh = size
    cut = tiles(rw, rh, budget)
    owners = np.zeros((rh, rw), int)
    for (x0, y0, x1, y1), (cx0, cy0, cx1, cy1) in cut:
        assert (x1 - x0) * (y1 - y0) <= budget and x0 % 32 == y0 % 32 == x1 % 32 == y1 % 32 == 0
        assert x0 <= cx0 < cx1 <= x1 and y0 <= cy0 < cy1 <= y1
        owners[cy0:cy1, cx0:cx1] += 1
        # A row up to TILE_OVERLAP wide centred in the core lies whole in the tile.
        half = TILE_OVERLAP // 2
        assert (cx0 == 0 or cx0 - half >= x0) and (cx1 == rw or cx1 + half <= x1)
        assert (cy0 == 0 or cy0 - half >= y0) and (cy1 == rh or cy1 + half <= y1)
    assert (owners == 1).all()  # every pixel is in exactly one core
    if rw * rh <= budget:
        assert [t.window for t in cut] == [(0, 0, rw, rh)]


def test_a_closer_look_too_small_for_overlapping_tiles_is_scanned_whole():
    # detect_max_side at its floor (320): the closest look is 512x384, and
    # no tile wider than the overlap fits a 320x224 budget.
    assert [t.window for t in tiles(512, 384, 320 * 224)] == [(0, 0, 512, 384)]
    frame = Frame(car9(scale=1.0), 0, NOW, "car9.jpg", still=True)
    assert isinstance(TextLinePlateDetector(ReaderConfig(detect_max_side=320)).closer_looks(frame), list)


def _tiled_look(plate: Box) -> tuple[float, float, float]:
    """The detector's growth (MB) over car9's tiled 1600-pixel look, and the plate's best IoU tiled and whole."""
    bound_heap()  # as the agent does
    image = car9(scale=1.0)
    detector = TextLinePlateDetector(CFG)
    budget = detector_pixels(image, CFG.detect_max_side, upscale=True)
    detector.candidates(image, upscale=True)
    first_look = _resident_mb()
    side = round(CFG.detect_max_side * STILL_LOOKS[-1])
    tiled = detector.candidates(image, upscale=True, max_side=side, max_pixels=budget)
    grown = _resident_mb() - first_look
    whole = detector.candidates(image, upscale=True, max_side=side)
    return grown, max(plate.iou(c.box) for c in tiled), max(plate.iou(c.box) for c in whole)


def test_closer_looks_in_tiles_find_the_rows_of_a_whole_scan_and_need_no_more_memory():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # In a fresh process: what the tests before left in this one's heap
    # moved the growth measured here (16.7 MB alone, 23.6 once in a full run).
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        grown, tiled, whole = pool.submit(_tiled_look, Box(1029, 490, 119, 59)).result(timeout=300)
    # The tiles box the pale plate as the whole scan does. Rows the model is
    # unsure of (score near box_thresh) may come and go with what else it
    # sees: on the dev photos the reads stayed the same.
    assert whole > 0.7, whole
    assert tiled > 0.7, tiled
    # Scanned whole, the 1600-pixel look grew the detector's arena by ~70 MB.
    assert grown < 20, grown


def test_stream_frames_get_one_look_even_with_no_plate():
    texts, detector = read_car9(still=False)
    assert texts == [] and detector.closer_calls == 0


def test_the_agent_on_an_image_folder_alerts_on_a_plate_only_a_closer_look_reads(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    # Shrunk, and so written out (outside the project), for its pale plate to need the closer look.
    cv2.imwrite(str(folder / "car9.png"), car9())
    with LocalBroker() as broker:
        config = write_config(tmp_path, source=folder, port=broker.port,
                              hotlist="plate,category,ref\nPE3R2X,stolen-vehicle,R-9\n",
                              tracker="min_frames = 1", reader='detector = "float"')
        _, alerts = alerts_of_a_run(config, broker.host, broker.port, 1)
    assert [a["plate"] for a in alerts] == ["PE3R2X"]


def test_photos_of_a_folder_are_one_vehicle_only_if_they_read_alike(tmp_path):
    # wts-lg-000039's VLX039 sits where wts-lg-000041's 5LTA600 does: taken
    # for one vehicle seen twice, the two reads were voted into one, and the
    # listed plate was never alerted. (Snapshots of one passing vehicle
    # still join: test_agent's folders of highway frames.)
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("wts-lg-000039.jpg", "wts-lg-000041.jpg"):
        (folder / name).symlink_to(require(US_PHOTOS) / name)
    with LocalBroker() as broker:
        config = write_config(tmp_path, source=folder, port=broker.port,
                              hotlist="plate,category,ref\nVLX039,stolen-vehicle,R-1\n5LTA600,stolen-vehicle,R-2\n",
                              tracker="min_frames = 1")
        _, alerts = alerts_of_a_run(config, broker.host, broker.port, 2)
    assert sorted(a["plate"] for a in alerts) == ["5LTA600", "VLX039"]


def test_a_near_square_still_is_scanned_in_tiles_no_larger_than_a_4_3_frame():
    # car1 is 600x600: enlarged to 1024x1024 whole, it grew the float
    # detector's arena by 76 MB, and the agent on the US photos to 420 MB.
    detector = TextLinePlateDetector(CFG)
    side = CFG.detect_max_side
    assert detector.still_pixels(np.zeros((720, 1280, 3), np.uint8)) == 1024 * 576  # a 16:9 frame: whole
    assert detector.still_pixels(np.zeros((768, 1024, 3), np.uint8)) == 1024 * 768
    assert detector.still_pixels(np.zeros((600, 600, 3), np.uint8)) == side * side * 3 // 4
    photo = require(US_PHOTOS) / "car1.jpg"
    frame = Frame(cv2.imread(str(photo)), 0, NOW, str(photo), still=True)
    plate = (US_PHOTOS / "car1.txt").read_text().split("\t")[-1].strip()
    assert [r.text for r in read_frame(frame, detector, make_reader(CFG))][:1] == [plate]
