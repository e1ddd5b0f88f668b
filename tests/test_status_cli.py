"""`edge-agent status`: the live state of the running service, from the
<data_dir>/status.json its status reporter rewrites at every heartbeat.
Here the file is written by the test; tests/test_systemd.py reads the one a
running agent wrote."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent_configs import write_config

ROOT = Path(__file__).resolve().parents[1]

ONLINE = {
    "schema": "edge-agent/status/1", "state": "online", "site": "test-site", "camera_id": "cam-7",
    "at": "2026-11-24T21:00:00Z", "agent_version": "0.1.0", "uptime_seconds": 93784, "fps": 3.87,
    "frame_age_seconds": 0.31, "camera_fps": 25.0,
    "frames": 1200, "reads": 310, "vehicles": 41, "hits": 2, "last_read_at": "2026-11-24T20:59:58Z",
    "outbox": {"depth": 1, "bytes": 5120, "max_bytes": 268435456, "crops_withheld": 0, "delivered": 1},
    "hotlist": {"version": "2026-11-24.3", "origin": "signed", "issued_at": "2026-11-24T18:00:00Z",
                "age_hours": 3.0, "stale": False, "entries": 1234},
    "mqtt": {"connected": True},
    "disk": {"data_dir_bytes": 2_400_000, "free_bytes": 12_000_000_000, "total_bytes": 15_000_000_000,
             "used_percent": 20.0},
    "last_error": "http://127.0.0.1:8554/cam: read failed", "alarms": ["camera_error"],
}


@pytest.fixture
def unit(tmp_path: Path) -> Path:
    config = write_config(tmp_path, source=tmp_path, port=1883, hotlist="plate\n1234ABC\n",
                          ).read_text().replace("[mqtt]", "[mqtt]\nstatus_interval_seconds = 10")
    (tmp_path / "agent.toml").write_text(config)
    (tmp_path / "data").mkdir()
    return tmp_path


def status(unit: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_agent", "status", "--config", str(unit / "agent.toml"),
                           *extra], capture_output=True, text=True, timeout=60, cwd=ROOT)


def write_status(unit: Path, doc: dict, age: float = 0.0) -> Path:
    path = unit / "data" / "status.json"
    path.write_text(json.dumps(doc))
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_live_state_of_a_running_service(unit: Path) -> None:
    write_status(unit, ONLINE, age=4)
    proc = status(unit)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert re.match(r"edge-agent is running: status [4-9] s old \(.*/data/status\.json\)$", lines[0])
    shown = {line[:20].strip(): line[20:].strip() for line in lines[1:]}
    assert shown["frames per second"] == "3.87"
    assert shown["frame age"] == "0.31 s from the camera to its reads"
    assert shown["camera sends"] == "25.0 frames a second"
    assert shown["last read"].startswith("2026-11-24T20:59:58Z (")
    assert shown["outbox depth"] == "1"
    assert shown["hot list"] == "version 2026-11-24.3 (signed), 3.0 h old, 1234 entries"
    assert shown["disk use"].startswith("20.0 % of the card used; agent data 2.4 MB, 12.0 GB free")
    assert shown["last error"] == "http://127.0.0.1:8554/cam: read failed"
    assert shown["reads / hits"] == "310 reads, 41 vehicles, 2 hits"
    assert shown["uptime"] == "26.1 h"
    assert shown["alarms"] == "camera_error"


def test_json_prints_the_file_as_it_is(unit: Path) -> None:
    write_status(unit, ONLINE)
    proc = status(unit, "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout) == ONLINE


@pytest.mark.parametrize(
    ("doc", "age", "message"),
    [
        (None, 0, "edge-agent is not running: no status at "),
        (ONLINE, 40, "edge-agent is not running or is stuck: its status is 4"),
        ({**ONLINE, "state": "offline", "reason": "stopped", "at": "2026-11-24T21:05:00Z"}, 0,
         "edge-agent is not running: it stopped at 2026-11-24T21:05:00Z (stopped)"),
        ("{not json", 0, "unreadable status"),
    ],
)
def test_not_running_is_one_line_and_exit_1(unit: Path, doc, age: float, message: str) -> None:
    if isinstance(doc, dict):
        write_status(unit, doc, age)
    elif isinstance(doc, str):
        (unit / "data" / "status.json").write_text(doc)
    proc = status(unit)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_config_is_exit_2(unit: Path) -> None:
    (unit / "agent.toml").write_text("[camera]\nsorce = 1\n")
    proc = status(unit)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
