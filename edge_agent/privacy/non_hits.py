"""Reads that matched no hot list, kept only where the policy allows, for minutes. Part of the Store.

Off by default (`[retention] non_hit_minutes = 0`): a non-hit is compared in
memory and forgotten. Where allowed, it is kept as an HMAC under a key that
lives only in this process's memory and is replaced every window, so every
older hash becomes unlinkable (crypto-erase) even before its row is purged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from ..clock import as_utc as _as_utc
from ..clock import rfc3339_utc

if TYPE_CHECKING:
    from ..records import VehicleRead
    from .store import Store


class NonHitMixin:
    def _window_key(self: Store, now: datetime) -> bytes | None:
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

    def _plate_hmac(self: Store, key: bytes, plate: str) -> str:
        return hmac.new(key, plate.encode("utf-8"), hashlib.sha256).hexdigest()

    def remember_non_hit(self: Store, read: VehicleRead, now: datetime) -> None:
        if self._retention.non_hit_minutes <= 0:
            return  # the default: a non-hit is compared in memory and forgotten
        with self._lock:
            key = self._window_key(now)
            assert key is not None
            # Plain text only where the policy says so explicitly.
            plate = read.text if self._plaintext else None
            with self._db.atomic():
                self._conn_execute(
                    "INSERT INTO non_hits (plate_hmac, plate, seen_at) VALUES (?, ?, ?)",
                    (self._plate_hmac(key, read.text), plate, rfc3339_utc(now)),
                )

    def non_hit_seen(self: Store, plate: str, now: datetime) -> int:
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

    def non_hit_count(self: Store) -> int:
        with self._lock:
            return int(self._conn_execute("SELECT count(*) FROM non_hits").fetchone()[0])
