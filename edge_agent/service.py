"""The agent: the one place where the stages are wired together.

capture -> detect -> read -> track -> match -> store -> publish

Every vehicle read is matched in memory. A hit is committed to the durable
outbox before anything is sent; a read that matches nothing is forgotten
(or, only if the retention policy allows, kept as a keyed hash for minutes).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import cv2

from .capture import FrameSource, open_source
from .config import AgentConfig
from .detect import PlateDetector, TextLinePlateDetector
from .errors import AgentError
from .match import Matcher, load_hotlist
from .publish import HitPublisher, build_alert, encode_alert, hit_topic
from .read import PlateReader, make_reader
from .records import Hit, VehicleRead
from .store import Store
from .track import Tracker

log = logging.getLogger(__name__)

PURGE_INTERVAL_SECONDS = 60.0


@dataclass
class AgentStats:
    frames: int = 0
    reads: int = 0  # per-frame plate reads
    vehicles: int = 0  # reads merged per vehicle passage
    hits: int = 0
    started: float = 0.0

    def fps(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.frames / elapsed if elapsed > 0 else 0.0


class Agent:
    def __init__(self, cfg: AgentConfig, *, detector: PlateDetector | None = None,
                 reader: PlateReader | None = None):
        self.cfg = cfg
        hotlist = load_hotlist(cfg.hotlist.path)
        for problem in hotlist.row_problems:
            log.warning("hot list: %s (row skipped)", problem)
        self.matcher = Matcher(hotlist, cfg.hotlist.confusion_tolerance)
        log.info("hot list %s: %d plates", hotlist.source, len(self.matcher))
        self.store = Store(cfg.storage.data_dir, cfg.retention)
        self.publisher = HitPublisher(cfg.mqtt, cfg.unit, self.store)
        self.topic = hit_topic(cfg.mqtt, cfg.unit)
        self.detector = detector or TextLinePlateDetector(cfg.reader)
        self.reader = reader or make_reader(cfg.reader)
        self.tracker = Tracker(cfg.tracker)
        self.stats = AgentStats()
        self._source: FrameSource | None = None
        self._stopping = threading.Event()

    def stop(self) -> None:
        """Ask the run loop to finish; safe from a signal handler or another thread."""
        self._stopping.set()
        if self._source is not None:
            self._source.stop()

    def run(self, drain_timeout: float = 30.0) -> int:
        """Process the camera source until it ends or stop() is called.

        Returns the number of hits still waiting in the outbox at exit (0
        when everything was delivered). They stay on disk and go out on the
        next start.
        """
        self.stats.started = time.monotonic()
        # Purge first, so time the unit spent switched off does not extend retention.
        self._purge()
        last_purge = time.monotonic()
        self.publisher.start()
        try:
            self._source = open_source(self.cfg.camera)
            if self._stopping.is_set():
                self._source.stop()
            for frame in self._source.frames():
                self.stats.frames += 1
                reads = self.reader(frame, self.detector(frame))
                self.stats.reads += len(reads)
                for vehicle in self.tracker.update(reads, frame.captured_at):
                    self.handle(vehicle)
                if time.monotonic() - last_purge > PURGE_INTERVAL_SECONDS:
                    self._purge()
                    last_purge = time.monotonic()
            for vehicle in self.tracker.flush():
                self.handle(vehicle)
            if self._source.last_error:
                log.warning("camera: %s", self._source.last_error)
            if not self._source.live and not self._stopping.is_set():
                self.publisher.drain(drain_timeout)
            return self.store.outbox_depth()
        finally:
            if self._source is not None:
                self._source.close()
            self.publisher.stop()
            self.store.close()
            log.info("stopped after %d frames (%.1f fps), %d vehicles, %d hits",
                     self.stats.frames, self.stats.fps(), self.stats.vehicles, self.stats.hits)

    def handle(self, vehicle: VehicleRead) -> Hit | None:
        self.stats.vehicles += 1
        hit = self.matcher.match(vehicle)
        if hit is None:
            # Deliberately not logged: a non-hit's plate must not reach the journal.
            self.store.remember_non_hit(vehicle, datetime.now(timezone.utc))
            return None
        ok, jpeg = cv2.imencode(".jpg", vehicle.crop, [cv2.IMWRITE_JPEG_QUALITY, self.cfg.storage.crop_jpeg_quality])
        if not ok:
            raise AgentError("could not encode a plate crop as JPEG")
        crop_jpeg = jpeg.tobytes()
        alert_id = str(uuid.uuid4())
        payload = encode_alert(build_alert(hit, self.cfg.unit, alert_id=alert_id, crop_jpeg=crop_jpeg))
        self.store.add_hit(hit, alert_id=alert_id, topic=self.topic, payload=payload, crop_jpeg=crop_jpeg)
        self.stats.hits += 1
        log.info("hit %s: plate %s (%s %s), confidence %.2f over %d frames", alert_id, hit.entry.plate,
                 hit.entry.category or "-", hit.entry.ref or "-", vehicle.confidence, vehicle.frames)
        self.publisher.notify()
        return hit

    def _purge(self) -> None:
        counts = self.store.purge(datetime.now(timezone.utc))
        if any(counts.values()):
            log.info("retention purge: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
