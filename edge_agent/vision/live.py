"""A live camera (a device or a network stream), read as its newest frame.

A unit slower than its camera must not read the camera's past. Read in
order, a stream falls behind by all that the camera, the network and the
kernel hold: seconds of H.264 over RTSP/TCP, whose frames are small, and a
camera whose send buffer overflows drops packets, which smears every frame
up to the next key frame. So a grab thread takes every frame as it arrives,
and the reader takes the newest; frames it had no time for are skipped
whole, never queued, and each frame's time is when it was grabbed.

Grabbing is the cheap half where it can be: a device's buffer handed back,
or a stream's decode, which every frame of H.264 needs anyway. Turning a
frame into pixels (retrieve) is done only for frames the reader may take:
the one it waits for, and those that come about when it is due back.

The grab thread owns the OpenCV capture and is the only thread that calls
it: it opens it, reopens it with exponential backoff, forever, because a
unit on a pole has nobody to restart it, and releases it. While it waits to
reopen it counts the seconds, and the reader calls the source's `heartbeat`
for them on its own thread: waiting for a camera is healthy, and the
service feeds systemd's watchdog from it. A grab that hangs inside the
driver counts nothing, so the watchdog trips then.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import numpy as np

from ..config.camera import CameraConfig
from .frame_source import FrameSource, now, redact, release
from ..records import Frame

# Under max_fps, a frame may come this share of the interval after the one
# before when that one came late: a little jitter is absorbed, no burst.
CATCH_UP_SHARE = 0.9

# Capture's logger: the journal says "edge_agent.vision.capture: camera: ..." for
# every source, as units in the field have always logged it.
log = logging.getLogger("edge_agent.vision.capture")


class LiveSource(FrameSource):
    """A camera device or network stream, reopened whenever it drops."""

    live = True
    max_bad_reads = 5  # consecutive failed grabs or decodes before reopening
    max_blank_frames = 25  # consecutive blank frames decoded before reopening
    wait_step = 0.1  # seconds: how often a waiting reader looks at stop() and the grab thread's waits

    def __init__(self, source: str, target: int | str, cfg: CameraConfig, factory: Callable[..., Any]):
        super().__init__(source)
        self._target, self._cfg, self._factory = target, cfg, factory
        self._cap: Any = None  # the grab thread's alone
        self._newest = Newest()
        self._delay = cfg.reconnect_min_seconds  # the next backoff
        self._waited = 0  # seconds the grab thread has waited for the camera

    def frames(self) -> Iterator[Frame]:
        """The newest frames, at most `max_fps` a second; ends with stop() (the source is then done)."""
        interval = 1.0 / self._cfg.max_fps if self._cfg.max_fps > 0 else 0.0
        next_due = 0.0
        index = taken = relayed = 0
        grabber = threading.Thread(target=self._grab, name="camera-grab", daemon=True)
        grabber.start()
        try:
            while not self._stop.is_set():
                if interval and (early := next_due - time.monotonic()) > 0:
                    # The grab thread drains the camera meanwhile: the frame taken is fresh.
                    self._stop.wait(min(early, self.wait_step))
                    relayed = self._relay(relayed)
                    continue
                got = self._newest.take(taken, self.wait_step)
                relayed = self._relay(relayed)
                if got is None:
                    continue
                taken, image, captured_at = got
                t = time.monotonic()
                # Keep an even cadence, absorbing a little jitter, but never let a
                # late frame's successor through early to "catch up": max_fps is a
                # ceiling on every gap (a catch-up gap of 65 ms at 10 fps was seen
                # on a loaded host), not only on the average.
                next_due = max(next_due + interval, t + CATCH_UP_SHARE * interval)
                yield self._frame(image, index, captured_at)
                index += 1
        finally:
            self._stop.set()
            grabber.join(timeout=1.0)  # one stuck in the driver releases the capture when it returns

    def close(self) -> None:
        self.stop()  # the grab thread releases the capture: releasing under its grab can crash OpenCV

    @property
    def camera_fps(self) -> float | None:  # type: ignore[override]
        """Frames a second the camera sends (smoothed), however many the reader takes."""
        return self._newest.camera_fps

    def _relay(self, relayed: int) -> int:
        waited = self._waited
        if waited != relayed and self.heartbeat is not None:
            self.heartbeat()
        return waited

    # --- the grab thread ---------------------------------------------------------

    def _grab(self) -> None:
        bad = blank = 0
        try:
            while not self._stop.is_set():
                if self._cap is None and not self._open():
                    self._backoff()
                    continue
                image = None
                if self._call("grab"):
                    captured_at = now()
                    number, wanted = self._newest.grabbed()
                    if not wanted:
                        bad = 0
                        continue
                    result = self._call("retrieve")
                    ok, image = result if isinstance(result, tuple) else (False, None)
                    if not ok or image is None or getattr(image, "size", 0) == 0:
                        image = None
                if image is None:
                    bad += 1
                else:
                    bad, blank = 0, (blank + 1 if _is_blank(image) else 0)
                if bad >= self.max_bad_reads or blank >= self.max_blank_frames:
                    self._fault("read failed" if bad else "blank frames")
                    self._backoff()
                    bad = blank = 0
                    continue
                if image is None or blank:
                    continue
                if self.last_error:
                    log.info("camera: %s is delivering frames again", self.source)
                    self.last_error = ""
                self._delay = self._cfg.reconnect_min_seconds
                self._newest.put(number, image, captured_at)
        finally:
            self._release()

    def _open(self) -> bool:
        try:
            cap = self._factory(self._target)
            opened = bool(cap is not None and cap.isOpened())
        except Exception as exc:  # noqa: BLE001 - any backend failure means "retry later"
            self._fault(f"cannot open: {exc}")
            return False
        if not opened:
            release(cap)
            self._fault("cannot open")
            return False
        self._cap = cap
        return True

    def _call(self, method: str) -> Any:
        try:
            return getattr(self._cap, method)()
        except Exception as exc:  # noqa: BLE001 - a broken backend is just a failed read
            log.debug("camera: %s raised %s", method, redact(str(exc)))
            return None

    def _release(self) -> None:
        cap, self._cap = self._cap, None
        release(cap)

    def _fault(self, what: str) -> None:
        self._release()
        error = redact(f"{self.source}: {what}")
        # A camera dead for a month retries ~3000 times a day: say each new
        # fault once, the repeats only at DEBUG, so the journal keeps its history.
        log.log(logging.DEBUG if error == self.last_error else logging.WARNING, "camera: %s", error)
        if not self.last_error:
            self.faults += 1
        self.last_error = error

    def _backoff(self) -> None:
        """Wait about the current delay (or until stop()), and double it for next time."""
        wait = self._delay * random.uniform(0.8, 1.2)  # jitter: many units must not retry in step
        log.debug("camera: retrying %s in %.2f s", self.source, wait)
        self._pause(wait)
        self._delay = min(self._delay * 2.0, self._cfg.reconnect_max_seconds)

    def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            self._waited += 1  # one writer; the reader only compares
            left = deadline - time.monotonic()
            if left <= 0 or self._stop.wait(min(left, 1.0)):
                return


class Newest:
    """The hand-over from the grab thread to the reader: the newest frame decoded.

    It also says which grabbed frames are worth decoding. The reader's pace
    (the time between its takes) and the camera's (between its frames) are
    followed; a frame is decoded when the reader waits, or when it is due
    back within about a frame and a half.
    """

    def __init__(self):
        self._cond = threading.Condition()
        self._grabbed = 0  # frames grabbed since the source started
        self._frame: tuple[int, np.ndarray, datetime] | None = None
        self._waiting = False
        self._taken_at = self._grabbed_at = 0.0
        self._pace = self._gap = 0.0  # the reader's and the camera's seconds a frame, smoothed

    def grabbed(self) -> tuple[int, bool]:
        """Count a grabbed frame: its number, and whether to decode it."""
        t = time.monotonic()
        with self._cond:
            self._grabbed += 1
            if self._grabbed_at:
                self._gap = _smooth(self._gap, t - self._grabbed_at)
            self._grabbed_at = t
            due_back = self._taken_at + self._pace
            return self._grabbed, self._waiting or t >= due_back - 1.5 * self._gap

    @property
    def camera_fps(self) -> float | None:
        gap = self._gap
        return 1.0 / gap if gap > 0 else None

    def put(self, number: int, image: np.ndarray, captured_at: datetime) -> None:
        with self._cond:
            self._frame = (number, image, captured_at)
            self._cond.notify_all()

    def take(self, after: int, timeout: float) -> tuple[int, np.ndarray, datetime] | None:
        """The newest frame numbered above `after`, if no more than one frame was grabbed
        since it; else waits for the next, up to `timeout` seconds (None then)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._waiting = True
            while (got := self._frame) is None or got[0] <= after or got[0] < self._grabbed - 1:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None  # still waiting: the next frame grabbed is decoded for it
                self._cond.wait(left)
            self._waiting, self._frame = False, None
            t = time.monotonic()
            if self._taken_at:
                self._pace = _smooth(self._pace, t - self._taken_at)
            self._taken_at = t
            return got


def _smooth(mean: float, value: float) -> float:
    return value if mean == 0 else mean + 0.2 * (value - mean)


def _is_blank(image: np.ndarray) -> bool:
    # Check a sparse grid first: a real picture almost always differs there.
    sample = image[::16, ::16]
    if sample.min() != sample.max():
        return False
    return bool(image.min() == image.max())
