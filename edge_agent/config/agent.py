"""The whole config: one field per section, and the checks that span sections."""

from __future__ import annotations

from dataclasses import dataclass, field

from .camera import CameraConfig
from .cameras import CameraSetup, camera_problems, camera_setups
from .hotlist import HotlistConfig
from .mqtt import MqttConfig
from .policy import PolicyConfig, problems_across
from .reader import ReaderConfig
from .retention import RetentionConfig
from .storage import StorageConfig
from .tracker import TrackerConfig
from .unit import UnitConfig


@dataclass(frozen=True)
class AgentConfig:
    unit: UnitConfig = field(default_factory=UnitConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    hotlist: HotlistConfig = field(default_factory=HotlistConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    reader: ReaderConfig = field(default_factory=ReaderConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    # [[cameras]], in place of [camera], for several cameras (config/cameras.py).
    cameras: tuple[CameraConfig, ...] = ()
    path: str = ""  # the file it was loaded from

    def problems(self) -> list[tuple[str, str]]:
        """Problems between sections, keyed "section.key"."""
        return camera_problems(self) + problems_across(self)

    def camera_setups(self) -> tuple[CameraSetup, ...]:
        """The cameras the agent reads, from [camera] or [[cameras]], each with its id, unit and tracker."""
        return camera_setups(self)


SECTIONS = {
    "unit": UnitConfig,
    "camera": CameraConfig,
    "hotlist": HotlistConfig,
    "mqtt": MqttConfig,
    "storage": StorageConfig,
    "retention": RetentionConfig,
    "reader": ReaderConfig,
    "tracker": TrackerConfig,
    "policy": PolicyConfig,
}
