"""The edge-agent command as a technician meets it: one-line errors with file,
line and key, exit codes, and never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys

from datasets import DATASETS, require


def edge_agent(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_agent", *args], capture_output=True, text=True,
                          timeout=timeout)


VALID_BASE = """\
[unit]
site = "s1"
camera_id = "c1"

[camera]
source = "/dev/video0"

[hotlist]
path = "hot.csv"

[mqtt]
host = "127.0.0.1"
port = 8883
"""

# A complete usage-and-privacy policy: the agent refuses to start without one.
POLICY = """
[policy]
purposes = ["investigation"]
monitoring = "Access log reviewed monthly."
sharing_restrictions = "Alerts to the unit's broker only."
custodian = "Records Manager"
accuracy = "Confirm each alert by sight."
retention_and_destruction = "Hits destroyed when retention ends."
categories = {}
roles = [{ title = "Investigator", training = "ALPR course" }]
recipients = [{ name = "local broker", host = "127.0.0.1" }]
"""
VALID = VALID_BASE + POLICY


def test_check_config_accepts_a_valid_file(tmp_path):
    (tmp_path / "hot.csv").write_text("plate\nAB123\n")
    (tmp_path / "agent.toml").write_text(VALID)
    proc = edge_agent("check-config", str(tmp_path / "agent.toml"))
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout


def test_check_config_names_line_and_key_of_each_planted_error(tmp_path):
    (tmp_path / "hot.csv").write_text("plate\nAB123\n")
    lines = VALID_BASE.splitlines()
    lines[1] = 'site = "has/slash"'          # line 2: not a topic level
    lines[8] = 'path = "missing.csv"'        # line 9: no such file
    lines[12] = "port = 99999"               # line 13: out of range
    lines.append("tls = false")              # line 15: plain TCP not allowed
    lines += ["", "[retention]", 'hit_days = "thirty"', "non_hit_minutes = 5000", "frobnicate = 1"]
    config = tmp_path / "agent.toml"
    config.write_text("\n".join(lines) + "\n" + POLICY)
    proc = edge_agent("check-config", str(config))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    for line, key in ((2, "unit.site"), (9, "hotlist.path"), (13, "mqtt.port"), (14, "mqtt.tls"),
                      (17, "retention.hit_days"), (18, "retention.non_hit_minutes"), (19, "retention.frobnicate")):
        assert f"{config}:{line}: {key}:" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 7


def test_check_config_reports_malformed_hotlist_rows_by_line(tmp_path):
    (tmp_path / "hot.csv").write_text("plate,category,expires\nAB123,x,\n!!,x,\nCD456,x,2026-13-45\nEF789,y,\n")
    (tmp_path / "agent.toml").write_text(VALID)
    proc = edge_agent("check-config", str(tmp_path / "agent.toml"))
    assert proc.returncode == 2
    assert f"{tmp_path / 'hot.csv'}:3:" in proc.stderr and f"{tmp_path / 'hot.csv'}:4:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_config_is_one_line_exit_2(tmp_path):
    for command in (("check-config", str(tmp_path / "nope.toml")), ("run", "--config", str(tmp_path / "nope.toml"))):
        proc = edge_agent(*command)
        assert proc.returncode == 2
        assert proc.stderr.strip() == f"{tmp_path / 'nope.toml'}:1: file: no such file"


def test_unreadable_camera_is_one_line_exit_2(tmp_path):
    (tmp_path / "hot.csv").write_text("plate\nAB123\n")
    config = VALID.replace('"/dev/video0"', '"missing.mp4"').replace("port = 8883", "port = 1\ntls = false\nallow_insecure = true")
    (tmp_path / "agent.toml").write_text(config + '\n[storage]\ndata_dir = "data"\n')
    proc = edge_agent("run", "--config", str(tmp_path / "agent.toml"), "--drain-timeout", "0")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"edge-agent: camera.source: no such file or folder: {tmp_path / 'missing.mp4'}"


def test_scan_jsonl_reads_a_real_photo_and_stores_nothing(tmp_path):
    photos = require(DATASETS / "openalpr-benchmarks" / "endtoend" / "us")
    photo = photos / "car12.jpg"
    label = (photos / "car12.txt").read_text().split("\t")[-1].strip()
    proc = edge_agent("scan", "--jsonl", str(photo))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["source"] == str(photo) and rows[0]["frame"] == 0
    plates = rows[0]["plates"]
    assert plates and plates[0]["text"] == label
    assert set(plates[0]) == {"text", "confidence", "box"} and len(plates[0]["box"]) == 4
    confidences = [p["confidence"] for p in plates]
    assert confidences == sorted(confidences, reverse=True)


def test_scan_table_and_missing_path(tmp_path):
    proc = edge_agent("scan", str(tmp_path / "nothing.jpg"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"edge-agent: scan: no such file or folder: {tmp_path / 'nothing.jpg'}"
