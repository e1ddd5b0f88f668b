"""[[cameras]]: several cameras read by one agent, each with its own id.

A road unit often watches two lanes, or both directions, from one box. The
single `[camera]` (with `[unit] camera_id`) and `[[cameras]]` are two ways to
write the same thing; `camera_setups` turns either into the list the agent
runs, each camera with the unit as central servers know it (its topics carry
the camera's id) and its tracker settings (its own `[cameras.tracker]`, or
the unit's `[tracker]`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .camera import CameraConfig
from .tracker import TrackerConfig
from .unit import TOPIC_LEVEL, UnitConfig

if TYPE_CHECKING:
    from .agent import AgentConfig

# Each camera is one more chain of frames through the shared models. Past
# eight, a 4-core unit reads each too seldom to follow a passing vehicle.
MAX_CAMERAS = 8


@dataclass(frozen=True)
class CameraSetup:
    """One camera as the agent runs it."""

    id: str
    camera: CameraConfig
    tracker: TrackerConfig
    unit: UnitConfig  # with camera_id = id: its topics and its alerts name this camera


def camera_setups(cfg: AgentConfig) -> tuple[CameraSetup, ...]:
    if not cfg.cameras:
        return (CameraSetup(cfg.unit.camera_id, cfg.camera, cfg.tracker, cfg.unit),)
    return tuple(CameraSetup(c.id, dataclasses.replace(c, tracker=None), c.tracker or cfg.tracker,
                             dataclasses.replace(cfg.unit, camera_id=c.id)) for c in cfg.cameras)


def camera_problems(cfg: AgentConfig) -> list[tuple[str, str]]:
    """The rules between [unit], [camera] and [[cameras]], keyed "section.key"."""
    out = []
    if not cfg.cameras:
        if not cfg.unit.camera_id:
            out.append(("unit.camera_id", "is required"))
        if cfg.camera.id:
            out.append(("camera.id", "the single [camera] is named by [unit] camera_id"))
        if cfg.camera.tracker is not None:
            out.append(("camera.tracker", "the single [camera] is tracked by [tracker]"))
        return out
    if cfg.unit.camera_id:
        out.append(("unit.camera_id", "leave it out with [[cameras]]: each camera has its own id"))
    if len(cfg.cameras) > MAX_CAMERAS:
        out.append((f"cameras[{MAX_CAMERAS + 1}]", f"at most {MAX_CAMERAS} cameras"))
    seen: dict[str, int] = {}
    for i, camera in enumerate(cfg.cameras, start=1):
        key = f"cameras[{i}].id"
        if not camera.id:
            out.append((key, "is required"))
        elif not TOPIC_LEVEL.fullmatch(camera.id):
            out.append((key, "may hold only letters, digits, '.', '_' and '-'"))
        elif camera.id in seen:
            out.append((key, f"{camera.id!r} is already the id of cameras[{seen[camera.id]}]"))
        else:
            seen[camera.id] = i
    return out
