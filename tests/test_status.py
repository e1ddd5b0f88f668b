"""The unit's status: the retained heartbeat, its will, status.json, alarms,
and never a plate."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import cv2
import jsonschema
import numpy as np

from agent_configs import write_config
from edge_agent.config.mqtt import MqttConfig
from edge_agent.config.retention import RetentionConfig
from edge_agent.transport.status import CHECK_SECONDS, StatusReporter
from edge_agent.privacy.store import Store
from mqtt_helpers import Subscriber
from test_publish import UNIT, make_hit, make_publisher, queue_hit  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[1]
STATUS_SCHEMA = json.loads((ROOT / "deploy" / "schemas" / "status.schema.json").read_text())
DRIVER = Path(__file__).resolve().parent / "delivery_driver.py"
TOPIC = "edge-agent/depot-1/cam-a/status"


class Stats:
    def __init__(self):
        self.frames, self.reads, self.vehicles, self.hits = 0, 0, 0, 0


def cfg(broker, **extra) -> MqttConfig:
    return MqttConfig(host=broker.host, port=broker.port, tls=False, allow_insecure=True, **extra)


def test_heartbeat_is_retained_periodic_valid_and_holds_no_plate(mosquitto, make_publisher, tmp_path):
    mqtt = cfg(mosquitto, status_interval_seconds=1.0)
    store = Store(tmp_path, RetentionConfig())
    for i, plate in enumerate(("AB12CDE", "XY98ZZZ")):
        queue_hit(store, mqtt, make_hit(plate, seed=i))
    stats = Stats()
    pub = make_publisher(mqtt, store)
    reporter = StatusReporter(UNIT, mqtt, tmp_path, publisher=pub, store=store, stats=stats,
                              camera_error=lambda: "rtsp://***@cam.local/stream: no frame for 10 s")
    sub = Subscriber(mosquitto.host, mosquitto.port, TOPIC)
    pub.start()
    reporter.start()
    stats.frames, stats.reads, stats.vehicles, stats.hits = 50, 12, 4, 2
    msgs = sub.wait_for(3, timeout=5)
    docs = [json.loads(m.payload) for m in msgs]
    for m, doc in zip(msgs, docs):
        assert m.retain is False and m.qos == 1  # live delivery; a late subscriber gets the retained copy
        jsonschema.validate(doc, STATUS_SCHEMA)
    last = docs[-1]
    assert last["state"] == "online" and last["site"] == "depot-1" and last["camera_id"] == "cam-a"
    assert (last["frames"], last["reads"], last["vehicles"], last["hits"]) == (50, 12, 4, 2)
    assert last["outbox"]["delivered"] == 2 and last["outbox"]["depth"] == 0
    assert last["hotlist"]["origin"] == "none" and "hotlist_missing" in last["alarms"]
    assert "camera_error" in last["alarms"] and last["last_error"].startswith("rtsp://***@")
    assert last["disk"]["data_dir_bytes"] > 0 and 0 <= last["disk"]["used_percent"] <= 100
    everything = b"".join(m.payload for m in msgs) + (tmp_path / "status.json").read_bytes()
    assert b"AB12CDE" not in everything and b"XY98ZZZ" not in everything
    late = Subscriber(mosquitto.host, mosquitto.port, TOPIC)
    [retained] = late.wait_for(1)
    assert retained.retain and json.loads(retained.payload)["state"] == "online"
    late.close()

    reporter.stop()
    offline = json.loads(sub.wait_until(lambda ms: json.loads(ms[-1].payload)["state"] == "offline", 5)[-1].payload)
    jsonschema.validate(offline, STATUS_SCHEMA)
    assert offline["reason"] == "stopped"
    sub.close()
    store.close()


def test_a_camera_fault_is_said_when_it_starts_and_when_it_ends_not_at_the_next_beat(mosquitto, make_publisher,
                                                                                      tmp_path):
    # An hour between heartbeats: only the fault's start and end can explain a status in between.
    mqtt = cfg(mosquitto, status_interval_seconds=3600.0)
    store = Store(tmp_path, RetentionConfig())
    fault = [""]
    pub = make_publisher(mqtt, store)
    reporter = StatusReporter(UNIT, mqtt, tmp_path, publisher=pub, store=store, stats=Stats(),
                              camera_error=lambda: fault[0])
    sub = Subscriber(mosquitto.host, mosquitto.port, TOPIC)
    pub.start()
    reporter.start()
    try:
        sub.wait_for(1, timeout=5)
        time.sleep(CHECK_SECONDS + 0.5)  # the first beat and the one on connect, if they are two
        settled = len(sub.messages)
        assert all("camera_error" not in json.loads(m.payload)["alarms"] for m in sub.messages)
        fault[0] = "camera.source: no such file or folder: /srv/unplugged.mp4"
        down = json.loads(sub.wait_for(settled + 1, timeout=6)[-1].payload)
        assert "camera_error" in down["alarms"] and down["last_error"].endswith("unplugged.mp4")
        # A stream retrying rewrites its fault's text: no new status for that.
        fault[0] = "camera.source: no such file or folder: /srv/unplugged.mp4 (retrying)"
        time.sleep(CHECK_SECONDS + 0.5)
        assert len(sub.messages) == settled + 1, [json.loads(m.payload).get("last_error") for m in sub.messages]
        fault[0] = ""
        up = sub.wait_for(settled + 2, timeout=6)
        assert "camera_error" not in json.loads(up[-1].payload)["alarms"]
    finally:
        reporter.stop()
        sub.close()
        store.close()


def test_status_file_is_replaced_whole_at_each_beat(mosquitto, make_publisher, tmp_path):
    store = Store(tmp_path, RetentionConfig())
    pub = make_publisher(cfg(mosquitto), store)
    reporter = StatusReporter(UNIT, cfg(mosquitto), tmp_path, publisher=pub, store=store, stats=Stats())
    first = reporter.beat()  # not connected: the file is written all the same
    on_disk = json.loads((tmp_path / "status.json").read_text())
    assert on_disk == first and "mqtt_disconnected" in on_disk["alarms"] and on_disk["mqtt"] == {"connected": False}
    inode = os.stat(tmp_path / "status.json").st_ino
    reporter.beat()
    assert os.stat(tmp_path / "status.json").st_ino != inode  # a new file renamed over, never rewritten
    assert stat.S_IMODE(os.stat(tmp_path / "status.json").st_mode) == 0o640
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    store.close()


def test_a_unit_that_vanishes_is_reported_offline_by_its_will(mosquitto, tmp_path):
    sub = Subscriber(mosquitto.host, mosquitto.port, "alpr/chaos-site/cam-1/status")
    proc = subprocess.Popen([sys.executable, str(DRIVER), "--data-dir", str(tmp_path / "unit"), "--port",
                             str(mosquitto.port), "--count", "1000", "--rate", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sub.wait_until(lambda ms: any(json.loads(m.payload)["state"] == "online" for m in ms), 10)
    finally:
        proc.kill()  # SIGKILL: no goodbye
        proc.wait(5)
    msgs = sub.wait_until(lambda ms: json.loads(ms[-1].payload)["state"] == "offline", 5)
    will = json.loads(msgs[-1].payload)
    jsonschema.validate(will, STATUS_SCHEMA)
    assert will == {"schema": "edge-agent/status/1", "state": "offline", "site": "chaos-site",
                    "camera_id": "cam-1", "reason": "connection lost"}
    sub.close()
    late = Subscriber(mosquitto.host, mosquitto.port, "alpr/chaos-site/cam-1/status")
    assert json.loads(late.wait_for(1)[0].payload)["reason"] == "connection lost"
    late.close()


def test_the_agent_publishes_its_status_while_it_runs(mosquitto, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"road{i}.png"), np.full((240, 320, 3), 90, np.uint8))
    config = write_config(tmp_path, source=frames, port=mosquitto.port,
                          hotlist="plate,category\nAB123,stolen-vehicle\n")
    sub = Subscriber(mosquitto.host, mosquitto.port, "alpr/test-site/cam-7/status")
    proc = subprocess.run([sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    msgs = sub.wait_until(lambda ms: any(json.loads(m.payload)["state"] == "offline" for m in ms), 5)
    sub.close()
    docs = [json.loads(m.payload) for m in msgs]
    for doc in docs:
        jsonschema.validate(doc, STATUS_SCHEMA)
    online = [d for d in docs if d["state"] == "online"]
    assert online and online[0]["hotlist"]["origin"] == "csv" and online[0]["hotlist"]["entries"] == 1
    assert all(d["frame_age_seconds"] is None and d["camera_fps"] is None for d in online)  # photos: no camera
    assert docs[-1]["reason"] == "stopped"
    assert json.loads((tmp_path / "data" / "status.json").read_text())["state"] == "offline"
