"""One camera's chain: its source's frames -> reads (Pipeline) -> vehicles (Tracker) -> the agent.

Each camera of a unit has its own source, motion gate, followed rows,
settled rows, tracker and counts, so one camera's frames never mix with
another's; the models are loaded once and shared (Pipeline.sharing_models).
The vehicles go to the agent's `handle` (service/agent.py), which matches, stores
and publishes them for every camera.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from ..vision.capture import FrameSource, open_source
from ..config import CameraSetup, TrackerConfig
from ..vision.pipeline import Pipeline
from ..records import VehicleRead
from ..vision.track import Tracker


@dataclass
class CameraStats:
    frames: int = 0
    reads: int = 0  # per-frame plate reads
    vehicles: int = 0  # reads merged per vehicle passage
    hits: int = 0
    started: float = 0.0
    # Seconds from a live camera's frame being grabbed to its reads, smoothed
    # over about ten frames; None for a file or folder (their times are the video's).
    frame_age: float | None = None
    camera_fps: float | None = None  # frames a second its live camera sends, read or not

    def saw(self, captured_at: datetime) -> None:
        age = (datetime.now(timezone.utc) - captured_at).total_seconds()
        if 0 <= age < 3600:  # a clock stepped between grab and read says nothing of the unit
            self.frame_age = age if self.frame_age is None else self.frame_age + 0.1 * (age - self.frame_age)

    def fps(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.frames / elapsed if elapsed > 0 else 0.0

    @classmethod
    def total(cls, parts: list[CameraStats]) -> CameraStats:
        ages = [p.frame_age for p in parts if p.frame_age is not None]
        sent = [p.camera_fps for p in parts if p.camera_fps is not None]
        return cls(sum(p.frames for p in parts), sum(p.reads for p in parts), sum(p.vehicles for p in parts),
                   sum(p.hits for p in parts), min((p.started for p in parts), default=0.0),
                   max(ages) if ages else None, sum(sent) if sent else None)


class CameraLoop:
    def __init__(self, setup: CameraSetup, pipeline: Pipeline, topic: str):
        self.setup = setup
        self.id = setup.id
        self.pipeline = pipeline
        self.topic = topic  # where its hits go: <prefix>/<site>/<id>/hit
        self.tracker = Tracker(setup.tracker)
        self.stats = CameraStats()
        self.source: FrameSource | None = None
        self.beat_at = time.monotonic()  # its last frame or wait; service/agent.py watches it
        self.failure: BaseException | None = None  # what ended its thread, if anything did
        self._retrack: TrackerConfig | None = None

    @property
    def error(self) -> str:
        """The camera's current fault, "" while it delivers frames."""
        if self.source is not None and self.source.last_error:
            return self.source.last_error
        return str(self.failure) if self.failure is not None else ""

    def retrack(self, tracker: TrackerConfig) -> None:
        """New tracker settings (a reload), taken up on the camera's thread before its next frame."""
        self._retrack = tracker

    def beat(self) -> None:
        self.beat_at = time.monotonic()

    def open(self) -> FrameSource:
        self.source = open_source(self.setup.camera)
        return self.source

    def run(self, handle: Callable[[VehicleRead, CameraLoop], object], alive: Callable[[], None],
            stopping: threading.Event) -> None:
        """Read the source until it ends or `stopping` is set; `alive` is called on
        this thread at each frame and each second the camera is waited for."""
        self.stats.started = time.monotonic()
        source = self.open()
        idle = None
        if self.pipeline.workers <= 1:
            source.heartbeat = alive
        else:
            # The source is read on the detector's thread, and `alive` (the
            # watchdog, reloads) must run on this one: the source's beats
            # between reads are relayed, so a read that hangs still starves it.
            beats = _Relay()
            source.heartbeat, idle = beats.beat, beats.relay_to(alive)
        if stopping.is_set():
            source.stop()
        # A frame in which nothing moved has no reads; the tracker still
        # sees its time, so tracks close.
        for frame, reads in self.pipeline.reads(source.frames(), idle=idle):
            self.stats.frames += 1
            if source.live:
                self.stats.saw(frame.captured_at)
                self.stats.camera_fps = source.camera_fps
            alive()
            if (tracker := self._retrack) is not None:
                # Close the open tracks under the old rules rather than drop them.
                self._retrack = None
                for vehicle in self.tracker.flush():
                    handle(vehicle, self)
                self.tracker = Tracker(tracker)
            # Carried reads (settle.py) are positions, not reads of this frame.
            self.stats.reads += sum(not r.carried for r in reads)
            for vehicle in self.tracker.update(reads, frame.captured_at, still=frame.still):
                handle(vehicle, self)
        for vehicle in self.tracker.flush():
            handle(vehicle, self)

    def close(self) -> None:
        if self.source is not None:
            self.source.close()


class _Relay:
    """Heartbeats of a source read on another thread, passed on to this one (CameraLoop.run)."""

    def __init__(self):
        self._beats = 0
        self._relayed = 0

    def beat(self) -> None:
        self._beats += 1  # one writer thread; the reader only compares

    def relay_to(self, alive: Callable[[], None]) -> Callable[[], None]:
        def idle() -> None:
            if self._beats != self._relayed:
                self._relayed = self._beats
                alive()
        return idle
