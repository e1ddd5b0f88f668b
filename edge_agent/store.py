"""The unit's only disk state: hits, the alert outbox and (opt-in) non-hit hashes.

Everything lives in one SQLite file under `data_dir` so that retention can be
enforced in one place. The settings below are what make the privacy
invariants hold at the byte level, not just at the row level:

* `secure_delete=ON` zeroes deleted rows and freed pages instead of leaving
  them in the free list;
* WAL mode keeps old page images in `-wal` until a checkpoint, so every purge
  ends with `wal_checkpoint(TRUNCATE)`, which copies the zeroed pages back and
  cuts the `-wal` file to zero bytes (WAL also means no rollback `-journal`
  copies are ever written);
* `synchronous=FULL`, because a hit the pipeline was told is stored must
  survive the unit losing power with an SD card mid-write.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import sqlite_utils

from .errors import AgentError

if TYPE_CHECKING:  # only a type here; keeps this module importable on its own
    from .config.retention import RetentionConfig
    from .records import Hit, VehicleRead

log = logging.getLogger(__name__)

DB_NAME = "edge-agent.db"
_SCHEMA_VERSION = 1


def _as_utc(when: datetime) -> datetime:
    # Records carry aware UTC datetimes; a naive one is taken as UTC rather
    # than local time, which is what astimezone() would assume.
    if when.tzinfo is None:
        return when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)


def rfc3339_utc(when: datetime) -> str:
    """'2024-05-01T12:00:00.123Z': fixed width, so text order is time order."""
    when = _as_utc(when)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class OutboxItem:
    seq: int
    alert_id: str
    topic: str
    payload: bytes
    created_at: str


class Store:
    """Thread-safe: the pipeline thread writes hits, the publisher drains them."""

    def __init__(self, data_dir: str | Path, retention: RetentionConfig):
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_NAME
        self._retention = retention
        self._lock = threading.Lock()
        # The non-hit HMAC key exists only in this process's memory; dropping
        # it at each window makes every older hash unlinkable (crypto-erase).
        self._key: bytes | None = None
        self._key_window: int | None = None
        try:
            self._conn = self._open()
        except (OSError, sqlite3.Error) as exc:
            raise AgentError(f"cannot open the store {self.path}: {exc}") from exc

    def _open(self) -> sqlite3.Connection:
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            os.chmod(self.data_dir, 0o700)  # mkdir's mode is subject to umask
        except PermissionError:
            log.warning("cannot restrict %s to mode 0700", self.data_dir)
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
            self._create_schema()
            # Hashes left by an earlier run were made with a key that died
            # with that process, so they can never match again: drop them.
            with self._db.atomic():
                conn.execute("DELETE FROM non_hits")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except BaseException:
            conn.close()
            raise
        return conn

    def _create_schema(self) -> None:
        db = self._db
        # Only what an operator needs to act on a hit; nothing else about the
        # vehicle (no box, no full frame) is ever written.
        db["hits"].create(
            {
                "alert_id": str,
                "plate": str,
                "confidence": float,
                "captured_at": str,
                "hotlist_category": str,
                "hotlist_ref": str,
                "hotlist_state": str,
                "distance": int,
                "crop_jpeg": bytes,
            },
            pk="alert_id",
            not_null={"plate", "captured_at"},
            if_not_exists=True,
        )
        db["hits"].create_index(["captured_at"], if_not_exists=True)
        # seq (rowid) gives publish order: always larger than any row present.
        db["outbox"].create(
            {"seq": int, "alert_id": str, "topic": str, "payload": bytes, "created_at": str},
            pk="seq",
            not_null={"alert_id", "topic", "payload"},
            if_not_exists=True,
        )
        db["outbox"].create_index(["alert_id"], unique=True, if_not_exists=True)
        db["non_hits"].create(
            {"id": int, "plate_hmac": str, "seen_at": str},
            pk="id",
            if_not_exists=True,
        )
        db["non_hits"].create_index(["seen_at"], if_not_exists=True)
        self._conn_execute(f"PRAGMA user_version={_SCHEMA_VERSION}")

    def _conn_execute(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        return self._db.conn.execute(sql, params)

    # -- hits and the outbox -------------------------------------------------

    def add_hit(self, hit: Hit, *, alert_id: str, topic: str, payload: bytes, crop_jpeg: bytes) -> None:
        read, entry = hit.read, hit.entry
        row = {
            "alert_id": alert_id,
            "plate": read.text,
            "confidence": float(read.confidence),
            "captured_at": rfc3339_utc(read.captured_at),
            "hotlist_category": entry.category,
            "hotlist_ref": entry.ref,
            "hotlist_state": entry.state,
            "distance": int(hit.distance),
            "crop_jpeg": bytes(crop_jpeg),
        }
        item = {
            "alert_id": alert_id,
            "topic": topic,
            "payload": bytes(payload),
            "created_at": rfc3339_utc(datetime.now(timezone.utc)),
        }
        with self._lock, self._db.atomic():
            # One transaction: a hit is never stored without its alert, nor
            # an alert queued for a hit that was not stored.
            self._db["hits"].insert(row)
            self._db["outbox"].insert(item)

    def pending(self, limit: int = 100) -> list[OutboxItem]:
        with self._lock:
            rows = self._conn_execute(
                "SELECT seq, alert_id, topic, payload, created_at FROM outbox ORDER BY seq LIMIT ?",
                (int(limit),),
            ).fetchall()
        return [OutboxItem(r[0], r[1], r[2], bytes(r[3]), r[4]) for r in rows]

    def mark_delivered(self, alert_id: str) -> None:
        with self._lock, self._db.atomic():
            self._conn_execute("DELETE FROM outbox WHERE alert_id = ?", (alert_id,))

    def outbox_depth(self) -> int:
        with self._lock:
            return int(self._conn_execute("SELECT count(*) FROM outbox").fetchone()[0])

    def hits(self) -> list[dict]:
        with self._lock:
            cur = self._conn_execute(
                "SELECT alert_id, plate, confidence, captured_at, hotlist_category, hotlist_ref,"
                " hotlist_state, distance FROM hits ORDER BY captured_at, alert_id"
            )
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]

    # -- non-hits (opt-in, minutes) ------------------------------------------

    def _window_key(self, now: datetime) -> bytes | None:
        """The HMAC key of the window holding `now`; rotates (and forgets) lazily."""
        minutes = self._retention.non_hit_minutes
        if minutes <= 0:
            self._key = self._key_window = None
            return None
        window = int(_as_utc(now).timestamp() // (minutes * 60))
        if window != self._key_window or self._key is None:
            self._key = secrets.token_bytes(32)
            self._key_window = window
        return self._key

    def _plate_hmac(self, key: bytes, plate: str) -> str:
        return hmac.new(key, plate.encode("utf-8"), hashlib.sha256).hexdigest()

    def remember_non_hit(self, read: VehicleRead, now: datetime) -> None:
        if self._retention.non_hit_minutes <= 0:
            return  # the default: a non-hit is compared in memory and forgotten
        with self._lock:
            key = self._window_key(now)
            assert key is not None
            with self._db.atomic():
                self._conn_execute(
                    "INSERT INTO non_hits (plate_hmac, seen_at) VALUES (?, ?)",
                    (self._plate_hmac(key, read.text), rfc3339_utc(now)),
                )

    def non_hit_seen(self, plate: str, now: datetime) -> int:
        """How often `plate` was seen in the current key window (0 if forgotten).

        Lets a hot list that arrives late be checked against recent passages
        without the unit ever holding their plate text.
        """
        if self._retention.non_hit_minutes <= 0:
            return 0
        with self._lock:
            key = self._window_key(now)
            assert key is not None
            row = self._conn_execute(
                "SELECT count(*) FROM non_hits WHERE plate_hmac = ?", (self._plate_hmac(key, plate),)
            ).fetchone()
        return int(row[0])

    def non_hit_count(self) -> int:
        with self._lock:
            return int(self._conn_execute("SELECT count(*) FROM non_hits").fetchone()[0])

    # -- retention -----------------------------------------------------------

    def purge(self, now: datetime) -> dict[str, int]:
        hit_cutoff = rfc3339_utc(now - timedelta(days=self._retention.hit_days))
        minutes = self._retention.non_hit_minutes
        with self._lock:
            self._window_key(now)  # rotate even if no read arrived this window
            with self._db.atomic():
                # An alert that could not be delivered within the hit's
                # retention must not outlive it: its payload holds the plate.
                outbox = self._conn_execute(
                    "DELETE FROM outbox WHERE alert_id IN (SELECT alert_id FROM hits WHERE captured_at < ?)",
                    (hit_cutoff,),
                ).rowcount
                hits = self._conn_execute("DELETE FROM hits WHERE captured_at < ?", (hit_cutoff,)).rowcount
                if minutes > 0:
                    cutoff = rfc3339_utc(now - timedelta(minutes=minutes))
                    non_hits = self._conn_execute("DELETE FROM non_hits WHERE seen_at < ?", (cutoff,)).rowcount
                else:
                    # Retention was turned off since these were written.
                    non_hits = self._conn_execute("DELETE FROM non_hits").rowcount
            self._checkpoint()
        if outbox:
            log.warning("%d undelivered alert(s) expired after %d days", outbox, self._retention.hit_days)
        return {"hits": hits, "outbox": outbox, "non_hits": non_hits}

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
