"""Signed hot lists: the format, what a unit refuses, the swap, replay across
restarts, staleness, the retained MQTT message and the `hotlist` commands."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent_configs import write_config
from datasets import HIGHWAY, highway_frames, require
from edge_agent.privacy.audit import AuditLog
from edge_agent.config.hotlist import HotlistConfig
from edge_agent.config.retention import RetentionConfig
from edge_agent.transport.hotlist_signed import HotlistRejected, canonical, public_pem, sign, verify
from edge_agent.transport.hotlist_sync import SIGNED_NAME, HotlistSync
from edge_agent.transport.publish import HitPublisher
from edge_agent.records import Box, HotListEntry, VehicleRead
from edge_agent.privacy.store import Store
from mqtt_helpers import publish
from test_publish import UNIT, make_hit, make_publisher, mqtt_cfg, wait_until  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[1]
HOTLIST_SCHEMA = json.loads((ROOT / "deploy" / "schemas" / "hotlist.schema.json").read_text())
HIT_SCHEMA = json.loads((ROOT / "deploy" / "schemas" / "hit.schema.json").read_text())
STATUS_SCHEMA = json.loads((ROOT / "deploy" / "schemas" / "status.schema.json").read_text())
NOW = datetime.now(timezone.utc)
KEY = Ed25519PrivateKey.generate()
ENTRIES = [HotListEntry("7305BRX", "ES", "stolen-vehicle", "CASE-1", date(2099, 12, 31)),
           HotListEntry("1234XYZ", "ES", "amber-alert", "AA-2")]


def signed(version: int, entries=ENTRIES, issued_at: datetime = NOW, key=KEY) -> bytes:
    return sign(entries, version=version, issued_at=issued_at, key=key)


def resign(doc: dict, key=KEY) -> bytes:
    """Re-sign an edited message, as a central side that made a mistake would."""
    body = {k: v for k, v in doc.items() if k != "signature"}
    return canonical({**body, "signature": base64.b64encode(key.sign(canonical(body))).decode()})


def read(text: str) -> VehicleRead:
    crop = np.zeros((8, 32, 3), np.uint8)
    return VehicleRead(text, 0.9, NOW, NOW, NOW, 3, Box(0, 0, 32, 8), crop)


@pytest.fixture
def pubkey(tmp_path) -> Path:
    path = tmp_path / "hotlist.pub"
    path.write_bytes(public_pem(KEY))
    return path


@pytest.fixture
def sync(tmp_path, pubkey) -> HotlistSync:
    return HotlistSync(HotlistConfig(public_key_file=str(pubkey)), tmp_path / "data")


def test_signed_message_round_trips_and_matches_its_schema():
    message = signed(5)
    jsonschema.validate(json.loads(message), HOTLIST_SCHEMA)
    got = verify(message, KEY.public_key())
    assert got.version == 5 and got.issued_at.replace(microsecond=0) == NOW.replace(microsecond=0)
    assert [(e.plate, e.category, e.expires) for e in got.entries] == [
        ("7305BRX", "stolen-vehicle", date(2099, 12, 31)), ("1234XYZ", "amber-alert", None)]


@pytest.mark.parametrize("case, reason", [
    ("unsigned", "not a signed hot list"),
    ("tampered", "bad signature"),
    ("other key", "bad signature"),
    ("private field", "entries carry 2 field(s) not allowed on the unit"),
    ("extra field", "1 top-level field(s) not allowed in a hot list"),
    ("not json", "not JSON"),
    ("bad version", "version must be a whole number from 1"),
])
def test_a_list_that_is_not_exactly_what_the_key_signed_is_refused(case, reason):
    doc = json.loads(signed(5))
    if case == "unsigned":
        del doc["signature"]
        message = canonical(doc)
    elif case == "tampered":
        doc["entries"][1]["plate"] = "9999ZZZ"
        message = canonical(doc)
    elif case == "other key":
        message = signed(5, key=Ed25519PrivateKey.generate())
    elif case == "private field":
        doc["entries"][0].update(name="Juan Ejemplo", date_of_birth="1975-04-12")
        message = resign(doc)
    elif case == "extra field":
        message = resign({**doc, "comment": "hi"})
    elif case == "not json":
        message = b"\xff\xfe plate list"
    else:
        message = resign({**doc, "version": "6"})
    with pytest.raises(HotlistRejected) as caught:
        verify(message, KEY.public_key())
    assert reason in str(caught.value)
    for quoted in ("Juan", "1975", "name", "date_of_birth", "comment"):
        assert quoted not in str(caught.value)


def test_a_newer_list_is_swapped_in_kept_and_an_older_one_refused_even_after_restart(tmp_path, pubkey, caplog):
    caplog.set_level(logging.INFO, logger="edge_agent")
    cfg = HotlistConfig(public_key_file=str(pubkey))
    sync = HotlistSync(cfg, tmp_path / "data")
    assert sync.active.origin == "none" and sync.active.matcher.match(read("7305BRX")) is None

    assert sync.offer(signed(7), "mqtt")
    assert sync.active.version == 7 and sync.active.matcher.match(read("7305BRX")).entry.ref == "CASE-1"
    stored = tmp_path / "data" / SIGNED_NAME
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
    assert verify(stored.read_bytes(), KEY.public_key()).version == 7
    assert not sync.offer(signed(7), "mqtt")  # the retained message again: quietly ignored

    with pytest.raises(HotlistRejected, match="version 6 is not newer than version 7"):
        sync.offer(signed(6, entries=[HotListEntry("OLD1234", category="stolen-vehicle")]), "mqtt")
    with pytest.raises(HotlistRejected, match="version 7 is not newer"):
        sync.offer(signed(7, entries=ENTRIES[:1]), "mqtt")  # same version, other content

    restarted = HotlistSync(cfg, tmp_path / "data")
    assert restarted.active.version == 7 and restarted.active.origin == "stored"
    with pytest.raises(HotlistRejected, match="version 6 is not newer"):
        restarted.offer(signed(6), "mqtt")  # a replay after a restart
    assert restarted.offer(signed(8, entries=ENTRIES[1:]), "mqtt")
    assert restarted.active.matcher.match(read("7305BRX")) is None
    assert "hot list from mqtt rejected: version 6" in caplog.text and "OLD1234" not in caplog.text
    events = [e["event"] for e in AuditLog(tmp_path / "data").entries()]
    assert events.count("hotlist-installed") == 3 and events.count("hotlist-rejected") >= 2


def test_the_swap_is_atomic_for_a_reader_matching_meanwhile(sync):
    lists = {v: [HotListEntry("7305BRX", category="stolen-vehicle", ref=f"list-{v}")] for v in range(1, 41)}
    seen: list[tuple[int | None, str]] = []
    done = threading.Event()

    def match_meanwhile():
        while not done.is_set():
            active = sync.active  # what the agent does: one read per vehicle
            hit = active.matcher.match(read("7305BRX"))
            seen.append((active.version, hit.entry.ref if hit else ""))

    thread = threading.Thread(target=match_meanwhile)
    thread.start()
    for version, entries in lists.items():
        sync.offer(signed(version, entries=entries), "mqtt")
    done.set()
    thread.join()
    assert all(ref == (f"list-{v}" if v else "") for v, ref in seen)
    assert len({v for v, _ in seen}) > 1


def test_a_stale_list_flags_each_alert_and_the_status(tmp_path, pubkey, mosquitto, make_publisher):
    from edge_agent.transport.status import StatusReporter

    cfg = HotlistConfig(public_key_file=str(pubkey), max_age_hours=48)
    sync = HotlistSync(cfg, tmp_path / "data")
    sync.offer(signed(3, issued_at=NOW - timedelta(hours=50)), "import")
    store = Store(tmp_path / "data", RetentionConfig())
    pub = make_publisher(mqtt_cfg(mosquitto), store)
    state = sync.active.state(cfg.max_age_hours)
    alert = json.loads(pub.alert_payload(make_hit(), alert_id="5f0c8a57-3a8e-4a38-9a55-0a6d1f3f7a10",
                                         crop_jpeg=b"\xff\xd8x", list_state=state))
    jsonschema.validate(alert, HIT_SCHEMA)
    assert alert["list"]["stale"] is True and alert["list"]["version"] == 3

    class Stats:
        frames = reads = vehicles = hits = 0

    reporter = StatusReporter(UNIT, mqtt_cfg(mosquitto), tmp_path / "data", publisher=pub, store=store,
                              stats=Stats(), hotlists=sync, max_age_hours=cfg.max_age_hours)
    doc = reporter.snapshot()
    jsonschema.validate(doc, STATUS_SCHEMA)
    assert "hotlist_stale" in doc["alarms"] and doc["hotlist"]["age_hours"] >= 50
    sync.offer(signed(4), "import")
    assert not sync.active.state(cfg.max_age_hours).stale
    assert "hotlist_stale" not in reporter.snapshot()["alarms"]
    store.close()


def test_lists_arrive_as_the_retained_message_and_forgeries_are_logged(
    tmp_path, pubkey, mosquitto, make_publisher, caplog
):
    caplog.set_level(logging.INFO, logger="edge_agent")
    topic = "edge-agent/depot-1/hotlist"
    publish(mosquitto.host, mosquitto.port, topic, signed(1))
    store = Store(tmp_path / "data", RetentionConfig())
    sync = HotlistSync(HotlistConfig(public_key_file=str(pubkey)), tmp_path / "data")
    pub: HitPublisher = make_publisher(mqtt_cfg(mosquitto), store)
    sync.attach(pub.link, topic)
    pub.start()
    assert wait_until(lambda: sync.active.version == 1)

    forged = json.loads(signed(2))
    forged["entries"].append({"plate": "FORGED1", "category": "stolen-vehicle"})
    publish(mosquitto.host, mosquitto.port, topic, canonical(forged))
    assert wait_until(lambda: "bad signature" in sync.last_rejection)
    assert sync.active.version == 1
    unsigned = {k: v for k, v in json.loads(signed(2)).items() if k != "signature"}
    publish(mosquitto.host, mosquitto.port, topic, canonical(unsigned))
    assert wait_until(lambda: "not a signed hot list" in sync.last_rejection)

    publish(mosquitto.host, mosquitto.port, topic, signed(2))
    assert wait_until(lambda: sync.active.version == 2) and sync.last_rejection == ""
    assert "hot list from mqtt rejected: bad signature" in caplog.text
    assert "FORGED1" not in caplog.text
    store.close()


def edge_agent(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_agent", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_keygen_sign_and_import_commands(tmp_path):
    priv, pub = tmp_path / "central.key", tmp_path / "units.pub"
    proc = edge_agent("hotlist", "keygen", "--private-key", str(priv), "--public-key", str(pub))
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(os.stat(priv).st_mode) == 0o600
    assert edge_agent("hotlist", "keygen", "--private-key", str(priv), "--public-key", str(pub)).returncode == 2

    (tmp_path / "export.csv").write_text("plate,category,ref,owner_name,date_of_birth\n"
                                         "7305BRX,stolen-vehicle,CASE-9,Juan Ejemplo,1975-04-12\n")
    out = tmp_path / "list.json"
    proc = edge_agent("hotlist", "sign", str(tmp_path / "export.csv"), "--key", str(priv), "--version", "3",
                      "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "owner_name" in proc.stderr and "Juan" not in out.read_text() + proc.stderr
    jsonschema.validate(json.loads(out.read_text()), HOTLIST_SCHEMA)

    config = write_config(tmp_path, source=tmp_path / "frames", port=1883, hotlist="plate,category\n")
    config.write_text(config.read_text().replace('path = "hotlist.csv"\n',
                                                 f'path = "hotlist.csv"\npublic_key_file = "{pub}"\n'))
    assert edge_agent("check-config", str(config)).returncode == 0
    proc = edge_agent("hotlist", "import", str(out), "--config", str(config))
    assert proc.returncode == 0 and "version 3 installed" in proc.stdout, proc.stderr
    assert "already in force" in edge_agent("hotlist", "import", str(out), "--config", str(config)).stdout

    older = tmp_path / "older.json"
    edge_agent("hotlist", "sign", str(tmp_path / "export.csv"), "--key", str(priv), "--version", "2",
               "--out", str(older))
    proc = edge_agent("hotlist", "import", str(older), "--config", str(config))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"edge-agent: {older}: rejected: version 2 is not newer than version 3 in force"
    tampered = tmp_path / "tampered.json"
    tampered.write_text(out.read_text().replace("CASE-9", "CASE-8"))
    proc = edge_agent("hotlist", "import", str(tampered), "--config", str(config))
    assert proc.returncode == 2 and "bad signature" in proc.stderr
    events = [(e["event"], e["what"]) for e in AuditLog(tmp_path / "data").entries()]
    assert ("hotlist-installed", "signed hot list version 3 (from import): 1 entries") in events

    pub.write_bytes(priv.read_bytes())  # a private key where the public one belongs
    proc = edge_agent("check-config", str(config))
    assert proc.returncode == 2 and proc.stderr.strip() == f"edge-agent: {pub}: not an Ed25519 public key in PEM form"


def test_the_agent_alerts_with_the_version_of_a_signed_list_and_says_when_it_is_stale(tmp_path, mosquitto):
    from mqtt_helpers import Subscriber

    require(HIGHWAY)
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, frame in enumerate(highway_frames(4)):
        cv2.imwrite(str(frames / f"frame{i:03d}.png"), frame)
    (tmp_path / "units.pub").write_bytes(public_pem(KEY))
    # The CSV lists nothing; the signed list, issued three days ago, lists the car in these frames.
    config = write_config(tmp_path, source=frames, port=mosquitto.port, hotlist="plate,category\n")
    config.write_text(config.read_text().replace(
        'path = "hotlist.csv"\n', 'path = "hotlist.csv"\npublic_key_file = "units.pub"\nmax_age_hours = 48.0\n'))
    # Installed by hand before the run, so the list in force does not depend on when a message lands.
    (tmp_path / "list.json").write_bytes(
        signed(11, [HotListEntry("8589BXT", "ES", "stolen-vehicle", "R-9")], NOW - timedelta(hours=72)))
    proc = edge_agent("hotlist", "import", str(tmp_path / "list.json"), "--config", str(config))
    assert proc.returncode == 0, proc.stderr
    sub = Subscriber(mosquitto.host, mosquitto.port, "alpr/test-site/cam-7/#")
    try:
        proc = edge_agent("run", "--config", str(config), timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        msgs = sub.wait_until(lambda ms: any(m.topic.endswith("/hit") for m in ms), 10)
    finally:
        sub.close()
    [alert] = [json.loads(m.payload) for m in msgs if m.topic.endswith("/hit")]
    jsonschema.validate(alert, HIT_SCHEMA)
    assert alert["plate"] == "8589BXT" and alert["list"]["version"] == 11 and alert["list"]["stale"] is True
    statuses = [json.loads(m.payload) for m in msgs if m.topic.endswith("/status")]
    for doc in statuses:
        jsonschema.validate(doc, STATUS_SCHEMA)
    assert any("hotlist_stale" in d.get("alarms", ()) and d["hotlist"]["version"] == 11 for d in statuses)
    assert statuses[-1]["state"] == "offline" and statuses[-1]["reason"] == "stopped"
    status_file = json.loads((tmp_path / "data" / "status.json").read_text())
    assert status_file["state"] == "offline"
