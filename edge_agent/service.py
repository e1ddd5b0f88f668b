"""The agent: the one place where the stages are wired together.

capture -> detect -> read -> track -> match -> store -> publish

Every vehicle read is matched in memory. A hit is committed to the durable
outbox before anything is sent; a read that matches nothing is forgotten
(or, only if the retention policy allows, kept as a keyed hash for minutes).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import cv2

from .alerts import hotlist_topic
from .capture import FrameSource, open_source
from .config import AgentConfig
from .datadir import RESERVE_BYTES, InstanceLock, Reserve, claim_data_dir
from .detect import PlateDetector
from .errors import AgentError
from .match import Matcher, load_hotlist
from .ocr import describe_detector
from .policy import admit_hotlist, disclosure_recorder, record_config, require_policy
from .hotlist_sync import HotlistSync, empty_hotlist
from .publish import HitPublisher, hit_topic
from .pipeline import Pipeline, usable_workers
from .read import PlateReader
from .records import Hit, VehicleRead
from .reload import reload_agent
from .sd_notify import Notifier
from .status import StatusReporter
from .store import Store
from .timeguard import TimeGuard
from .track import Tracker

log = logging.getLogger(__name__)


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
        require_policy(cfg)  # a unit never runs outside its usage-and-privacy policy
        claim_data_dir(cfg.storage.data_dir)
        self.instance = InstanceLock(cfg.storage.data_dir)
        self.instance.acquire()  # before anything is written: a second agent exits 2 here
        try:
            self._setup(cfg, detector, reader)
        except BaseException:
            self.instance.release()
            raise

    def _setup(self, cfg: AgentConfig, detector: PlateDetector | None, reader: PlateReader | None) -> None:
        if shutil.disk_usage(cfg.storage.data_dir).free < RESERVE_BYTES:
            # A full card: free the reserve before the start's first record is written.
            Reserve(cfg.storage.data_dir).give_back()
        self.timeguard = TimeGuard(cfg.storage.data_dir, cfg.retention.clock_trust)
        # The CSV until a signed list supersedes it; `matcher` below reads the list in force.
        self.hotlists = HotlistSync(cfg.hotlist, cfg.storage.data_dir, self.load_matcher(cfg),
                                    admit=lambda hotlist: admit_hotlist(hotlist, self.cfg))
        self.store = Store(cfg.storage.data_dir, cfg.retention,
                           non_hit_plaintext=cfg.policy.store_non_hit_plaintext)
        record_config(cfg)
        # Every alert the broker acknowledges is a disclosure, and is logged as one.
        self.publisher = HitPublisher(cfg.mqtt, cfg.unit, self.store, on_delivered=disclosure_recorder(cfg))
        self.topic = hit_topic(cfg.mqtt, cfg.unit)
        self.hotlists.attach(self.publisher.link, hotlist_topic(cfg.mqtt, cfg.unit))
        workers = usable_workers(cfg.reader.workers)
        log.info("reader: %s; %d workers%s", describe_detector(cfg.reader.detector), workers,
                 f" (of {cfg.reader.workers}: no more cores)" if workers < cfg.reader.workers else "")
        self.pipeline = Pipeline.build(cfg.reader, cfg.camera, workers, detector=detector, reader=reader)
        self.detector, self.reader, self.motion = self.pipeline.detector, self.pipeline.reader, self.pipeline.motion
        self.tracker = Tracker(cfg.tracker)
        self.stats = AgentStats()
        self.status = StatusReporter(cfg.unit, cfg.mqtt, cfg.storage.data_dir, publisher=self.publisher,
                                     store=self.store, stats=self.stats, hotlists=self.hotlists,
                                     max_age_hours=cfg.hotlist.max_age_hours, camera_error=lambda: self.camera_error)
        self._source: FrameSource | None = None
        self._stopping = threading.Event()
        self.notifier = Notifier()  # systemd's $NOTIFY_SOCKET; a no-op outside systemd
        self._reload_requested = threading.Event()
        self._status_at = 0.0

    @staticmethod
    def load_matcher(cfg: AgentConfig) -> Matcher:
        """The hot list of `cfg`, ready to match; at start and on every reload."""
        hotlist = admit_hotlist(load_hotlist(cfg.hotlist.path) if cfg.hotlist.path else empty_hotlist(), cfg)
        for problem in hotlist.row_problems:
            log.warning("hot list: %s (row skipped)", problem)
        matcher = Matcher(hotlist, cfg.hotlist.confusion_tolerance)
        log.info("hot list %s: %d plates", hotlist.source, len(matcher))
        return matcher

    @property
    def matcher(self) -> Matcher:
        """The hot list in force; a reload assigns its CSV list here."""
        return self.hotlists.active.matcher

    @matcher.setter
    def matcher(self, matcher: Matcher) -> None:
        self.hotlists.set_csv(matcher)

    @property
    def source(self) -> FrameSource | None:
        return self._source

    @property
    def camera_error(self) -> str:
        """The camera's current fault, "" while it delivers frames."""
        return self._source.last_error if self._source is not None else ""

    @property
    def stopped_by_request(self) -> bool:
        """stop() was called (SIGTERM, SIGINT): an orderly end, not a failure."""
        return self._stopping.is_set()

    def request_reload(self) -> None:
        """Reload config and hot list between two frames; safe from a signal handler."""
        self._reload_requested.set()

    def _alive(self) -> None:
        """Called each frame and each second the camera is waited for, on the loop's
        thread: both mean the agent is healthy. A hung camera read calls nothing."""
        self.notifier.ready(f"camera {self.camera_error}" if self.camera_error else "reading")
        self.notifier.watchdog()
        if self._reload_requested.is_set():
            self._reload_requested.clear()
            reload_agent(self)
        now = time.monotonic()
        if now - self._status_at >= 5.0:
            self._status_at = now
            self.notifier.status(f"camera fault: {self.camera_error}" if self.camera_error else
                                 f"{self.stats.fps():.1f} fps, {self.stats.vehicles} vehicles, {self.stats.hits} hits")

    def stop(self) -> None:
        """Ask the run loop to finish; safe from a signal handler or another thread."""
        self._stopping.set()
        self.notifier.stopping()
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
        self._purge(at_start=True)
        last_purge = time.monotonic()
        self.publisher.start()
        self.status.start()
        try:
            self._source = open_source(self.cfg.camera)
            idle = None
            if self.pipeline.workers <= 1:
                self._source.heartbeat = self._alive
            else:
                # The source is read on the detector's thread, and _alive
                # (the watchdog, reloads) must run on this one: the source's
                # beats between reads are relayed, so a read that hangs still
                # starves the watchdog.
                beats = _Relay()
                self._source.heartbeat, idle = beats.beat, beats.relay_to(self._alive)
            if self._stopping.is_set():
                self._source.stop()
            # A frame in which nothing moved has no reads; the tracker still
            # sees its time, so tracks close.
            for frame, reads in self.pipeline.reads(self._source.frames(), idle=idle):
                self.stats.frames += 1
                self._alive()
                # Carried reads (settle.py) are positions, not reads of this frame.
                self.stats.reads += sum(not r.carried for r in reads)
                for vehicle in self.tracker.update(reads, frame.captured_at, still=frame.still):
                    self.handle(vehicle)
                if time.monotonic() - last_purge > self.cfg.retention.purge_interval_seconds:
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
            self.hotlists.flush_rejections()  # the refusals counted since the last one recorded
            self.status.stop()
            self.publisher.stop()
            self.store.close()
            self.instance.release()
            log.info("stopped after %d frames (%.1f fps), %d vehicles, %d hits",
                     self.stats.frames, self.stats.fps(), self.stats.vehicles, self.stats.hits)
            if self.motion.counts.still:
                log.info("motion gate: %d of %d frames showed nothing moving and were not read",
                         self.motion.counts.still, self.motion.counts.frames)
            scans = getattr(self.detector, "scans", None)  # a detector passed in may not count them
            if scans is not None and scans.full + scans.follow:
                # How often the whole frame was scanned: a technician's check that following works.
                log.info("whole-frame scans: %d of %d stream frames; the rest followed the plates in view",
                         scans.full, scans.full + scans.follow)

    def handle(self, vehicle: VehicleRead) -> Hit | None:
        active = self.hotlists.active  # one read: the list and its version swap together
        hit = active.matcher.match(vehicle)
        if hit is None and vehicle.letters_only:
            # As often a badge or a sign's word as a vanity plate: it
            # counts only if it hits, so it is neither a vehicle nor kept.
            return None
        self.stats.vehicles += 1
        if hit is None:
            # Deliberately not logged: a non-hit's plate must not reach the journal.
            self.store.remember_non_hit(vehicle, datetime.now(timezone.utc))
            return None
        ok, jpeg = cv2.imencode(".jpg", vehicle.crop, [cv2.IMWRITE_JPEG_QUALITY, self.cfg.storage.crop_jpeg_quality])
        if not ok:
            raise AgentError("could not encode a plate crop as JPEG")
        crop_jpeg = jpeg.tobytes()
        alert_id = str(uuid.uuid4())
        state = active.state(self.cfg.hotlist.max_age_hours)
        payload = self.publisher.alert_payload(hit, alert_id=alert_id, crop_jpeg=crop_jpeg, list_state=state)
        trusted = self.timeguard.check(datetime.now(timezone.utc)).trusted
        # With a crop-less payload to keep, a full card sends the hit to memory, never raises.
        self.store.add_hit(hit, alert_id=alert_id, topic=self.topic, payload=payload, crop_jpeg=crop_jpeg,
                           camera=f"{self.cfg.unit.site}/{self.cfg.unit.camera_id}",
                           clock=(trusted, *self.timeguard.boot()),
                           payload_without_crop=self.publisher.alert_payload(
                               hit, alert_id=alert_id, crop_jpeg=None, list_state=state, withheld="disk_full"))
        self.stats.hits += 1
        # No plate: the journal is kept longer than hit_days, and a destroyed hit must leave no trace.
        log.info("hit %s: %s %s, confidence %.2f over %d frames", alert_id,
                 hit.entry.category or "-", hit.entry.ref or "-", vehicle.confidence, vehicle.frames)
        self.publisher.notify()
        return hit

    def _purge(self, at_start: bool = False) -> None:
        # At start the purge is logged even if it found nothing: proof it ran.
        counts = self.store.purge_due(self.timeguard, record=at_start)
        if any(counts.values()):
            log.info("retention purge: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))


class _Relay:
    """Heartbeats of a source read on another thread, passed on to this one (Agent.run)."""

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
