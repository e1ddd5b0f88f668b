"""The agent's configuration: one typed model per TOML section.

`load_config(path)` reads and validates the file once; every problem found
is reported as a `ConfigProblem` naming the file, line and key.
"""

from __future__ import annotations

from .agent import SECTIONS, AgentConfig
from .camera import CameraConfig
from .cameras import CameraSetup
from .hotlist import HotlistConfig
from .loader import ConfigError, ConfigProblem, load_config
from .mqtt import MqttConfig
from .policy import PolicyConfig
from .reader import ReaderConfig
from .retention import RetentionConfig
from .storage import StorageConfig
from .tracker import TrackerConfig
from .unit import UnitConfig

DEFAULT_CONFIG_PATH = "/etc/edge-agent/agent.toml"

__all__ = [
    "AgentConfig",
    "CameraConfig",
    "CameraSetup",
    "ConfigError",
    "ConfigProblem",
    "DEFAULT_CONFIG_PATH",
    "HotlistConfig",
    "MqttConfig",
    "PolicyConfig",
    "ReaderConfig",
    "RetentionConfig",
    "SECTIONS",
    "StorageConfig",
    "TrackerConfig",
    "UnitConfig",
    "load_config",
]
