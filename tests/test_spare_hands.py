"""A waiting thread runs parts of a busy thread's call; the results are the caller's, in order."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
from datasets import highway_frames

from edge_agent.vision.onnx_models import DETECTOR_MODELS, resolve_detector
from edge_agent.vision.spare_hands import SpareHands
from edge_agent.vision.text_detector import TextDetector, _blob


def slow_square(x):
    time.sleep(0.02)
    return x * x, threading.current_thread().name


class Helper:
    """A thread that waits on the hands, as the pipeline's reader does, until told to stop."""

    def __init__(self, hands: SpareHands):
        self.hands, self.stop = hands, threading.Event()
        self.thread = threading.Thread(target=self.loop, name="helper", daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop.is_set():
            self.hands.wait(self.hands.news(), 0.05)

    def close(self):
        self.stop.set()
        self.hands.signal()
        self.thread.join(timeout=2)


def test_parts_are_shared_with_a_waiting_thread_and_returned_in_order():
    hands = SpareHands()
    helper = Helper(hands)
    try:
        out = hands.map(slow_square, list(range(12)))
    finally:
        helper.close()
    assert [v for v, _ in out] == [x * x for x in range(12)]
    ran = {who for _, who in out}
    assert ran == {"MainThread", "helper"}
    assert hands.helped == sum(who == "helper" for _, who in out) > 0


def test_without_a_helper_the_caller_runs_every_part():
    hands = SpareHands()
    out = hands.map(slow_square, [1, 2, 3])
    assert out == [(1, "MainThread"), (4, "MainThread"), (9, "MainThread")]
    assert hands.helped == 0


def test_a_part_failing_on_the_helper_fails_the_caller():
    hands = SpareHands()

    def part(x):
        if threading.current_thread().name == "helper":
            raise ValueError("model failed")
        time.sleep(0.05)
        return x

    helper = Helper(hands)
    try:
        with pytest.raises(ValueError, match="model failed"):
            hands.map(part, list(range(8)))
    finally:
        helper.close()


def test_a_signal_wakes_a_waiter_before_its_timeout():
    hands = SpareHands()
    seen = hands.news()
    threading.Timer(0.05, hands.signal).start()
    start = time.monotonic()
    assert hands.wait(seen, 5.0) is False  # woken, with no part to run
    assert time.monotonic() - start < 2.0


def test_the_detector_s_maps_are_the_same_on_one_thread_or_two():
    model = DETECTOR_MODELS[resolve_detector("auto")].file_here()
    one, two = TextDetector(model=model), TextDetector(model=model, threads=2, spin=False)
    image = highway_frames(1)[0]
    for size in ((1024, 576), (256, 128)):  # a whole scan, a followed window
        x = _blob(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
        assert np.array_equal(one.session.run(None, {"x": x})[0], two.session.run(None, {"x": x})[0])
        assert np.array_equal(one.session.run(None, {"x": x})[0], two.window_session.run(None, {"x": x})[0])
