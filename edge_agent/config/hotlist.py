"""[hotlist]: the plates this unit looks for."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HotlistConfig:
    # CSV with a header; `plate` required; `state`, `category`, `ref`,
    # `expires` optional; every other column is dropped while loading.
    path: str = ""
    # How many OCR-confusable characters (O/0, B/8, ...) a read may differ
    # by and still match. 0 = exact matches only.
    confusion_tolerance: int = 1

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if not self.path:
            out.append(("path", "is required"))
        if not 0 <= self.confusion_tolerance <= 2:
            out.append(("confusion_tolerance", "must be 0, 1 or 2"))
        return out
