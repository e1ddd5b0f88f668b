"""Camera faults on a real stream: an MJPEG-over-HTTP camera served on 127.0.0.1
by the test (edge_agent.commands.loopstream), read through OpenCV's FFmpeg client exactly
as an IP camera on the pole is. It drops, hangs, sends corrupt and blank frames,
and comes back; capture must log, back off, reconnect, keep the watchdog fed while
it waits, and show the fault in last_error until frames flow again."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from datasets import HIGHWAY, require
from edge_agent.vision.capture import open_source
from edge_agent.config.camera import CameraConfig
from edge_agent.commands.loopstream import LoopStream, encode_clip, encode_jpeg

# A stalled stream is given up on after 2 s, which keeps the test short.
QUICK = dict(reconnect_min_seconds=0.2, reconnect_max_seconds=0.8, stream_timeout_seconds=2.0)


@pytest.fixture(scope="module")
def clip() -> list[bytes]:
    require(HIGHWAY)
    return encode_clip(HIGHWAY, limit=12, quality=60)


@pytest.fixture
def stream(clip: list[bytes]) -> Iterator[LoopStream]:
    with LoopStream(clip, fps=30) as s:
        yield s


class Watch:
    """Runs a source on a thread and records frames, heartbeats and faults over time."""

    def __init__(self, source):
        self.source = source
        self.frames: list[float] = []
        self.beats: list[float] = []
        self.errors: list[tuple[float, str]] = []
        self.t0 = time.monotonic()
        source.heartbeat = lambda: self.beats.append(time.monotonic() - self.t0)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for frame in self.source.frames():
            assert frame.image.shape == (720, 1280, 3)
            self.frames.append(time.monotonic() - self.t0)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def wait(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.source.last_error:
                self.errors.append((self.now(), self.source.last_error))
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.02)

    def frames_after(self, t: float) -> int:
        return sum(1 for f in self.frames if f > t)

    def stop(self) -> None:
        self.source.stop()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive()


def _drop_and_return(stream: LoopStream, watch: Watch, fault, caplog) -> float:
    watch.wait(lambda: len(watch.frames) >= 5, 15, "first frames")
    fault()
    t_fault = watch.now()
    watch.wait(lambda: watch.source.last_error, 10, "the fault to be reported")
    error = watch.source.last_error
    time.sleep(1.5)  # the camera stays away a while
    beats_while_down = [b for b in watch.beats if b > t_fault]
    stream.resume()
    t_back = watch.now()
    watch.wait(lambda: watch.frames_after(t_back) >= 5, 20, "frames after the camera returned")
    watch.wait(lambda: not watch.source.last_error, 5, "last_error to clear")
    assert "127.0.0.1" in error
    assert len(beats_while_down) >= 2, "the watchdog went unfed while the camera was away"
    assert "camera:" in caplog.text and "delivering frames again" in caplog.text
    return t_fault


def test_stream_that_drops_and_returns(stream: LoopStream, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edge_agent.vision.capture")
    watch = Watch(open_source(CameraConfig(source=stream.url, **QUICK)))
    try:
        t_fault = _drop_and_return(stream, watch, stream.pause, caplog)
        assert watch.source.faults == 1
        # Backoff: reopen attempts while the camera refused were spaced, not a busy loop.
        assert watch.frames_after(t_fault) >= 5
    finally:
        watch.stop()


def test_stream_that_hangs_mid_read(stream: LoopStream, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edge_agent.vision.capture")
    watch = Watch(open_source(CameraConfig(source=stream.url, **QUICK)))
    try:
        watch.wait(lambda: len(watch.frames) >= 5, 15, "first frames")
        stream.stall()  # connection open, nothing arrives: the read blocks inside FFmpeg
        t_stall = watch.now()
        watch.wait(lambda: watch.source.last_error, 10, "the stall to be given up on")
        # While the read hung, nothing fed the watchdog: a read stuck for good trips it.
        hung = [b for b in watch.beats if t_stall < b < t_stall + 1.5]
        assert hung == []
        assert watch.now() - t_stall >= 1.5
        stream.resume()
        t_back = watch.now()
        watch.wait(lambda: watch.frames_after(t_back) >= 3 and not watch.source.last_error, 20,
                   "recovery after the stall")
        assert "read failed" in caplog.text
    finally:
        watch.stop()


def test_corrupt_frames_then_good_ones(stream: LoopStream, clip: list[bytes],
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edge_agent.vision.capture")
    watch = Watch(open_source(CameraConfig(source=stream.url, **QUICK)))

    def corrupt() -> None:
        stream.jpegs = [b"\xff\xd8\xff\xe0 not really a jpeg " * 40]

    def repair() -> None:
        stream.jpegs = clip
        LoopStream.resume(stream)

    stream.resume = repair  # type: ignore[method-assign]
    try:
        _drop_and_return(stream, watch, corrupt, caplog)
        assert "read failed" in " ".join(e for _, e in watch.errors)
    finally:
        watch.stop()


def test_blank_frames_count_as_a_fault(stream: LoopStream, clip: list[bytes]) -> None:
    watch = Watch(open_source(CameraConfig(source=stream.url, **QUICK)))
    watch.source.max_blank_frames = 10
    try:
        watch.wait(lambda: len(watch.frames) >= 3, 15, "first frames")
        stream.jpegs = [encode_jpeg(np.zeros((720, 1280, 3), np.uint8))]  # lens cap on
        watch.wait(lambda: "blank" in watch.source.last_error, 15, "blank frames to be reported")
        stream.jpegs = clip
        watch.wait(lambda: not watch.source.last_error, 20, "recovery after blank frames")
    finally:
        watch.stop()


def test_device_that_vanishes_keeps_the_watchdog_fed() -> None:
    # A USB camera unplugged: its node is gone, every reopen fails until it returns.
    if Path("/dev/video7").exists():
        pytest.skip("this machine has a /dev/video7")
    watch = Watch(open_source(CameraConfig(source="/dev/video7", **QUICK)))
    try:
        watch.wait(lambda: watch.source.last_error, 10, "the missing device to be reported")
        time.sleep(2.0)
        assert "/dev/video7" in watch.source.last_error and "cannot open" in watch.source.last_error
        assert len(watch.beats) >= 3
        gaps = np.diff(watch.beats)
        assert gaps.max() < 1.5, "heartbeats must keep coming while the device is retried"
        assert watch.frames == []
    finally:
        watch.stop()
