"""[unit]: who this unit is, as central servers know it."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Site and camera id become MQTT topic levels, so they must not contain the
# topic separators or wildcards.
# fullmatch, not match with "$": "$" also matches before a final newline.
TOPIC_LEVEL = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class UnitConfig:
    site: str = ""
    # The single [camera]'s id; with [[cameras]] each camera names its own.
    camera_id: str = ""

    def problems(self) -> list[tuple[str, str]]:
        out = []
        for key in ("site", "camera_id"):
            value = getattr(self, key)
            if not value:
                # camera_id is left out with [[cameras]] (config/cameras.py says when it is required).
                if key == "site":
                    out.append((key, "is required"))
            elif not TOPIC_LEVEL.fullmatch(value):
                out.append((key, "may hold only letters, digits, '.', '_' and '-'"))
        return out
