"""How long a hit lives: the purge, and preservation holds. Part of the Store.

A hit is destroyed `hit_days` after it was captured: its row is deleted
(secure_delete zeroes it, the WAL is checkpointed and truncated) and, once
its whole UTC day has expired, the day's key is destroyed, so any copy an SD
card kept is unreadable. The purge runs at start, so time switched off never
extends retention, and then every `purge_interval_seconds`.

A preservation hold keeps one hit past expiry for a case, until an end date.
The hit is re-encrypted under a key of its own, so the rest of its day is
destroyed on time; when its last hold ends the hit goes back under its day
key if that day is still within retention, and is destroyed otherwise.
Every purge that destroyed something, and every hold that ended, is
recorded in the access log with counts and ids only.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING

from .audit import SYSTEM_USER
from .clock import as_utc, parse_rfc3339, rfc3339_utc
from .errors import AgentError, InputError
from .keys import day_key_id, held_key_id, key_day

if TYPE_CHECKING:
    from .store import Store

log = logging.getLogger(__name__)

# Non-hit hashes are purged every minute; one access-log entry an hour for
# them is proof enough and keeps the log small.
NON_HIT_LOG_SECONDS = 3600


def _aad(alert_id: str, part: str) -> bytes:
    # Binds each ciphertext to its hit and column: a blob copied to another
    # row or column does not decrypt.
    return f"edge-agent/{alert_id}/{part}".encode("utf-8")


class RetentionMixin:
    def purge(self: Store, now: datetime, *, record: bool = False) -> dict[str, int]:
        """Destroy what has expired; record=True logs the purge even if it found nothing (at start)."""
        now = as_utc(now)
        cutoff_at = now - timedelta(days=self._retention.hit_days)
        cutoff = rfc3339_utc(cutoff_at)
        minutes = self._retention.non_hit_minutes
        with self._lock:
            self._window_key(now)  # rotate even if no read arrived this window
            with self._db.atomic():
                # A write first, so the database's write lock is held from here:
                # a hold placed by another process cannot slip in between
                # deciding a key is unused and destroying it.
                ended = self._conn_execute(
                    "DELETE FROM holds WHERE until < ? RETURNING id, alert_id, case_number, until",
                    (now.date().isoformat(),),
                ).fetchall()
                released = self._release(cutoff)
                # An alert that could not be delivered within the hit's
                # retention must not outlive it: its payload holds the plate.
                outbox = self._conn_execute("DELETE FROM outbox WHERE captured_at < ?", (cutoff,)).rowcount
                hits = self._conn_execute(
                    "DELETE FROM hits WHERE captured_at < ? AND key_id NOT LIKE 'held-%'", (cutoff,)
                ).rowcount + released
                if minutes > 0:
                    since = rfc3339_utc(now - timedelta(minutes=minutes))
                    non_hits = self._conn_execute("DELETE FROM non_hits WHERE seen_at < ?", (since,)).rowcount
                else:
                    # Retention was turned off since these were written.
                    non_hits = self._conn_execute("DELETE FROM non_hits").rowcount
                # Inside the transaction: should it roll back, the rows left
                # locked by a destroyed key had expired anyway.
                keys = sum(self.keys.destroy(k) for k in self._expired_keys(cutoff_at))
            self._checkpoint()
        if outbox:
            log.warning("%d undelivered alert(s) expired after %d days", outbox, self._retention.hit_days)
        counts = {"hits": hits, "outbox": outbox, "non_hits": non_hits, "keys": keys, "holds": len(ended)}
        self._record_purge(counts, ended, now, record)
        return counts

    def _release(self: Store, cutoff: str) -> int:
        """Hits whose last hold ended: back under their day key, or destroyed; returns how many destroyed."""
        rows = self._conn_execute(
            "SELECT alert_id, captured_at, key_id, record, crop FROM hits"
            " WHERE key_id LIKE 'held-%' AND alert_id NOT IN (SELECT alert_id FROM holds)"
        ).fetchall()
        destroyed = 0
        for alert_id, captured_at, key_id, record, crop in rows:
            day_key = day_key_id(parse_rfc3339(captured_at))
            if captured_at < cutoff or not self._reseal(alert_id, key_id, day_key, record, crop):
                self._conn_execute("DELETE FROM hits WHERE alert_id = ?", (alert_id,))
                destroyed += 1
        return destroyed

    def _reseal(self: Store, alert_id: str, old: str, new: str, record: bytes, crop: bytes | None) -> bool:
        plain = self.keys.open(old, bytes(record), _aad(alert_id, "record"))
        picture = self.keys.open(old, bytes(crop), _aad(alert_id, "crop")) if crop is not None else None
        if plain is None or (crop is not None and picture is None):
            return False
        self._conn_execute(
            "UPDATE hits SET key_id = ?, record = ?, crop = ? WHERE alert_id = ?",
            (new, self.keys.seal(new, plain, _aad(alert_id, "record")),
             self.keys.seal(new, picture, _aad(alert_id, "crop")) if picture is not None else None, alert_id),
        )
        return True

    def _expired_keys(self: Store, cutoff_at: datetime) -> list[str]:
        in_use = {r[0] for r in self._conn_execute("SELECT DISTINCT key_id FROM hits UNION SELECT key_id FROM outbox")}
        out = []
        for key_id in self.keys.ids():
            day = key_day(key_id)
            if day is not None:
                # A day key lives until the last moment of its day has expired.
                if datetime.combine(day + timedelta(days=1), time(), timezone.utc) <= cutoff_at:
                    out.append(key_id)
            elif key_id not in in_use:
                out.append(key_id)  # a hold key whose hit was released or destroyed
        return out

    def _record_purge(self: Store, counts: dict[str, int], ended: list, now: datetime, record: bool) -> None:
        self._non_hits_unlogged += counts["non_hits"]
        destroyed = counts["hits"] or counts["outbox"] or counts["keys"] or counts["holds"]
        hourly = self._non_hits_unlogged and (now - self._non_hits_logged_at).total_seconds() >= NON_HIT_LOG_SECONDS
        try:
            for _id, alert_id, case, until in ended:
                self.audit.record("hold-ended", user=SYSTEM_USER, case=case,
                                  what=f"hold {_id} on hit {alert_id} ended after {until}")
            if record or destroyed or hourly:
                self.audit.record("purge", user=SYSTEM_USER, what=(
                    f"destroyed {counts['hits']} hits, {counts['outbox']} queued alerts, {counts['keys']} keys, "
                    f"{self._non_hits_unlogged} non-hit records; {counts['holds']} holds ended"))
                self._non_hits_unlogged, self._non_hits_logged_at = 0, now
        except AgentError as exc:
            # The destruction itself happened; only its record is missing.
            log.error("purge not recorded: %s", exc)

    # -- holds -----------------------------------------------------------------

    def hold(self: Store, alert_id: str, *, case: str, approver: str, until: date, user: str,
             now: datetime) -> int:
        """Keep one hit until the end of `until`; returns the hold's number."""
        now = as_utc(now)
        if not case.strip() or not approver.strip():
            raise InputError("hold: a case number and an approver are required")
        if until < now.date():
            raise InputError(f"hold: the end date {until.isoformat()} has passed")
        cutoff = rfc3339_utc(now - timedelta(days=self._retention.hit_days))
        with self._lock:
            try:
                with self._db.atomic():
                    # The insert takes the write lock before anything is read,
                    # so no purge can destroy the hit or its new key meanwhile.
                    cur = self._conn_execute(
                        "INSERT INTO holds (alert_id, case_number, approver, until, placed_at, placed_by)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (alert_id, case.strip(), approver.strip(), until.isoformat(), rfc3339_utc(now), user),
                    )
                    row = self._conn_execute(
                        "SELECT captured_at, key_id, record, crop FROM hits WHERE alert_id = ?", (alert_id,)
                    ).fetchone()
                    held = row is not None and row[1].startswith("held-")
                    if row is None or (row[0] < cutoff and not held):
                        raise InputError(f"hold: no hit {alert_id} within retention")
                    if not held and not self._reseal(alert_id, row[1], held_key_id(alert_id), row[2], row[3]):
                        raise InputError(f"hold: hit {alert_id} can no longer be read")
            except sqlite3.Error as exc:
                raise AgentError(f"hold: cannot write the store {self.path}: {exc}") from None
            self._checkpoint()
        return int(cur.lastrowid)

    def holds(self: Store) -> list[dict]:
        with self._lock:
            cur = self._conn_execute(
                "SELECT id, alert_id, case_number, approver, until, placed_at, placed_by FROM holds ORDER BY id")
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]
