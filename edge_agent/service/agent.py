"""The agent: the one place where the stages are wired together.

capture -> detect -> read -> track -> match -> store -> publish

Each camera's chain up to track is a CameraLoop (camera_loop.py), on this
thread for one camera and on a thread of its own for each of several;
match, store and publish are the unit's, one vehicle at a time (handle).
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
from datetime import datetime, timezone

import cv2

from ..transport.alerts import hotlist_topic
from .camera_loop import CameraLoop, CameraStats
from ..vision.capture import FrameSource
from ..config import AgentConfig
from ..privacy.datadir import RESERVE_BYTES, InstanceLock, Reserve, claim_data_dir
from ..vision.detect import PlateDetector
from ..errors import AgentError
from ..privacy.match import Matcher, load_hotlist
from ..vision.onnx_models import describe_detector
from ..privacy.policy import admit_hotlist, disclosure_recorder, record_config, require_policy
from ..transport.hotlist_sync import HotlistSync, empty_hotlist
from ..transport.publish import HitPublisher, hit_topic
from ..vision.motion import MotionGate
from ..vision.pipeline import Pipeline, usable_workers
from ..vision.read import PlateReader
from ..records import Hit, VehicleRead
from .reload import reload_agent
from .sd_notify import Notifier
from ..transport.status import StatusReporter
from ..privacy.store import Store
from ..privacy.timeguard import TimeGuard

log = logging.getLogger(__name__)


# A camera that has neither delivered a frame nor waited (capture.py beats
# each second it waits) for this long is hung in a read: with several
# cameras the watchdog is no longer fed, and systemd restarts the agent
# (WatchdogSec=60). Above stream_timeout_seconds' 25 s, the longest a
# network read may block.
STALLED_SECONDS = 40.0


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
        setups = cfg.camera_setups()
        # Every alert the broker acknowledges is a disclosure, and is logged as one.
        self.publisher = HitPublisher(cfg.mqtt, setups[0].unit, self.store, on_delivered=disclosure_recorder(cfg))
        self.hotlists.attach(self.publisher.link, hotlist_topic(cfg.mqtt, cfg.unit))
        # The workers are shared out among the cameras; the models are loaded once for all.
        workers = usable_workers(cfg.reader.workers)
        each = max(1, workers // len(setups))
        log.info("reader: %s; %d workers%s%s", describe_detector(cfg.reader.detector), workers,
                 f" (of {cfg.reader.workers}: no more cores)" if workers < cfg.reader.workers else "",
                 f", {each} for each of {len(setups)} cameras" if len(setups) > 1 else "")
        first = Pipeline.build(cfg.reader, setups[0].camera, each, detector=detector, reader=reader)
        self.cameras = [CameraLoop(s, first if i == 0 else first.sharing_models(s.camera), hit_topic(cfg.mqtt, s.unit))
                        for i, s in enumerate(setups)]
        # One status topic per camera, each with its own will: MQTT gives a
        # connection one will, so each camera past the first says it on a
        # link of its own (status.py).
        self.statuses = [
            StatusReporter(loop.setup.unit, cfg.mqtt, cfg.storage.data_dir, publisher=self.publisher,
                           store=self.store, stats=loop.stats, hotlists=self.hotlists,
                           max_age_hours=cfg.hotlist.max_age_hours, camera_error=self._error_of(loop),
                           own_link=i > 0, watch_imports=i == 0, several=len(setups) > 1)
            for i, loop in enumerate(self.cameras)]
        self.status = self.statuses[0]
        self._stopping = threading.Event()
        self.notifier = Notifier()  # systemd's $NOTIFY_SOCKET; a no-op outside systemd
        self._reload_requested = threading.Event()
        self._status_at = 0.0
        self._last_purge = time.monotonic()  # run() purges at start
        self._stalled: set[str] = set()
        # Vehicles of all cameras go through handle() one at a time: the
        # store, the time guard and the counts are the unit's, not a camera's.
        self._lock = threading.RLock()

    @staticmethod
    def _error_of(loop: CameraLoop) -> Callable[[], str]:
        return lambda: loop.error

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

    # The single camera's parts, as tests and tools reach them.
    @property
    def source(self) -> FrameSource | None:
        return self.cameras[0].source

    @property
    def pipeline(self) -> Pipeline:
        return self.cameras[0].pipeline

    @property
    def motion(self) -> MotionGate:
        return self.cameras[0].pipeline.motion

    @property
    def stats(self) -> CameraStats:
        """The counts of all cameras together."""
        return self.cameras[0].stats if len(self.cameras) == 1 else CameraStats.total([c.stats for c in self.cameras])

    @property
    def camera_error(self) -> str:
        """The cameras' current faults, "" while each delivers frames."""
        if len(self.cameras) == 1:
            return self.cameras[0].error
        return "; ".join(f"{c.id}: {c.error}" for c in self.cameras if c.error)

    @property
    def stopped_by_request(self) -> bool:
        """stop() was called (SIGTERM, SIGINT): an orderly end, not a failure."""
        return self._stopping.is_set()

    def request_reload(self) -> None:
        """Reload config and hot list between two frames; safe from a signal handler."""
        self._reload_requested.set()

    def _alive(self) -> None:
        """Called on the thread that runs the agent: with one camera at each frame
        and each second it is waited for, with several each second that none of
        them is hung (_supervise). A hung camera read calls nothing."""
        self.notifier.ready(f"camera {self.camera_error}" if self.camera_error else "reading")
        self.notifier.watchdog()
        if self._reload_requested.is_set():
            self._reload_requested.clear()
            reload_agent(self)
        now = time.monotonic()
        if now - self._last_purge > self.cfg.retention.purge_interval_seconds:
            self._purge()
            self._last_purge = now
        if now - self._status_at >= 5.0:
            self._status_at = now
            stats = self.stats
            self.notifier.status(f"camera fault: {self.camera_error}" if self.camera_error else
                                 f"{stats.fps():.1f} fps, {stats.vehicles} vehicles, {stats.hits} hits")

    def stop(self) -> None:
        """Ask the run loop to finish; safe from a signal handler or another thread."""
        self._stopping.set()
        self.notifier.stopping()
        for camera in self.cameras:
            if camera.source is not None:
                camera.source.stop()

    def run(self, drain_timeout: float = 30.0) -> int:
        """Process the cameras' sources until they end or stop() is called.

        Returns the number of hits still waiting in the outbox at exit (0
        when everything was delivered). They stay on disk and go out on the
        next start.
        """
        # Purge first, so time the unit spent switched off does not extend retention.
        self._purge(at_start=True)
        self._last_purge = time.monotonic()
        self.publisher.start()
        for status in self.statuses:
            status.start()
        try:
            if len(self.cameras) == 1:
                self.cameras[0].run(self.handle, self._alive, self._stopping)
            else:
                self._supervise()
            for camera in self.cameras:
                if camera.source is not None and camera.source.last_error:
                    log.warning("camera %s: %s", camera.id, camera.source.last_error)
            live = any(c.source is not None and c.source.live for c in self.cameras)
            if not live and not self._stopping.is_set():
                self.publisher.drain(drain_timeout)
            return self.store.outbox_depth()
        finally:
            for camera in self.cameras:
                camera.close()
            self.hotlists.flush_rejections()  # the refusals counted since the last one recorded
            for status in self.statuses:
                status.stop()
            self.publisher.stop()
            self.store.close()
            self.instance.release()
            for camera in self.cameras:
                _log_counts(camera, len(self.cameras) > 1)

    def _supervise(self) -> None:
        """Several cameras: each on its own thread; this one feeds the watchdog while none is hung.

        A camera whose source cannot be opened (a file gone) is reported and
        the others go on; the agent fails with its error only if every
        camera did. Any other exception is a fault of the agent: it stops
        all cameras and is raised here, and systemd restarts the agent.
        """
        done = threading.Semaphore(0)

        def camera_thread(camera: CameraLoop) -> None:
            try:
                camera.run(self.handle, camera.beat, self._stopping)
            except AgentError as exc:
                camera.failure = exc
                log.error("camera %s: %s", camera.id, exc)
            except BaseException as exc:  # noqa: BLE001 - raised on the agent's thread below
                camera.failure = exc
                self.stop()
            finally:
                camera.beat_at = float("inf")  # ended: it can no longer be hung
                done.release()

        threads = [threading.Thread(target=camera_thread, args=(c,), name=f"camera-{c.id}", daemon=True)
                   for c in self.cameras]
        for thread in threads:
            thread.start()
        running = len(threads)
        while running:
            if done.acquire(timeout=1.0):
                running -= 1
                continue
            stalled = {c.id for c in self.cameras if time.monotonic() - c.beat_at > STALLED_SECONDS}
            if stalled - self._stalled:
                log.error("camera %s: no frame and no wait for %.0f s, hung in a read: the watchdog is no longer fed",
                          ", ".join(sorted(stalled - self._stalled)), STALLED_SECONDS)
            self._stalled = stalled
            if not stalled:
                self._alive()
        for thread in threads:
            thread.join()
        failures = [c.failure for c in self.cameras if c.failure is not None]
        if crash := next((f for f in failures if not isinstance(f, AgentError)), None):
            raise crash
        if failures and len(failures) == len(self.cameras):
            raise failures[0]

    def handle(self, vehicle: VehicleRead, camera: CameraLoop | None = None) -> Hit | None:
        with self._lock:
            return self._handle(vehicle, camera or self.cameras[0])

    def _handle(self, vehicle: VehicleRead, camera: CameraLoop) -> Hit | None:
        active = self.hotlists.active  # one read: the list and its version swap together
        hit = active.matcher.match(vehicle)
        if hit is None and vehicle.letters_only:
            # As often a badge or a sign's word as a vanity plate: it
            # counts only if it hits, so it is neither a vehicle nor kept.
            return None
        camera.stats.vehicles += 1
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
        unit = camera.setup.unit
        payload = self.publisher.alert_payload(hit, alert_id=alert_id, crop_jpeg=crop_jpeg, list_state=state,
                                               unit=unit)
        trusted = self.timeguard.check(datetime.now(timezone.utc)).trusted
        # With a crop-less payload to keep, a full card sends the hit to memory, never raises.
        self.store.add_hit(hit, alert_id=alert_id, topic=camera.topic, payload=payload, crop_jpeg=crop_jpeg,
                           camera=f"{unit.site}/{unit.camera_id}",
                           clock=(trusted, *self.timeguard.boot()),
                           payload_without_crop=self.publisher.alert_payload(
                               hit, alert_id=alert_id, crop_jpeg=None, list_state=state, withheld="disk_full",
                               unit=unit))
        camera.stats.hits += 1
        # No plate: the journal is kept longer than hit_days, and a destroyed hit must leave no trace.
        log.info("hit %s%s: %s %s, confidence %.2f over %d frames", alert_id,
                 f" on camera {camera.id}" if len(self.cameras) > 1 else "",
                 hit.entry.category or "-", hit.entry.ref or "-", vehicle.confidence, vehicle.frames)
        self.publisher.notify()
        return hit

    def _purge(self, at_start: bool = False) -> None:
        # At start the purge is logged even if it found nothing: proof it ran.
        with self._lock:
            counts = self.store.purge_due(self.timeguard, record=at_start)
        if any(counts.values()):
            log.info("retention purge: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))



def _log_counts(camera: CameraLoop, several: bool) -> None:
    stats, name = camera.stats, f"camera {camera.id}: " if several else ""
    log.info("%sstopped after %d frames (%.1f fps), %d vehicles, %d hits",
             name, stats.frames, stats.fps(), stats.vehicles, stats.hits)
    counts = camera.pipeline.motion.counts
    if counts.still:
        log.info("%smotion gate: %d of %d frames showed nothing moving and were not read",
                 name, counts.still, counts.frames)
    scans = getattr(camera.pipeline.detector, "scans", None)  # a detector passed in may not count them
    if scans is not None and scans.full + scans.follow:
        # How often the whole frame was scanned: a technician's check that following works.
        log.info("%swhole-frame scans: %d of %d stream frames; the rest followed the plates in view",
                 name, scans.full, scans.full + scans.follow)
