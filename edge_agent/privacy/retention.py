"""How long a hit lives: the purge, and preservation holds. Part of the Store.

A hit is destroyed `hit_days` after it was captured: its row is deleted
(secure_delete zeroes it, the WAL is checkpointed and truncated) and, once
its whole UTC day has expired, the day's key is destroyed, so any copy an SD
card kept is unreadable. The purge runs at start, so time switched off never
extends retention, and then every `purge_interval_seconds`.

Age alone never destroys an alert not yet delivered: the hit, its queued
alert and its key stay until the broker took it. And age is judged only by
a clock that can be trusted (timeguard.py): while it cannot, the purge
destroys no hit; a hit captured meanwhile is re-dated by the boot clock at
the first trusted purge (and moved under its true day's key), so a clock
that was weeks behind never shortens its retention.

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
from ..clock import as_utc, parse_rfc3339, rfc3339_utc, utc_now
from .datadir import is_disk_full
from ..errors import AgentError, InputError
from .keys import held_key_id, key_day
from .timeguard import ClockVerdict, TimeGuard, corrected_capture

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


_NOTHING = {"hits": 0, "outbox": 0, "non_hits": 0, "keys": 0, "holds": 0}


class RetentionMixin:
    def purge_due(self: Store, guard: TimeGuard, *, record: bool = False) -> dict[str, int]:
        """The purge by the wall clock, as far as `guard` trusts it; never raises for a full card."""
        now = utc_now()
        verdict = guard.check(now)
        self._note_clock(verdict)
        try:
            if not verdict.trusted:
                return self._purge_non_hits(now)
            counts = self.purge(now, record=record, boot=guard.boot())
        except (OSError, sqlite3.Error, AgentError) as exc:
            if not is_disk_full(exc):
                raise
            self.disk_full = True
            if not self.reserve.give_back():
                log.error("purge failed, the card is full: %s", exc)
                return dict(_NOTHING)
            counts = self.purge(now, record=record, boot=guard.boot())
        self.flush_spill()
        if not self.disk_full and self._pipeline:  # the agent's reserve; a command takes none
            self.reserve.take()
        return counts

    def _note_clock(self: Store, verdict: ClockVerdict) -> None:
        """Record in the access log when the clock stops or starts being trusted, and why."""
        if verdict.reason == self._clock_reason:
            return
        self._clock_reason = verdict.reason
        what = (f"hits are kept, not purged: {verdict.reason}" if verdict.reason
                else "the clock is trusted again; purges resume")
        # The agent's journal must show it; a command says it in the access log only.
        (log.warning if verdict.reason and self._pipeline else log.info)("retention: %s", what)
        try:
            self.audit.record("clock", user=SYSTEM_USER, what=what)
        except AgentError as exc:
            log.error("clock change not recorded: %s", exc)

    def _purge_non_hits(self: Store, now: datetime) -> dict[str, int]:
        """What an untrusted clock may still destroy: non-hits, whose loss harms nobody."""
        counts = dict(_NOTHING)
        if self._retention.non_hit_minutes <= 0:
            return counts  # none are written, and the agent's store dropped any left at its start
        with self._lock:
            self._window_key(now)
            with self._db.atomic():
                counts["non_hits"] = self._delete_non_hits(now)
            self._checkpoint()
        return counts

    def _delete_non_hits(self: Store, now: datetime) -> int:
        minutes = self._retention.non_hit_minutes
        if minutes <= 0:
            # Retention was turned off since these were written.
            return self._conn_execute("DELETE FROM non_hits").rowcount
        since = rfc3339_utc(now - timedelta(minutes=minutes))
        # A row from the future was written before the clock went back: its
        # age is unknown, and a non-hit is the one thing safe to destroy early.
        return self._conn_execute("DELETE FROM non_hits WHERE seen_at < ? OR seen_at > ?",
                                  (since, rfc3339_utc(now))).rowcount

    def purge(self: Store, now: datetime, *, record: bool = False,
              boot: tuple[str, float] | None = None) -> dict[str, int]:
        """Destroy what has expired by `now`, a time to be trusted; record=True logs the purge even if it
        found nothing (at start). `boot` (boot id, seconds since boot) at `now` re-dates hits captured under
        an untrusted clock."""
        now = as_utc(now)
        cutoff_at = now - timedelta(days=self._retention.hit_days)
        cutoff = rfc3339_utc(cutoff_at)
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
                self._redate(now, boot or ("", 0.0))
                released = self._release(cutoff)
                # An alert not yet delivered is never destroyed by age: the
                # broker may have been away, or the clock wrong. Its hit and
                # key wait for it.
                hits = self._conn_execute(
                    "DELETE FROM hits WHERE captured_at < ? AND key_id NOT LIKE 'held-%'"
                    " AND alert_id NOT IN (SELECT alert_id FROM outbox)", (cutoff,)
                ).rowcount + released
                non_hits = self._delete_non_hits(now)
                # Inside the transaction: should it roll back, the rows left
                # locked by a destroyed key had expired anyway.
                keys = sum(self.keys.destroy(k) for k in self._expired_keys(cutoff_at))
            self._checkpoint()
        # No queued alert is destroyed by age any more; "outbox" stays 0 so the
        # counts, the purge's log line and the audit report keep their form.
        counts = {"hits": hits, "outbox": 0, "non_hits": non_hits, "keys": keys, "holds": len(ended)}
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
            day_key = self.keys.day_key(parse_rfc3339(captured_at))
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

    def _redate(self: Store, now: datetime, boot: tuple[str, float]) -> int:
        """Give hits stamped under an untrusted clock their true capture time, under its day's key."""
        rows = self._conn_execute(
            "SELECT alert_id, captured_at, key_id, record, crop, boot_id, boot_seconds FROM hits"
            " WHERE clock_trusted = 0").fetchall()
        for alert_id, captured_at, key_id, record, crop, boot_then, up_then in rows:
            when = corrected_capture(parse_rfc3339(captured_at), boot_then or "", float(up_then or 0.0),
                                     now, boot[0], boot[1])
            new_key = key_id if key_id.startswith("held-") else self.keys.day_key(when)
            if new_key != key_id and not self._reseal(alert_id, key_id, new_key, record, crop):
                new_key = key_id  # unreadable already (its key is gone): re-dating it changes nothing
            self._conn_execute("UPDATE hits SET captured_at = ?, key_id = ?, clock_trusted = 1 WHERE alert_id = ?",
                               (rfc3339_utc(when), new_key, alert_id))
        if rows:
            log.info("re-dated %d hit(s) captured while the clock was not trusted", len(rows))
        return len(rows)

    def _expired_keys(self: Store, cutoff_at: datetime) -> list[str]:
        in_use = {r[0] for r in self._conn_execute("SELECT DISTINCT key_id FROM hits UNION SELECT key_id FROM outbox")}
        out = []
        for key_id in self.keys.ids():
            day = key_day(key_id)
            if day is not None:
                # A day key lives until the last moment of its day has expired,
                # and past it while an undelivered alert is sealed under it.
                if datetime.combine(day + timedelta(days=1), time(), timezone.utc) <= cutoff_at \
                        and key_id not in in_use:
                    out.append(key_id)
            elif key_id not in in_use:
                out.append(key_id)  # a hold key whose hit was released or destroyed
        return out

    def _record_purge(self: Store, counts: dict[str, int], ended: list, now: datetime, record: bool) -> None:
        self._non_hits_unlogged += counts["non_hits"]
        destroyed = counts["hits"] or counts["keys"] or counts["holds"]
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
