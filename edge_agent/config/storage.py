"""[storage]: where the unit keeps hits and its outbox."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StorageConfig:
    data_dir: str = "/var/lib/edge-agent"
    # Quality of the plate crop kept with a hit and sent in its alert.
    crop_jpeg_quality: int = 90

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if not self.data_dir:
            out.append(("data_dir", "is required"))
        if not 30 <= self.crop_jpeg_quality <= 100:
            out.append(("crop_jpeg_quality", "must be between 30 and 100"))
        return out
