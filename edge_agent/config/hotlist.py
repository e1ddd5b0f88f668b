"""[hotlist]: the plates this unit looks for."""

from __future__ import annotations

from dataclasses import dataclass

# A list not updated for a year is not "stale" but abandoned; a larger
# threshold would only switch the alarm off, which 0 says plainly.
MAX_AGE_HOURS = 8760


@dataclass(frozen=True)
class HotlistConfig:
    # CSV with a header; `plate` required; `state`, `category`, `ref`,
    # `expires` optional; every other column is dropped while loading.
    # Optional when signed lists are configured: it is then the list in
    # force until the first signed one arrives.
    path: str = ""
    # How many OCR-confusable characters (O/0, B/8, ...) a read may differ
    # by and still match. 0 = exact matches only.
    confusion_tolerance: int = 1
    # Ed25519 public key (PEM) that signed hot lists must verify against;
    # empty: signed lists are not used.
    public_key_file: str = ""
    # Take signed lists from the retained <topic_prefix>/<site>/hotlist topic
    # (with public_key_file); false: only `edge-agent hotlist import`.
    subscribe: bool = True
    # A list in force older than this (hours since it was issued) flags each
    # alert and raises a status alarm; 0 never does.
    max_age_hours: float = 48.0

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if not self.path and not self.public_key_file:
            out.append(("path", "is required (or public_key_file, to take signed lists)"))
        if not 0 <= self.confusion_tolerance <= 2:
            out.append(("confusion_tolerance", "must be 0, 1 or 2"))
        if not 0 <= self.max_age_hours <= MAX_AGE_HOURS:
            out.append(("max_age_hours", f"must be between 0 (never stale) and {MAX_AGE_HOURS} (a year)"))
        return out
