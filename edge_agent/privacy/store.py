"""The unit's disk state: hits, the alert outbox, holds and (opt-in) non-hits.

Everything read lives in one SQLite file under `data_dir` so that retention
can be enforced in one place. A hit's record, crop and queued alert are
stored only as AES-GCM ciphertext under its day's key (keys.py), which the
purge destroys when the day expires; `captured_at` stays readable because
retention is decided by it. The settings below are what make the privacy
invariants hold at the byte level, not just at the row level:

* `secure_delete=ON` zeroes deleted rows and freed pages instead of leaving
  them in the free list;
* WAL mode keeps old page images in `-wal` until a checkpoint, so every purge
  ends with `wal_checkpoint(TRUNCATE)`, which copies the zeroed pages back and
  cuts the `-wal` file to zero bytes (WAL also means no rollback `-journal`
  copies are ever written);
* `synchronous=FULL`, because a hit the pipeline was told is stored must
  survive the unit losing power with an SD card mid-write.

A full card never costs a hit: a hit that cannot be written waits in
memory (`_spill`), its alert without the crop, and goes to disk once the
purge made room; the reserve (datadir.py) lets the purge itself write.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import sqlite_utils

from .audit import SYSTEM_USER, AuditLog
from ..clock import as_utc as _as_utc
from ..clock import rfc3339_utc
from .datadir import DiskFull, Reserve, claim_data_dir, is_disk_full
from ..errors import AgentError
from .keys import KeyRing
from .non_hits import NonHitMixin
from .retention import RetentionMixin, _aad

if TYPE_CHECKING:  # only a type here; keeps this module importable on its own
    from ..config.retention import RetentionConfig
    from ..records import Hit

log = logging.getLogger(__name__)

DB_NAME = "edge-agent.db"
_SCHEMA_VERSION = 2
# Alerts held in memory while the card is full; ~1 KB each without a crop.
MAX_SPILL = 10000


@dataclass(frozen=True)
class OutboxItem:
    seq: int
    alert_id: str
    topic: str
    payload: bytes
    created_at: str


@dataclass(frozen=True)
class SpilledHit:
    """A hit the full card could not take: its alert (no crop) and its record, in memory."""

    item: OutboxItem
    captured_at: datetime
    camera: str
    record: dict
    clock: tuple[bool, str, float]
    delivered: bool = False  # sent from memory: only the record still waits for room


class Store(RetentionMixin, NonHitMixin):
    """Thread-safe: the pipeline thread writes hits, the publisher drains them.

    pipeline=False opens the store for an access command running beside the
    agent: it leaves the agent's non-hit window alone.
    """

    def __init__(self, data_dir: str | Path, retention: RetentionConfig, *,
                 non_hit_plaintext: bool = False, pipeline: bool = True):
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_NAME
        self._retention = retention
        self._plaintext = non_hit_plaintext
        self._lock = threading.Lock()
        # The non-hit HMAC key exists only in this process's memory; dropping
        # it at each window makes every older hash unlinkable (crypto-erase).
        self._key: bytes | None = None
        self._key_window: int | None = None
        self._non_hits_unlogged = 0  # destroyed but not yet in the access log
        self._non_hits_logged_at = datetime.now(timezone.utc)
        self.audit = AuditLog(self.data_dir)
        self._spill: list[SpilledHit] = []
        self.disk_full = False  # the last write failed for want of room
        self._pipeline = pipeline
        self._clock_reason = ""  # why the clock was last found untrusted; "" while trusted
        claim_data_dir(self.data_dir)
        self.reserve = Reserve(self.data_dir)
        try:
            self.keys = KeyRing(self.data_dir, on_problem=self._key_problem)
            try:
                self._conn = self._open(pipeline)
            except (OSError, sqlite3.Error) as exc:
                if not (is_disk_full(exc) and self.reserve.give_back()):
                    raise
                self.disk_full = True
                self._conn = self._open(pipeline)  # with the reserve's room
        except (OSError, sqlite3.Error) as exc:
            raise AgentError(f"cannot open the store {self.path}: {exc}") from exc
        if pipeline:
            self.reserve.take()

    def _key_problem(self, key_id: str, why: str) -> None:
        try:
            self.audit.record("key-set-aside", user=SYSTEM_USER, what=f"encryption key {key_id}: {why}")
        except AgentError as exc:
            log.error("key problem not recorded: %s", exc)

    def _open(self, pipeline: bool) -> sqlite3.Connection:
        # Create the file ourselves so it (and the -wal/-shm files SQLite
        # gives the same mode) is never world-readable, whatever the umask.
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
        try:
            conn.execute("PRAGMA secure_delete=ON")
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise sqlite3.OperationalError(f"journal_mode is {mode}, not wal")
            conn.execute("PRAGMA synchronous=FULL")
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"database is damaged ({check})")
            self._db = sqlite_utils.Database(conn, execute_plugins=False)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 1:
                from .store_v1 import migrate_v1

                migrate_v1(self)  # schema 1 kept hits in plain text
            elif version not in (0, _SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"schema {version} was written by another edge-agent version "
                                            f"(this one reads {_SCHEMA_VERSION})")
            self._create_schema(version)
            if pipeline:
                # Hashes left by an earlier run were made with a key that died
                # with that process, so they can never match again: drop them.
                with self._db.atomic():
                    conn.execute("DELETE FROM non_hits")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except BaseException:
            conn.close()
            raise
        return conn

    def _create_schema(self, version: int = 0) -> None:
        db = self._db
        # Only what an operator needs to act on a hit: plate, state, hot-list
        # category and ref, confidence (sealed in `record`), time, camera and
        # the plate crop. No box, no full frame, nothing of the occupants.
        db["hits"].create(
            {"alert_id": str, "captured_at": str, "camera": str, "key_id": str, "record": bytes, "crop": bytes},
            pk="alert_id",
            not_null={"captured_at", "key_id", "record"},
            if_not_exists=True,
        )
        db["hits"].create_index(["captured_at"], if_not_exists=True)
        # Where on the boot clock a hit stamped under an untrusted wall clock
        # was captured, so a trusted purge can tell its real age (timeguard.py).
        for column, kind in (("clock_trusted", int), ("boot_id", str), ("boot_seconds", float)):
            if column not in db["hits"].columns_dict:
                db["hits"].add_column(column, kind)
        # seq (rowid) gives publish order: always larger than any row present.
        db["outbox"].create(
            {"seq": int, "alert_id": str, "topic": str, "payload": bytes, "created_at": str,
             "captured_at": str, "key_id": str},
            pk="seq",
            not_null={"alert_id", "topic", "payload", "captured_at", "key_id"},
            if_not_exists=True,
        )
        db["outbox"].create_index(["alert_id"], unique=True, if_not_exists=True)
        db["holds"].create(
            {"id": int, "alert_id": str, "case_number": str, "approver": str, "until": str,
             "placed_at": str, "placed_by": str},
            pk="id",
            not_null={"alert_id", "case_number", "approver", "until"},
            if_not_exists=True,
        )
        db["non_hits"].create(
            {"id": int, "plate_hmac": str, "plate": str, "seen_at": str},
            pk="id",
            if_not_exists=True,
        )
        db["non_hits"].create_index(["seen_at"], if_not_exists=True)
        if version != _SCHEMA_VERSION:  # a write: not at every start, so a full card can still open
            self._conn_execute(f"PRAGMA user_version={_SCHEMA_VERSION}")

    def _conn_execute(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        return self._db.conn.execute(sql, params)

    # -- hits and the outbox -------------------------------------------------

    def add_hit(self, hit: Hit, *, alert_id: str, topic: str, payload: bytes, crop_jpeg: bytes,
                camera: str = "", clock: tuple[bool, str, float] = (True, "", 0.0),
                payload_without_crop: bytes | None = None) -> None:
        """Store a hit and queue its alert; `clock` is (wall clock trusted, boot id, seconds since boot).

        On a full card the hit waits in memory with `payload_without_crop`
        (raises DiskFull only if there is none to keep).
        """
        read, entry = hit.read, hit.entry
        record = {"plate": read.text, "state": entry.state, "category": entry.category, "ref": entry.ref,
                  "confidence": float(read.confidence), "distance": int(hit.distance)}
        created = rfc3339_utc(datetime.now(timezone.utc))
        captured_at = _as_utc(read.captured_at)
        with self._lock:
            try:
                self._write_hit(alert_id, captured_at, camera, record, bytes(crop_jpeg),
                                (topic, bytes(payload), created), clock)
                return
            except DiskFull:
                if payload_without_crop is None:
                    raise
            if len(self._spill) >= MAX_SPILL:
                lost = self._spill.pop(0)
                log.error("card full and %d alerts held in memory: the oldest, %s, is dropped",
                          MAX_SPILL, lost.item.alert_id)
            item = OutboxItem(-1, alert_id, topic, bytes(payload_without_crop), created)
            self._spill.append(SpilledHit(item, captured_at, camera, record, clock))
            log.error("card full: hit %s kept in memory, its alert queued without the crop", alert_id)

    def _write_hit(self, *args) -> None:
        """_insert, or DiskFull. The reserve is not for hits: it is what lets the purge make room."""
        try:
            self._insert(*args)
            self.disk_full = False
        except (OSError, sqlite3.Error, AgentError) as exc:
            if not is_disk_full(exc):
                raise
            self.disk_full = True
            raise DiskFull(f"the card under {self.data_dir} is full") from None

    def _insert(self, alert_id: str, captured_at: datetime, camera: str, record: dict, crop: bytes | None,
                queued: tuple[str, bytes, str] | None, clock: tuple[bool, str, float] = (True, "", 0.0)) -> None:
        """One hit, sealed under its day's key, with its queued alert (topic, payload, created_at) if any."""
        key_id = self.keys.day_key(captured_at)
        seal = self.keys.seal
        row = {
            "alert_id": alert_id,
            "captured_at": rfc3339_utc(captured_at),
            "camera": camera,
            "key_id": key_id,
            "record": seal(key_id, json.dumps(record).encode("utf-8"), _aad(alert_id, "record")),
            "crop": seal(key_id, crop, _aad(alert_id, "crop")) if crop is not None else None,
            "clock_trusted": int(bool(clock[0])),
            "boot_id": clock[1] or None,
            "boot_seconds": float(clock[2]),
        }
        with self._db.atomic():
            # One transaction: a hit is never stored without its alert, nor
            # an alert queued for a hit that was not stored.
            self._db["hits"].insert(row)
            if queued:
                topic, payload, created_at = queued
                self._db["outbox"].insert({
                    "alert_id": alert_id, "topic": topic, "created_at": created_at, "key_id": key_id,
                    "payload": seal(key_id, payload, _aad(alert_id, "payload")), "captured_at": row["captured_at"],
                })

    @property
    def hits_in_memory(self) -> int:
        """Hits the full card could not take yet."""
        return len(self._spill)

    @property
    def clock_problem(self) -> str:
        """Why the last purge did not trust the clock; "" if it did."""
        return self._clock_reason

    def flush_spill(self) -> int:
        """Write hits held in memory to disk if the card has room again; returns how many."""
        written = 0
        with self._lock:
            while self._spill:
                held = self._spill[0]
                try:
                    queued = None if held.delivered else (held.item.topic, held.item.payload, held.item.created_at)
                    self._write_hit(held.item.alert_id, held.captured_at, held.camera, held.record, None,
                                    queued, held.clock)
                except DiskFull:
                    break
                self._spill.pop(0)
                written += 1
        if written:
            log.info("%d hit(s) held in memory while the card was full are stored", written)
        return written

    def pending(self, limit: int = 100) -> list[OutboxItem]:
        with self._lock:
            spilled = [h.item for h in self._spill if not h.delivered]
            rows = self._conn_execute(
                "SELECT seq, alert_id, topic, payload, created_at, key_id FROM outbox ORDER BY seq LIMIT ?",
                (int(limit),),
            ).fetchall()
        items = []
        for seq, alert_id, topic, sealed, created_at, key_id in rows:
            payload = self.keys.open(key_id, bytes(sealed), _aad(alert_id, "payload"))
            if payload is None:
                # Its key file is unusable (keys.py reports it): the alert
                # cannot be read, so it cannot be sent; the row stays, for
                # the key may be restored.
                continue
            items.append(OutboxItem(seq, alert_id, topic, payload, created_at))
        # Alerts held in memory are newer than any on disk: after them.
        return (items + spilled)[:limit]

    def mark_delivered(self, alert_id: str) -> None:
        with self._lock:
            for i, held in enumerate(self._spill):
                if held.item.alert_id == alert_id:
                    self._spill[i] = dataclasses.replace(held, delivered=True)
                    return
            with self._db.atomic():
                self._conn_execute("DELETE FROM outbox WHERE alert_id = ?", (alert_id,))

    def outbox_depth(self) -> int:
        with self._lock:
            waiting = sum(not h.delivered for h in self._spill)
            return int(self._conn_execute("SELECT count(*) FROM outbox").fetchone()[0]) + waiting

    def outbox_bytes(self) -> int:
        """Payload bytes waiting in the outbox (the bound in [mqtt] outbox_max_mb)."""
        with self._lock:
            # length() of a BLOB reads the record header, not the payload.
            on_disk = self._conn_execute("SELECT coalesce(sum(length(payload)), 0) FROM outbox").fetchone()[0]
            return int(on_disk) + sum(len(h.item.payload) for h in self._spill if not h.delivered)

    def hits(self) -> list[dict]:
        """Every hit still readable, decrypted; `held` marks those under a preservation hold."""
        with self._lock:
            rows = self._conn_execute(
                "SELECT alert_id, captured_at, camera, key_id, record FROM hits ORDER BY captured_at, alert_id"
            ).fetchall()
        out = []
        for alert_id, captured_at, camera, key_id, sealed in rows:
            record = self.keys.open(key_id, bytes(sealed), _aad(alert_id, "record"))
            if record is None:
                continue
            fields = json.loads(record)
            out.append({
                "alert_id": alert_id, "plate": fields["plate"], "confidence": fields["confidence"],
                "captured_at": captured_at, "camera": camera, "hotlist_category": fields["category"],
                "hotlist_ref": fields["ref"], "hotlist_state": fields["state"], "distance": fields["distance"],
                "held": key_id.startswith("held-"),
            })
        return out

    def crop(self, alert_id: str) -> bytes | None:
        """The plate crop of a hit, or None if there is no such hit (or it is destroyed)."""
        with self._lock:
            row = self._conn_execute("SELECT key_id, crop FROM hits WHERE alert_id = ?", (alert_id,)).fetchone()
        if row is None or row[1] is None:
            return None
        return self.keys.open(row[0], bytes(row[1]), _aad(alert_id, "crop"))

    def _checkpoint(self) -> None:
        busy, _, _ = self._conn_execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            # Only another connection to the file can block it; say so, since
            # until the next checkpoint deleted rows still sit in the -wal.
            log.warning("store checkpoint of %s was blocked; retrying at the next purge", self.path)

    def close(self) -> None:
        with self._lock:
            if self._conn is None:
                return
            try:
                self._checkpoint()
            finally:
                self._conn.close()
                self._conn = None  # type: ignore[assignment]
