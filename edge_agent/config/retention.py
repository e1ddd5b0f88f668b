"""[retention]: how long anything read is kept, and how often that is enforced."""

from __future__ import annotations

from dataclasses import dataclass

# A read that matches nothing may be kept minutes at most (the brief's
# privacy invariant); a day is a generous hard ceiling for that window.
MAX_NON_HIT_MINUTES = 1440
# A purge interval above an hour would let hits outlive hit_days by that much.
MAX_PURGE_INTERVAL_SECONDS = 3600
# Ten years is beyond any retention policy for plate reads, and keeps
# `now - timedelta(days=hit_days)` far from the year-1 limit of datetime.
MAX_HIT_DAYS = 3650
CLOCK_TRUST = ("synchronized", "always")


@dataclass(frozen=True)
class RetentionConfig:
    # 0: a read that matches no hot list is compared in memory and never
    # written anywhere.
    non_hit_minutes: int = 0
    hit_days: int = 30
    # The purge runs at start and then this often while the agent runs.
    purge_interval_seconds: int = 60
    # When the wall clock may destroy hits by their age (timeguard.py):
    # "synchronized" once NTP (or timesyncd) set it; "always" only on a unit
    # whose clock is kept right otherwise (a battery-backed RTC). Either way
    # a clock that jumps or goes back stops destruction until it is trusted.
    clock_trust: str = "synchronized"

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if not 0 <= self.non_hit_minutes <= MAX_NON_HIT_MINUTES:
            out.append(("non_hit_minutes", f"must be between 0 and {MAX_NON_HIT_MINUTES}"))
        if not 1 <= self.hit_days <= MAX_HIT_DAYS:
            out.append(("hit_days", f"must be between 1 and {MAX_HIT_DAYS}"))
        if not 1 <= self.purge_interval_seconds <= MAX_PURGE_INTERVAL_SECONDS:
            out.append(("purge_interval_seconds", f"must be between 1 and {MAX_PURGE_INTERVAL_SECONDS}"))
        if self.clock_trust not in CLOCK_TRUST:
            out.append(("clock_trust", f"must be one of: {', '.join(CLOCK_TRUST)}"))
        return out
