"""The agent end to end, as a unit runs it: `edge-agent run` on real road video,
a real Mosquitto on loopback, a real SQLite store."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest

from agent_configs import write_config
from datasets import HIGHWAY, HIGHWAY_PLATES, highway_frames, require
from edge_agent.commands.broker import LocalBroker
from edge_agent.config.retention import RetentionConfig
from edge_agent.privacy.store import Store
from mqtt_helpers import Subscriber

ROOT = Path(__file__).resolve().parents[1]
HIT_SCHEMA = json.loads((ROOT / "deploy" / "schemas" / "hit.schema.json").read_text())
STATUS_SCHEMA = json.loads((ROOT / "deploy" / "schemas" / "status.schema.json").read_text())
LISTED = ("6380CCS", "2835BSY", "9079GCH")
NOT_LISTED = tuple(p for p in HIGHWAY_PLATES if p not in LISTED)
# Values an agency export carries that the unit must never keep.
PRIVATE_VALUES = ("Juan Ejemplo Garcia", "1975-04-12", "Calle Falsa 123", "Maria Prueba", "1988-11-30")


def run_agent(config: Path, *extra: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_agent", "run", "--config", str(config), *extra],
                          capture_output=True, text=True, timeout=timeout)


def file_bytes(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def highway_run(tmp_path_factory):
    """One agent run over the whole clip with three of its plates listed."""
    require(HIGHWAY)
    folder = tmp_path_factory.mktemp("highway")
    hotlist = "plate,state,category,ref,expires,name,date_of_birth,address\n"
    hotlist += f"{LISTED[0]},ES,stolen-vehicle,R-1,,{PRIVATE_VALUES[0]},{PRIVATE_VALUES[1]},{PRIVATE_VALUES[2]}\n"
    hotlist += f"{LISTED[1]},ES,stolen-plate,R-2,,{PRIVATE_VALUES[3]},{PRIVATE_VALUES[4]},Plaza Mayor 1\n"
    hotlist += f"{LISTED[2]},ES,amber-alert,R-3,,,,\n"
    hotlist += "1234XYZ,ES,stolen-vehicle,R-4,,Nadie,2000-01-01,\n"
    with LocalBroker() as broker:
        config = write_config(folder, source=HIGHWAY, port=broker.port, hotlist=hotlist,
                              retention="non_hit_minutes = 0\nhit_days = 30")
        everything = Subscriber(broker.host, broker.port, "#")
        try:
            proc = run_agent(config)
            hits = [m for m in everything.messages if m.topic.endswith("/hit")]
            if len(hits) < len(LISTED):
                try:
                    everything.wait_until(lambda ms: sum(m.topic.endswith("/hit") for m in ms) >= len(LISTED), 5)
                except AssertionError:
                    pass
            messages = [m for m in everything.messages if m.topic.endswith("/hit")]
            statuses = [m for m in everything.messages if m.topic.endswith("/status")]
        finally:
            everything.close()
    return {"proc": proc, "messages": messages, "statuses": statuses, "data_dir": folder / "data"}


def test_run_exits_cleanly(highway_run):
    proc = highway_run["proc"]
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


def test_one_valid_alert_per_listed_plate(highway_run):
    alerts = [json.loads(m.payload) for m in highway_run["messages"]]
    for message, alert in zip(highway_run["messages"], alerts):
        assert message.topic == "alpr/test-site/cam-7/hit"
        assert message.qos == 1 and not message.retain
        jsonschema.validate(alert, HIT_SCHEMA)
        assert cv2.imdecode(np.frombuffer(base64.b64decode(alert["crop_jpeg"]), np.uint8),
                            cv2.IMREAD_COLOR) is not None
    plates = sorted(a["plate"] for a in alerts)
    # All three listed plates are read on this clip; each alerts exactly once.
    assert plates == sorted(LISTED)
    by_plate = {a["plate"]: a for a in alerts}
    assert by_plate["6380CCS"]["hotlist"] == {"category": "stolen-vehicle", "ref": "R-1", "state": "ES"}
    assert all(a["site"] == "test-site" and a["camera_id"] == "cam-7" for a in alerts)
    assert len({a["alert_id"] for a in alerts}) == len(alerts)


def test_nothing_of_non_hits_or_dropped_columns_leaves_or_lands(highway_run):
    data_dir = highway_run["data_dir"]
    files = file_bytes(data_dir)
    assert files, "the agent wrote no store at all"
    blob = b"".join(files.values())
    # The hits are stored (the store decrypts them), yet no plate is on disk in
    # plain text: hits are encrypted at rest under per-day keys.
    store = Store(data_dir, RetentionConfig(), pipeline=False)
    assert sorted(h["plate"] for h in store.hits()) == sorted(LISTED)
    store.close()
    assert not any(p.encode() in blob for p in LISTED)
    # Positive control for the search: the access log names the dropped columns.
    assert b"date_of_birth" in blob
    for plate in NOT_LISTED:
        spaced = f"{plate[:-3]} {plate[-3:]}"
        for form in (plate, spaced, plate.lower()):
            for path, data in files.items():
                assert form.encode() not in data, f"non-hit plate {plate} found in {path}"
                assert form.encode("utf-16-le") not in data, f"non-hit plate {plate} found in {path}"
    for value in PRIVATE_VALUES:
        for path, data in files.items():
            assert value.encode() not in data, f"dropped hot-list value found in {path}"
    out = highway_run["proc"].stderr + highway_run["proc"].stdout
    for text in NOT_LISTED + PRIVATE_VALUES:
        assert text not in out, f"{text!r} reached the log"
    payloads = b"".join(m.payload for m in highway_run["messages"])
    for text in NOT_LISTED + PRIVATE_VALUES:
        assert text.encode() not in payloads
    assert "dropped columns" in out and "date_of_birth" in out


def _frames_folder(folder: Path, count: int) -> Path:
    folder.mkdir()
    for i, frame in enumerate(highway_frames(count)):
        cv2.imwrite(str(folder / f"frame{i:03d}.png"), frame)
    return folder


def test_hit_made_while_broker_is_down_arrives_when_it_is_back(tmp_path):
    require(HIGHWAY)
    frames = _frames_folder(tmp_path / "frames", 4)
    empty = tmp_path / "empty"
    empty.mkdir()
    cv2.imwrite(str(empty / "road.png"), np.full((360, 640, 3), 90, np.uint8))
    broker = LocalBroker()
    config = write_config(tmp_path, source=frames, port=broker.port,
                          hotlist="plate,category,ref\n8589BXT,stolen-vehicle,R-9\n")
    # The broker is down for the whole first run: the agent runs anyway and keeps the hit.
    first = run_agent(config, "--drain-timeout", "2")
    assert first.returncode == 1, first.stderr[-2000:]
    assert "Traceback" not in first.stderr
    assert "1 hit(s) not yet acknowledged" in first.stderr
    try:
        broker.start()
        sub = Subscriber(broker.host, broker.port, "alpr/+/+/hit")
        # A later run (a restart) delivers the hit kept on disk before reading anything new.
        text = (tmp_path / "agent.toml").read_text().replace(str(frames), str(empty))
        (tmp_path / "agent.toml").write_text(text)
        second = run_agent(config)
        assert second.returncode == 0, second.stderr[-2000:]
        alerts = [json.loads(m.payload) for m in sub.wait_for(1, timeout=10)]
        sub.close()
    finally:
        broker.close()
    assert [a["plate"] for a in alerts] == ["8589BXT"]
    jsonschema.validate(alerts[0], HIT_SCHEMA)


def test_status_messages_are_valid_and_name_no_plate(highway_run):
    docs = [json.loads(m.payload) for m in highway_run["statuses"]]
    assert docs and docs[-1]["state"] == "offline" and docs[-1]["reason"] == "stopped"
    for message, doc in zip(highway_run["statuses"], docs):
        assert message.topic == "alpr/test-site/cam-7/status"
        jsonschema.validate(doc, STATUS_SCHEMA)
    text = b"".join(m.payload for m in highway_run["statuses"]).decode()
    for plate in HIGHWAY_PLATES:
        assert plate not in text


def test_every_plate_of_the_clip_alerts_exactly_once(tmp_path):
    # All eight listed: each vehicle, followed between whole scans and read
    # again only while unsettled, is still voted into one read of its plate.
    require(HIGHWAY)
    hotlist = "plate,category,ref\n" + "".join(f"{p},stolen-vehicle,R-{i}\n" for i, p in enumerate(HIGHWAY_PLATES))
    with LocalBroker() as broker:
        config = write_config(tmp_path, source=HIGHWAY, port=broker.port, hotlist=hotlist)
        sub = Subscriber(broker.host, broker.port, "alpr/+/+/hit")
        try:
            proc = run_agent(config)
            assert proc.returncode == 0, proc.stderr[-2000:]
            alerts = [json.loads(m.payload) for m in sub.wait_for(len(HIGHWAY_PLATES), timeout=10)]
        finally:
            sub.close()
    assert sorted(a["plate"] for a in alerts) == sorted(HIGHWAY_PLATES)
    assert "stopped after 120 frames" in proc.stderr and "8 vehicles, 8 hits" in proc.stderr
    whole = re.search(r"whole-frame scans: (\d+) of 120 stream frames", proc.stderr)
    assert whole and 1 <= int(whole.group(1)) < 120
