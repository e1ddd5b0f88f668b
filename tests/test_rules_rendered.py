"""The reader's rules on rendered examples of their classes (models/train/render_us.py).

Each rule in rank.py and verify.py names the class of plates it lets
through or the class of scene text it keeps out. Here each is checked on
examples of that class drawn on a car in a road frame, not on the one
photo it was first seen on:

| class | rule | what must hold |
|---|---|---|
| serial (1ABC234, ABC1234) | formats, consensus | read exactly |
| all digits (211907, 697-241) | ALL_DIGITS_MIN_CONFIDENCE; a dash alone is no date | read exactly |
| four characters (4127, BW27) | SHORT_MIN_CONFIDENCE | read exactly |
| letters alone (GWAGEN) | LETTERS_ONLY_MIN_CONFIDENCE; a closed panel | read exactly |
| a camera's date or time | _DATE, _STAMP_MARKS (plate_rank 0) | read as plate-like text, never kept |
| a copyright caption | _CAPTION_MARK (plate_rank 0); an open panel | read as plate-like text, never kept |
| a fleet number, a badge | verify: open panel; all digits must be closed | never kept |
| a sign's stacked lines | verify: stacked on an open board, no format | never kept |
| a line in two sizes | verify.two_heights | not kept where its row holds both |
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import pytest

from edge_agent.config import ReaderConfig
from edge_agent.vision.detect import TextLinePlateDetector
from edge_agent.vision.ocr import rectify
from edge_agent.vision.rank import plate_like, plate_rank
from edge_agent.vision.read import make_reader, read_frame
from edge_agent.records import Frame

try:
    from rendered import render_us
except ImportError:  # tests/ imported as a package
    from tests.rendered import render_us

SEEDS = range(8)
CFG = ReaderConfig()


class RememberingDetector:
    """The detector, each still's candidates found once.

    The tests below look at a scene's candidates and then read the whole
    scene, which finds them again: a still's looks are 1-3 s each here.
    """

    def __init__(self, detector: TextLinePlateDetector):
        self.detector = detector
        self.found: dict[tuple[str, bytes], list] = {}

    def _remembered(self, look: str, frame: Frame, find) -> list:
        key = (look, hashlib.blake2b(frame.image.tobytes(), digest_size=16).digest())
        if key not in self.found:
            self.found[key] = find(frame)
        return list(self.found[key])

    def __call__(self, frame: Frame) -> list:
        return self._remembered("first", frame, self.detector)

    def closer_looks(self, frame: Frame) -> list:
        return self._remembered("closer", frame, self.detector.closer_looks)


@pytest.fixture(scope="module")
def reader():
    return RememberingDetector(TextLinePlateDetector(CFG)), make_reader(CFG)


def reads_of(scene, reader) -> list[str]:
    detector, plate_reader = reader
    return [r.text for r in read_frame(Frame(scene, 0, datetime.now(timezone.utc), "rendered", still=True),
                                       detector, plate_reader)]


@pytest.mark.parametrize("kind", ["serial", "all_digits", "short", "vanity"])
def test_each_plate_class_is_read_through_the_rules_meant_for_it(kind, reader):
    renderer = render_us()
    got = []
    for seed in SEEDS:
        # Every other plate shares its frame with a camera's stamp or a caption.
        stamp = ("", "datetime", "", "copyright", "", "date", "", "time")[seed]
        scene, text, _ = renderer.road_scene(seed, kind, stamp=stamp)
        got.append((text, reads_of(scene, reader)))
    # The plate is the frame's first read; a stamp beside it is never read.
    assert sum(reads[:1] == [text] for text, reads in got) >= 7, got
    assert all(len([r for r in reads if not r.isalpha()]) <= 1 for _, reads in got), got


@pytest.mark.parametrize("stamp", ["date", "time", "copyright"])
def test_scene_text_is_read_as_plate_like_but_never_kept(stamp, reader):
    renderer = render_us()
    detector, plate_reader = reader
    plate_like_rows = 0
    for seed in SEEDS:
        scene, _, _ = renderer.road_scene(seed, None, stamp=stamp)
        frame = Frame(scene, 0, datetime.now(timezone.utc), "rendered", still=True)
        candidates = detector(frame) + detector.closer_looks(frame)
        rows = plate_reader.recognizer([rectify(scene, c.quad) for c in candidates]) if candidates else []
        risky = [row for row in rows if plate_like(row.text, CFG)]
        plate_like_rows += len(risky)
        if stamp in ("date", "time"):
            # The date and clock rules are what keep each one out: read as digits, a plate's length.
            assert all(plate_rank(row.text, row.raw) == 0 for row in risky), [(r.text, r.raw) for r in risky]
        else:
            # Where the mark is read, the caption rule keeps it out; where it is not,
            # the panel check does (the caption sits on open background).
            assert all(plate_rank(row.text, row.raw) == 0 for row in risky if "©" in row.raw)
        assert [r for r in reads_of(scene, reader) if not r.isalpha()] == [], (stamp, seed)
    # The class is a real risk: the model reads it as plate-like text.
    assert plate_like_rows >= len(SEEDS)


@pytest.mark.parametrize("text_on", ["fleet", "badge", "sign"])
def test_text_painted_on_a_vehicle_or_a_sign_is_never_taken_for_a_plate(text_on, reader):
    # fleet: digits on open paint (all-digit rows must be closed, verify.plausible_for);
    # badge: a model's name on the boot lid (GT 350, 2.0 TDI), on open paint;
    # sign: lines of one height stacked on an open board, read as no plate format.
    renderer = render_us()
    for seed in SEEDS:
        scene, _, _ = renderer.road_scene(seed, None, text_on=text_on)
        assert [r for r in reads_of(scene, reader) if not r.isalpha()] == [], (text_on, seed)
    for seed in SEEDS[:4]:
        scene, text, _ = renderer.road_scene(seed, "serial", text_on=text_on)
        assert reads_of(scene, reader)[:1] == [text], (text_on, seed)


def test_a_line_in_two_sizes_is_no_plate_where_its_row_holds_both(reader):
    # A panel's line in two sizes (NO 1234 with the word small): where the
    # detector's row takes in both, verify.two_heights tells it from a plate.
    from edge_agent.vision.verify import plate_evidence

    renderer = render_us()
    detector, plate_reader = reader
    both = 0
    for seed in SEEDS:
        scene, _, _ = renderer.road_scene(seed, None, text_on="two_sizes")
        frame = Frame(scene, 0, datetime.now(timezone.utc), "rendered", still=True)
        candidates = detector(frame)
        rows = plate_reader.recognizer([rectify(scene, c.quad) for c in candidates]) if candidates else []
        kept = reads_of(scene, reader)
        for candidate, row in zip(candidates, rows):
            if plate_evidence(scene, candidate.quad).two_sizes:
                both += 1
                assert row.text not in kept, (seed, row.text)
    assert both >= len(SEEDS) // 2
