"""What the unit says on MQTT: its topics and the hit alert payload.

Every payload carries a `schema` field naming its JSON Schema in
deploy/schemas/, so central subscribers can tell versions apart.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..privacy.store import rfc3339_utc

if TYPE_CHECKING:
    from ..config.mqtt import MqttConfig
    from ..config.unit import UnitConfig
    from ..records import Hit

HIT_SCHEMA = "edge-agent/hit/2"


def unit_topic(mqtt: MqttConfig, unit: UnitConfig, leaf: str) -> str:
    """`<topic_prefix>/<site>/<camera_id>/<leaf>`: everything this unit may publish."""
    return f"{mqtt.topic_prefix}/{unit.site}/{unit.camera_id}/{leaf}"


def hit_topic(mqtt: MqttConfig, unit: UnitConfig) -> str:
    return unit_topic(mqtt, unit, "hit")


def status_topic(mqtt: MqttConfig, unit: UnitConfig) -> str:
    return unit_topic(mqtt, unit, "status")


def hotlist_topic(mqtt: MqttConfig, unit: UnitConfig) -> str:
    # Per site, not per camera: one signed list serves every unit of a site.
    return f"{mqtt.topic_prefix}/{unit.site}/hotlist"


@dataclass(frozen=True)
class ListState:
    """The hot list in force when a hit was made, as the alert reports it."""

    version: int | None = None  # None: the local CSV, not a signed list
    issued_at: datetime | None = None
    stale: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "issued_at": rfc3339_utc(self.issued_at) if self.issued_at else None,
            "stale": self.stale,
        }


def build_alert(
    hit: Hit,
    unit: UnitConfig,
    *,
    alert_id: str,
    crop_jpeg: bytes | None,
    list_state: ListState | None = None,
    crop_withheld: str = "",
) -> dict[str, Any]:
    read, entry = hit.read, hit.entry
    alert: dict[str, Any] = {
        "schema": HIT_SCHEMA,
        "alert_id": alert_id,
        "plate": read.text,
        "confidence": round(float(read.confidence), 3),
        "captured_at": rfc3339_utc(read.captured_at),
        "site": unit.site,
        "camera_id": unit.camera_id,
        "hotlist": {"category": entry.category, "ref": entry.ref, "state": entry.state},
        "list": (list_state or ListState()).as_json(),
        "match": {"distance": int(hit.distance)},
        "frames": int(read.frames),
    }
    if crop_jpeg is not None:
        alert["crop_jpeg"] = base64.b64encode(crop_jpeg).decode("ascii")
    else:
        alert["crop_withheld"] = crop_withheld or "unavailable"
    return alert


def encode_json(doc: dict[str, Any]) -> bytes:
    """The MQTT payload: compact UTF-8 JSON."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


encode_alert = encode_json
