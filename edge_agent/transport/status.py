"""The unit's heartbeat: a retained status message and `<data_dir>/status.json`.

`<topic_prefix>/<site>/<camera_id>/status` is retained, so a central
dashboard that connects at any time sees each unit's last word: a snapshot
every `status_interval_seconds` (and at once on every connect, every new
hot list, and a camera's fault starting or ending), or the
`offline` message, which the broker publishes as the unit's will when it
vanishes and the unit publishes itself when it stops cleanly. The same
snapshot goes to status.json (temp file + rename, so a reader never sees
half of one) for `edge-agent status` on the unit.

A snapshot carries counts, sizes, versions and errors, never plate text.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .. import __version__
from .alerts import encode_json, status_topic
from ..clock import rfc3339_utc
from ..privacy.datadir import RESERVE_BYTES, replace_file
from ..errors import AgentError
from .mqtt_link import UP, MqttLink

if TYPE_CHECKING:
    from ..config.mqtt import MqttConfig
    from ..config.unit import UnitConfig
    from .hotlist_sync import HotlistSync
    from .publish import HitPublisher
    from ..privacy.store import Store

log = logging.getLogger(__name__)

STATUS_SCHEMA = "edge-agent/status/1"
STATUS_FILE = "status.json"
# How often a signed list stored by `hotlist import` is looked for.
CHECK_SECONDS = 2.0
# Below this share of free space the card is about to stop taking hits.
DISK_LOW_FRACTION = 0.05


def status_file(camera_id: str | None = None) -> str:
    """The status file's name in data_dir: one camera's, when there are several."""
    return f"status.{camera_id}.json" if camera_id else STATUS_FILE


class StatusReporter:
    def __init__(self, unit: UnitConfig, mqtt: MqttConfig, data_dir: str | os.PathLike[str], *,
                 publisher: HitPublisher, store: Store, stats: Any, hotlists: HotlistSync | None = None,
                 max_age_hours: float = 0.0, camera_error: Callable[[], str] = lambda: "",
                 own_link: bool = False, watch_imports: bool = True, several: bool = False):
        """One camera's status. With several cameras (`several`), each has its
        own file (status_file), and each past the first its own MQTT link
        (`own_link`), for its own will; one of them (`watch_imports`) looks
        for hot lists that `hotlist import` stored."""
        self.unit = unit
        self.topic = status_topic(mqtt, unit)
        self.interval = mqtt.status_interval_seconds
        self.folder = Path(data_dir)
        self.file = self.folder / status_file(unit.camera_id if several else None)
        self._link = MqttLink(mqtt, f"{mqtt.client_id or f'edge-agent-{unit.site}'}-{unit.camera_id}") \
            if own_link else publisher.link
        self._own_link = own_link
        self._watch_imports = watch_imports
        self._publisher = publisher
        self._store = store
        self._stats = stats
        self._hotlists = hotlists
        self._max_age = max_age_hours
        self._camera_error = camera_error
        self._started = time.monotonic()
        self._last_frames = (self._started, 0)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        # Held while a heartbeat is published: once stop() has said offline,
        # no late heartbeat may retain "online" over it (the thread is given
        # only so long to finish).
        self._publishing = threading.Lock()
        self._thread: threading.Thread | None = None
        self._link.set_will(self.topic, encode_json(self.offline("connection lost", at=False)))
        self._link.add_listener(self._on_link_event)

    def offline(self, reason: str, *, at: bool = True) -> dict[str, Any]:
        doc = {"schema": STATUS_SCHEMA, "state": "offline", "site": self.unit.site,
               "camera_id": self.unit.camera_id, "reason": reason}
        if at:  # a will is written at connect time, when the moment it stands for is unknown
            doc["at"] = rfc3339_utc(datetime.now(timezone.utc))
        return doc

    def snapshot(self) -> dict[str, Any]:
        now = datetime.now(timezone.utc)
        mono = time.monotonic()
        stats, pub = self._stats, self._publisher
        then, frames_then = self._last_frames
        self._last_frames = (mono, stats.frames)
        queued = self._store.outbox_bytes()
        outbox_full = pub.outbox_full(queued)
        errors = [pub.last_error, self._camera_error()]
        alarms = []
        hotlist: dict[str, Any] = {"version": None, "origin": "none", "issued_at": None, "age_hours": None,
                                   "stale": False, "entries": 0}
        if self._hotlists is not None:
            active = self._hotlists.active
            age = active.age_hours(now)
            hotlist = {"version": active.version, "origin": active.origin,
                       "issued_at": rfc3339_utc(active.issued_at) if active.issued_at else None,
                       "age_hours": round(age, 2) if age is not None else None,
                       "stale": active.stale(self._max_age, now), "entries": len(active.matcher)}
            errors.append(self._hotlists.last_rejection)
            if self._hotlists.last_rejection:
                alarms.append("hotlist_rejected")
            if active.origin != "none" and hotlist["entries"] == 0:
                # A list is in force but nothing can hit (empty, expired, refused by
                # policy); with no list at all, hotlist_missing says so instead.
                alarms.append("hotlist_empty")
        disk = self._disk()
        store = self._store
        clock_problem = store.clock_problem
        key_problems = dict(store.keys.problems)
        errors += [f"retention paused: {clock_problem}" if clock_problem else "",
                   next(iter(key_problems.values()), "")]
        alarms += [name for name, on in (
            ("outbox_full", outbox_full),
            ("hotlist_missing", hotlist["origin"] == "none"),
            ("hotlist_stale", hotlist["stale"] and hotlist["origin"] != "none"),
            ("mqtt_disconnected", not pub.connected),
            ("broker_refusing", bool(pub.refusal)),
            ("camera_error", bool(self._camera_error())),
            ("disk_low", disk["free_bytes"] < DISK_LOW_FRACTION * disk["total_bytes"]),
            # Hits then wait in memory and the reserve is spent on the purge (datadir.py).
            ("disk_full", store.disk_full or disk["free_bytes"] < RESERVE_BYTES),
            ("clock_untrusted", bool(clock_problem)),
            ("key_unusable", bool(key_problems)),
        ) if on]
        return {
            "schema": STATUS_SCHEMA,
            "state": "online",
            "site": self.unit.site,
            "camera_id": self.unit.camera_id,
            "at": rfc3339_utc(now),
            "agent_version": __version__,
            "uptime_seconds": int(mono - self._started),
            "fps": round((stats.frames - frames_then) / (mono - then), 2) if mono > then else 0.0,
            "frame_age_seconds": None if (age := getattr(stats, "frame_age", None)) is None else round(age, 2),
            "camera_fps": None if (sent := getattr(stats, "camera_fps", None)) is None else round(sent, 1),
            "frames": stats.frames,
            "reads": stats.reads,
            "vehicles": stats.vehicles,
            "hits": stats.hits,
            "outbox": {"depth": self._store.outbox_depth(), "bytes": queued, "max_bytes": pub.max_outbox_bytes,
                       "crops_withheld": pub.crops_withheld, "delivered": pub.delivered,
                       "in_memory": store.hits_in_memory},
            # Why hits are not purged by age now ("" while the clock is trusted): a clock
            # unsynchronised, jumped, or gone back behind a time it already showed.
            "clock": {"trusted": not clock_problem, "problem": clock_problem},
            "hotlist": hotlist,
            "mqtt": {"connected": pub.connected},
            "disk": disk,
            "last_error": next((e for e in errors if e), None),
            "alarms": alarms,
        }

    def _disk(self) -> dict[str, Any]:
        usage = shutil.disk_usage(self.folder)
        own = 0
        for path in self.folder.rglob("*"):
            try:
                own += path.stat().st_size if path.is_file() else 0
            except OSError:
                pass  # removed while we looked
        return {"data_dir_bytes": own, "free_bytes": usage.free, "total_bytes": usage.total,
                "used_percent": round(100.0 * usage.used / usage.total, 1) if usage.total else 0.0}

    # -- heartbeat ---------------------------------------------------------------

    def start(self) -> None:
        self._started = time.monotonic()
        self._last_frames = (self._started, 0)
        self._thread = threading.Thread(target=self._run, name="status", daemon=True)
        self._thread.start()
        if self._own_link:
            self._link.start()

    def stop(self, reason: str = "stopped") -> None:
        """Say goodbye: a retained offline status (a clean disconnect sends no will)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        doc = self.offline(reason)
        with self._publishing:
            self.write_file(doc)
            sent = self._link.publish(self.topic, encode_json(doc), retain=True)
        if sent is not None:
            try:
                sent[1].wait_for_publish(2.0)
            except (RuntimeError, ValueError):
                pass  # the connection went first; the broker then publishes the will instead
        if self._own_link:
            self._link.stop()

    def beat(self) -> dict[str, Any]:
        doc = self.snapshot()
        self.write_file(doc)
        self._link.publish(self.topic, encode_json(doc), retain=True)
        return doc

    def write_file(self, doc: dict[str, Any]) -> None:
        try:
            replace_file(self.file, json.dumps(doc, indent=1).encode(),
                         tmp=self.file.with_name(f".{self.file.name}.tmp"), mode=0o640, fsync=False)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.file, exc.strerror or exc)

    def _on_link_event(self, event: tuple) -> None:
        if event[0] == UP:
            self._wake.set()  # replace the will at once with a live status

    def _run(self) -> None:
        next_beat = 0.0
        in_force = None
        camera_down = False
        while not self._stopping.is_set():
            if self._hotlists is not None and self._watch_imports:
                try:
                    self._hotlists.check_installed()
                except AgentError as exc:  # a file it cannot read (root's): once a beat, one line
                    log.error("checking for an imported hot list failed: %s", exc)
                except Exception:
                    log.exception("checking for an imported hot list failed")
            if self._hotlists is not None and self._hotlists.active is not in_force:
                in_force = self._hotlists.active
                self._wake.set()  # central sees a new list version at once
            # A camera's fault is said when it starts and when it ends, not at
            # the next heartbeat: a camera gone at start would otherwise show
            # only status_interval_seconds later, if the run lasts that long.
            # Its presence, not its text: a stream retrying changes the text.
            if bool(self._camera_error()) != camera_down:
                camera_down = not camera_down
                self._wake.set()
            if self._wake.is_set() or time.monotonic() >= next_beat:
                self._wake.clear()
                try:
                    with self._publishing:
                        if not self._stopping.is_set():
                            self.beat()
                except Exception:  # the heartbeat must outlive one bad reading
                    log.exception("status heartbeat failed")
                next_beat = time.monotonic() + self.interval
            self._wake.wait(min(CHECK_SECONDS, max(0.05, next_beat - time.monotonic())))
