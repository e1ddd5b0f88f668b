"""Two workers read the same plates as one, frame for frame, in the camera's order."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from datasets import highway_frames, require

from edge_agent.config import CameraConfig, ReaderConfig
from edge_agent.vision.detect import TextLinePlateDetector
from edge_agent.vision.motion import MotionGate
from edge_agent.vision.pipeline import Pipeline, split_threads, usable_workers
from edge_agent.vision.read import make_reader
from edge_agent.records import Frame

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=timezone.utc)


def stream(images):
    for i, image in enumerate(images):
        yield Frame(image, i, T0 + timedelta(seconds=i / 25), "test")


def run(images, workers: int, reader=None):
    cfg = ReaderConfig()
    pipeline = Pipeline(TextLinePlateDetector(cfg), reader or make_reader(cfg),
                        MotionGate(CameraConfig(source="x")), workers)
    return [(frame.index, [(r.text, r.box.as_list(), r.confidence, r.carried) for r in reads])
            for frame, reads in pipeline.reads(stream(images))]


class SlowRuns:
    """A model session whose every run takes 30 ms longer."""

    def __init__(self, session):
        self.session = session

    def run(self, *args, **kwargs):
        time.sleep(0.03)
        return self.session.run(*args, **kwargs)


class SlowReader:
    """The real reader, slowed so the detector runs ahead and reads plates for it."""

    def __init__(self):
        self.inner = make_reader(ReaderConfig())
        self.read_plate_ahead = self.inner.read_plate_ahead
        self.made_ahead = 0

    def __call__(self, frame, candidates, plates=None):
        # The first frames slowest, so the detector's queue fills even on a
        # loaded machine (at 0.06 s throughout, two busy processes beside
        # the test kept it from filling: nothing was read ahead).
        time.sleep(0.25 if frame.index < 8 else 0.06)
        self.made_ahead += len(plates or {})
        return self.inner(frame, candidates, plates=plates)


def test_two_workers_give_the_reads_of_one_frame_for_frame():
    images = highway_frames(40)
    one, two = run(images, 1), run(images, 2)
    assert [i for i, _ in two] == list(range(40))
    assert two == one
    assert sum(len(reads) for _, reads in one) > 20  # plates were read, not only empty frames


def test_window_runs_made_by_the_waiting_reader_and_a_detector_on_two_threads_give_the_same_reads():
    images = highway_frames(30)
    cfg = ReaderConfig()
    pipeline = Pipeline.build(cfg, CameraConfig(source="x"), 2)
    assert pipeline.detector.cfg.threads == 2  # the reader's core lent to the detector's whole scans
    text_detector = pipeline.detector.text_detector
    # Followed windows on a session of their own, one thread: waking the
    # lent thread for a small window's parts cost more than it gave.
    assert text_detector.window_session is not text_detector.session
    assert text_detector.window_session.get_session_options().intra_op_num_threads == 1
    # Window runs slowed, so the reader surely waits while a frame's windows
    # are being run, whatever the machine's speed.
    text_detector.window_session = SlowRuns(text_detector.window_session)
    two = [(frame.index, [(r.text, r.box.as_list(), r.confidence, r.carried) for r in reads])
           for frame, reads in pipeline.reads(stream(images))]
    assert two == run(images, 1)
    assert pipeline.window_runs_helped > 0
    assert pipeline.detector.spare_hands is None  # lent for the run only


def test_plates_read_ahead_by_the_detector_thread_give_the_same_reads():
    images = highway_frames(30)
    slow = SlowReader()
    assert run(images, 2, slow) == run(images, 1)
    assert slow.made_ahead > 10


def test_stills_are_read_whole_one_at_a_time_with_the_reads_of_one_worker():
    import cv2
    from datasets import DATASETS

    paths = sorted(require(DATASETS / "openalpr-benchmarks" / "endtoend" / "us").glob("*.jpg"))[:4]
    stills = [Frame(cv2.imread(str(p)), i, T0, str(p), still=True) for i, p in enumerate(paths)]
    held = []

    def source():
        for frame in stills:
            held.append(frame.index)
            yield frame

    cfg = ReaderConfig()
    pipeline = Pipeline(TextLinePlateDetector(cfg), make_reader(cfg), MotionGate(CameraConfig(source="x")), 2)
    two = []
    for frame, reads in pipeline.reads(source()):
        assert len(held) - frame.index <= 2  # this photo and at most the next, decoded
        two.append([(r.text, r.box.as_list()) for r in reads])
    one = [[(r.text, r.box.as_list()) for r in reads]
           for _, reads in Pipeline(TextLinePlateDetector(cfg), make_reader(cfg),
                                    MotionGate(CameraConfig(source="x")), 1).reads(iter(stills))]
    assert two == one and any(two)


class Fake:
    """A detector and reader that record which thread ran them."""

    def __init__(self, fail_at: int = -1):
        self.fail_at, self.threads = fail_at, set()

    def __call__(self, frame, candidates=None):
        self.threads.add(threading.current_thread().name)
        if frame.index == self.fail_at:
            raise RuntimeError("model failed")
        return [] if candidates is None else []

    def closer_looks(self, frame):
        return []


def frames_of(n):
    import numpy as np

    rng = np.random.default_rng(0)
    for i in range(n):
        # Different every frame, so the motion gate lets each through.
        yield Frame(rng.integers(0, 255, (72, 128, 3), dtype=np.uint8), i, T0 + timedelta(seconds=i / 10), "t")


def test_the_detector_runs_on_its_own_thread_and_its_failure_reaches_the_caller():
    detector, reader = Fake(fail_at=7), Fake()
    pipeline = Pipeline(detector, reader, MotionGate(CameraConfig(source="x")), workers=2)
    seen = []
    with pytest.raises(RuntimeError, match="model failed"):
        for frame, _ in pipeline.reads(frames_of(20)):
            seen.append(frame.index)
    assert seen == list(range(7))
    assert detector.threads == {"detect"}


def test_leaving_early_ends_the_detector_thread():
    pipeline = Pipeline(Fake(), Fake(), MotionGate(CameraConfig(source="x")), workers=2)
    before = {t for t in threading.enumerate() if t.name == "detect"}
    for frame, _ in pipeline.reads(frames_of(1000)):
        if frame.index == 3:
            break
    time.sleep(0.6)
    # Only this pipeline's thread: other tests' threads may end meanwhile.
    assert {t for t in threading.enumerate() if t.name == "detect"} <= before


def test_the_caller_is_kept_alive_while_the_camera_sends_nothing():
    def slow():
        yield from frames_of(1)
        time.sleep(2.5)  # a camera that stalls (the watchdog must still be fed)
        yield from ()

    calls = []
    pipeline = Pipeline(Fake(), Fake(), MotionGate(CameraConfig(source="x")), workers=2)
    assert len(list(pipeline.reads(slow(), idle=lambda: calls.append(time.monotonic())))) == 1
    assert len(calls) >= 2


@pytest.mark.parametrize("workers, threads, expected", [(1, 1, (1, 1, True)), (2, 1, (2, 1, False)),
                                                         (3, 1, (2, 1, True)), (4, 1, (2, 2, True)),
                                                         (2, 3, (4, 3, False))])
def test_workers_past_one_become_model_threads(workers, threads, expected):
    assert split_threads(workers, threads) == expected


def test_workers_are_capped_at_the_cores_the_process_may_use():
    import os

    cores = len(os.sched_getaffinity(0))
    assert usable_workers(1) == 1
    assert usable_workers(cores + 3) == cores
