"""The field technician's commands: `edge-agent aim` and `edge-agent status`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..config import DEFAULT_CONFIG_PATH, AgentConfig, CameraConfig, load_config
from ..errors import EXIT_FAILURE, EXIT_OK, AgentError
from ..transport.status import status_file  # written atomically at each heartbeat; deploy/schemas/status.schema.json

# The running agent rewrites <data_dir>/status.json (atomically) at every
# status heartbeat, [mqtt] status_interval_seconds. Missing three in a row
# means it is stopped or stuck.
MISSED_HEARTBEATS = 3


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("aim", help="check the camera's aim and zoom: a picture with plate heights, and a verdict")
    p.add_argument("--config", default=DEFAULT_CONFIG_PATH, help=f"config file (default {DEFAULT_CONFIG_PATH})")
    p.add_argument("--camera", metavar="ID", help="with [[cameras]]: the camera to aim (its id)")
    p.add_argument("--source", help="look at this camera, stream or file instead of the configured source")
    p.add_argument("--seconds", type=float, default=5.0, help="how long to watch a live camera (default 5)")
    p.add_argument("--frames", type=int, default=40, help="at most this many frames (default 40)")
    p.add_argument("--out", default="edge-agent-aim.jpg",
                   help="picture to write (.jpg or .png, mode 0600, replaced if there; not inside data_dir)")
    p.set_defaults(func=cmd_aim)

    p = sub.add_parser("status", help="the running service's live state, from <data_dir>/status.json "
                                      "(status.<camera id>.json for each of several cameras)")
    p.add_argument("--config", default=DEFAULT_CONFIG_PATH, help=f"config file (default {DEFAULT_CONFIG_PATH})")
    p.add_argument("--json", action="store_true", help="print the status file as it is")
    p.set_defaults(func=cmd_status)


def cmd_aim(args: argparse.Namespace) -> int:
    from .aim import aim, write_picture
    from ..privacy.out_files import refuse_inside

    if args.seconds <= 0 or args.frames < 1:
        raise AgentError("--seconds must be above 0 and --frames at least 1", exit_code=2)
    cfg = load_config(args.config)
    cfg = dataclasses.replace(cfg, camera=_camera_to_aim(cfg, args.camera))
    if args.source:
        cfg = dataclasses.replace(cfg, camera=dataclasses.replace(cfg.camera, source=args.source))
    refuse_inside(args.out, cfg.storage.data_dir)  # before the camera is watched for nothing
    result = aim(cfg, seconds=args.seconds, max_frames=args.frames)
    picture = write_picture(result, args.out)
    # Reads are shown here on purpose (see aim.py): stdout of an interactive
    # command the technician ran, never the log.
    print(f"aim: {result.frames} frames in {result.seconds:.1f} s from {cfg.camera.source}")
    by_text: dict[str, list[int]] = {}
    for s in result.sightings:
        by_text.setdefault(s.text or "(unread)", []).append(s.height)
    for text, heights in sorted(by_text.items(), key=lambda kv: -max(kv[1])):
        span = f"{min(heights)}-{max(heights)}" if min(heights) != max(heights) else str(heights[0])
        print(f"  {text:10s} {span:>7s} px  in {len(heights)} frame(s)")
    if result.camera_error:
        print(f"camera: {result.camera_error}")
    print(f"picture: {picture}")
    print(f"verdict: {result.verdict}")
    return EXIT_OK


def _camera_to_aim(cfg: AgentConfig, wanted: str | None) -> CameraConfig:
    setups = {s.id: s.camera for s in cfg.camera_setups()}
    if wanted is None and len(setups) == 1:
        return next(iter(setups.values()))
    if wanted in setups:
        return setups[wanted]
    raise AgentError(f"--camera: {'name one' if wanted is None else f'no camera {wanted!r}'} of the cameras "
                     f"in {cfg.path}: {', '.join(setups)}", exit_code=2)


def cmd_status(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    several = bool(cfg.cameras)
    # One status file per camera when there are several (status.status_file).
    paths = {s.id: Path(cfg.storage.data_dir) / status_file(s.id if several else None) for s in cfg.camera_setups()}
    texts: dict[str, str] = {}
    results = [_camera_status(path, cfg.mqtt.status_interval_seconds, args.json, texts,
                              f"camera {camera}: " if several else "") for camera, path in paths.items()]
    if args.json and texts:
        print(next(iter(texts.values())) if not several else
              json.dumps({camera: json.loads(text) for camera, text in texts.items()}, indent=1))
    return EXIT_OK if all(r == EXIT_OK for r in results) else EXIT_FAILURE


def _camera_status(path: Path, interval: float, as_json: bool, texts: dict[str, str], name: str) -> int:
    try:
        text = path.read_text(encoding="utf-8")
        age = time.time() - path.stat().st_mtime
        status = json.loads(text)
        if not isinstance(status, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        print(f"{name}edge-agent is not running: no status at {path}", file=sys.stderr)
        return EXIT_FAILURE
    except PermissionError:
        print(f"edge-agent status: cannot read {path}: permission denied (run with sudo)", file=sys.stderr)
        return EXIT_FAILURE
    except (OSError, ValueError) as exc:
        print(f"edge-agent status: {path}: unreadable status ({exc})", file=sys.stderr)
        return EXIT_FAILURE
    if as_json:
        texts[str(status.get("camera_id"))] = text.rstrip()
    if status.get("state") == "offline":
        print(f"{name}edge-agent is not running: it stopped at {status.get('at', '?')} "
              f"({status.get('reason') or 'no reason given'})", file=sys.stderr)
        return EXIT_FAILURE
    if age > MISSED_HEARTBEATS * interval:
        print(f"{name}edge-agent is not running or is stuck: its status is {_duration(age)} old "
              f"(written every {interval:.0f} s) at {path}", file=sys.stderr)
        return EXIT_FAILURE
    if not as_json:
        print(f"{name}edge-agent is running: status {_duration(age)} old ({path})")
        for label, value in status_rows(status):
            print(f"  {label:18s} {value}")
    return EXIT_OK


def status_rows(status: dict[str, Any]) -> list[tuple[str, str]]:
    """What a technician asks first, in that order; fields the agent did not report are left out."""
    def get(*keys: str) -> Any:
        value: Any = status
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    rows: list[tuple[str, str]] = []

    def row(label: str, value: Any, text: str | None = None) -> None:
        if value is not None:
            rows.append((label, text if text is not None else str(value)))

    row("frames per second", get("fps"))
    sent = get("camera_fps")
    row("camera sends", sent, f"{sent:.1f} frames a second" if isinstance(sent, (int, float)) else None)
    age = get("frame_age_seconds")
    row("frame age", age, f"{age:.2f} s from the camera to its reads" if isinstance(age, (int, float)) else None)
    last_read = get("last_read_at")
    row("last read", last_read, _when(last_read) if isinstance(last_read, str) else None)
    row("outbox depth", get("outbox", "depth"))
    hotlist = get("hotlist") or {}
    if hotlist:
        age = hotlist.get("age_hours")
        row("hot list", hotlist.get("origin"),
            f"version {hotlist.get('version') or 'none'} ({hotlist.get('origin', '?')}), "
            f"{_duration(age * 3600) + ' old' if isinstance(age, (int, float)) else 'age unknown'}, "
            f"{hotlist.get('entries', '?')} entries" + (", STALE" if hotlist.get("stale") else ""))
    disk = get("disk") or {}
    if disk:
        row("disk use", disk.get("used_percent"),
            f"{disk.get('used_percent', '?')} % of the card used; agent data {_size(disk.get('data_dir_bytes'))}, "
            f"{_size(disk.get('free_bytes'))} free")
    rows.append(("last error", str(status.get("last_error") or "none")))
    row("reads / hits", get("reads"), f"{get('reads')} reads, {get('vehicles') or 0} vehicles, {get('hits') or 0} hits")
    uptime = get("uptime_seconds")
    row("uptime", uptime, _duration(uptime) if isinstance(uptime, (int, float)) else None)
    alarms = get("alarms")
    row("alarms", alarms, ", ".join(alarms) if alarms else "none")
    return rows


def _size(n: Any) -> str:
    if not isinstance(n, (int, float)):
        return "?"
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def _when(stamp: str) -> str:
    try:
        at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return f"{stamp} ({_duration((datetime.now(timezone.utc) - at).total_seconds())} ago)"


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
