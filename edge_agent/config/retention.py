"""[retention]: how long anything read is kept."""

from __future__ import annotations

from dataclasses import dataclass

# A read that matches nothing may be kept minutes at most (the brief's
# privacy invariant); a day is a generous hard ceiling for that window.
MAX_NON_HIT_MINUTES = 1440


@dataclass(frozen=True)
class RetentionConfig:
    # 0: a read that matches no hot list is compared in memory and never
    # written anywhere.
    non_hit_minutes: int = 0
    hit_days: int = 30

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if not 0 <= self.non_hit_minutes <= MAX_NON_HIT_MINUTES:
            out.append(("non_hit_minutes", f"must be between 0 and {MAX_NON_HIT_MINUTES}"))
        if self.hit_days < 1:
            out.append(("hit_days", "must be at least 1"))
        return out
