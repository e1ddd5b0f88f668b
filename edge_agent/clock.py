"""Time as the unit stores it: aware UTC, written as fixed-width RFC 3339."""

from __future__ import annotations

from datetime import datetime, timezone


def as_utc(when: datetime) -> datetime:
    # Records carry aware UTC datetimes; a naive one is taken as UTC rather
    # than local time, which is what astimezone() would assume.
    if when.tzinfo is None:
        return when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)


def rfc3339_utc(when: datetime) -> str:
    """'2024-05-01T12:00:00.123Z': fixed width, so text order is time order."""
    when = as_utc(when)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def parse_rfc3339(text: str) -> datetime:
    """The inverse of rfc3339_utc."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
