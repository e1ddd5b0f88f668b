"""Transport security against a real Mosquitto: TLS with certificates the test
makes, client certificates whose name is the ACL user, per-unit topic ACLs,
and passwords read from a file."""

from __future__ import annotations

import json
import logging
import subprocess
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_agent.transport.alerts import build_alert, encode_alert, hit_topic
from edge_agent.commands.broker import BrokerTls, LocalBroker
from edge_agent.config.hotlist import HotlistConfig
from edge_agent.config.mqtt import MqttConfig
from edge_agent.config.retention import RetentionConfig
from edge_agent.config.unit import UnitConfig
from edge_agent.transport.hotlist_signed import public_pem, sign
from edge_agent.transport.hotlist_sync import HotlistSync
from edge_agent.transport.publish import HitPublisher
from edge_agent.records import HotListEntry
from edge_agent.transport.status import StatusReporter
from edge_agent.privacy.store import Store
from mqtt_helpers import Subscriber, TestCA, publish
from test_publish import make_hit, wait_until

ROOT = Path(__file__).resolve().parents[1]
HIT_SCHEMA = json.loads((ROOT / "deploy" / "schemas" / "hit.schema.json").read_text())
STATUS_SCHEMA = json.loads((ROOT / "deploy" / "schemas" / "status.schema.json").read_text())
UNIT_A = UnitConfig(site="site-1", camera_id="cam-a")
UNIT_B = UnitConfig(site="site-1", camera_id="cam-b")
# Each unit may write only under its own camera and read its site's hot list;
# the central dispatch account reads everything and publishes hot lists.
ACL = """\
user central
topic readwrite alpr/#

user unit-a
topic write alpr/site-1/cam-a/#
topic read alpr/site-1/hotlist

user unit-b
topic write alpr/site-1/cam-b/#
topic read alpr/site-1/hotlist
"""
PASSWORD = "Tr0ub4dor-&-3-unit-a"


class Stats:
    frames = reads = vehicles = hits = 0


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    ca, rogue = TestCA(folder, "fleet-ca"), TestCA(folder, "rogue-ca")
    (folder / "acl").write_text(ACL)
    return {
        "folder": folder, "ca": ca, "rogue": rogue,
        "server": ca.issue("broker", server_ip="127.0.0.1"),
        "unit-a": ca.issue("unit-a"), "unit-b": ca.issue("unit-b"), "central": ca.issue("central"),
        # The right name from the wrong authority: the CA is checked, not the name.
        "rogue-unit-a": rogue.issue("unit-a"),
    }


@pytest.fixture
def mtls_broker(pki, tmp_path):
    tls = BrokerTls(str(pki["ca"].cert), str(pki["server"].cert), str(pki["server"].key), require_certificate=True)
    with LocalBroker(workdir=tmp_path, tls=tls, allow_anonymous=False, acl_file=str(pki["folder"] / "acl")) as broker:
        yield broker


@pytest.fixture
def central(pki, mtls_broker):
    sub = Subscriber(mtls_broker.host, mtls_broker.port, "alpr/#", tls=pki["ca"].client_context(pki["central"]))
    yield sub
    sub.close()


def unit_mqtt(broker, pki, cert: str = "unit-a", ca_file: str | None = None, **extra) -> MqttConfig:
    issued = pki[cert] if cert else None
    return MqttConfig(host=broker.host, port=broker.port, topic_prefix="alpr",
                      ca_file=str(pki["ca"].cert) if ca_file is None else ca_file,
                      cert_file=str(issued.cert) if issued else "", key_file=str(issued.key) if issued else "",
                      **extra)


@pytest.fixture
def started():
    made: list[tuple[HitPublisher, Store]] = []

    def start(mqtt: MqttConfig, unit: UnitConfig, data_dir: Path) -> tuple[HitPublisher, Store]:
        store = Store(data_dir, RetentionConfig())
        pub = HitPublisher(mqtt, unit, store, reconnect_delay=(0.2, 0.5))
        made.append((pub, store))
        return pub, store

    yield start
    for pub, store in made:
        pub.stop()
        store.close()


def test_tls_is_the_default_and_plain_tcp_needs_allow_insecure():
    assert MqttConfig().tls is True
    assert ("tls", "plain TCP sends alerts unencrypted; set allow_insecure = true to allow it") in \
        MqttConfig(tls=False).problems()
    assert not [k for k, _ in MqttConfig(tls=False, allow_insecure=True).problems() if k == "tls"]


def queue(store: Store, topic: str, unit: UnitConfig = UNIT_A, text: str = "AB12CDE") -> str:
    """Queue a hit as the agent does, under `topic` (a unit's own, or not)."""
    hit = make_hit(text)
    alert_id = str(uuid.uuid4())
    payload = encode_alert(build_alert(hit, unit, alert_id=alert_id, crop_jpeg=b"\xff\xd8crop"))
    store.add_hit(hit, alert_id=alert_id, topic=topic, payload=payload, crop_jpeg=b"\xff\xd8crop")
    return alert_id


def publish_raw(broker, pki, cert: str, topic: str, payload: bytes, *, retain: bool = False) -> None:
    publish(broker.host, broker.port, topic, payload, retain=retain, tls=pki["ca"].client_context(pki[cert]))


def test_unit_publishes_hits_and_status_and_reads_its_hot_list_over_mutual_tls(
    pki, mtls_broker, central, started, tmp_path
):
    key = Ed25519PrivateKey.generate()
    (tmp_path / "hotlist.pub").write_bytes(public_pem(key))
    signed = sign([HotListEntry("7305BRX", "ES", "stolen-vehicle", "R-1")], version=3,
                  issued_at=datetime.now(timezone.utc), key=key)
    publish_raw(mtls_broker, pki, "central", "alpr/site-1/hotlist", signed, retain=True)

    mqtt = unit_mqtt(mtls_broker, pki)
    pub, store = started(mqtt, UNIT_A, tmp_path / "a")
    hotlists = HotlistSync(HotlistConfig(public_key_file=str(tmp_path / "hotlist.pub")), tmp_path / "a")
    hotlists.attach(pub.link, "alpr/site-1/hotlist")
    status = StatusReporter(UNIT_A, mqtt, tmp_path / "a", publisher=pub, store=store, stats=Stats(),
                            hotlists=hotlists)
    pub.start()
    status.start()
    alert_id = queue(store, hit_topic(mqtt, UNIT_A))
    pub.notify()
    assert wait_until(lambda: hotlists.signed_version == 3, 5), (pub.last_error, hotlists.last_rejection)
    assert pub.drain(5)
    central.wait_until(lambda ms: any(json.loads(m.payload).get("hotlist", {}).get("version") == 3
                                      for m in ms if m.topic.endswith("/status")), 5)
    status.stop()
    msgs = central.wait_until(lambda ms: any(json.loads(m.payload).get("state") == "offline"
                                             for m in ms if m.topic.endswith("/status")), 5)
    hits = [json.loads(m.payload) for m in msgs if m.topic == "alpr/site-1/cam-a/hit"]
    assert [h["alert_id"] for h in hits] == [alert_id]
    jsonschema.validate(hits[0], HIT_SCHEMA)
    statuses = [json.loads(m.payload) for m in msgs if m.topic == "alpr/site-1/cam-a/status"]
    for doc in statuses:
        jsonschema.validate(doc, STATUS_SCHEMA)
    assert any(d["state"] == "online" and d["hotlist"]["version"] == 3 and d["mqtt"]["connected"]
               for d in statuses)
    assert statuses[-1] == {**statuses[-1], "state": "offline", "reason": "stopped"}


def test_a_unit_cannot_publish_under_another_units_prefix(pki, mtls_broker, central, started, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="edge_agent")
    mqtt = unit_mqtt(mtls_broker, pki)
    pub, store = started(mqtt, UNIT_A, tmp_path / "a")
    forged = queue(store, hit_topic(mqtt, UNIT_B), UNIT_B)  # unit A speaking for camera B
    own = queue(store, hit_topic(mqtt, UNIT_A), text="XY98ZZZ")
    pub.start()
    central.wait_until(lambda ms: any(m.topic == "alpr/site-1/cam-a/hit" for m in ms), 5)
    # MQTT 5 lets the broker say no: the forged alert is refused, kept, and reported.
    assert wait_until(lambda: "Not authorized" in pub.refusal, 5), pub.last_error
    assert f"refused alert {forged}" in caplog.text
    assert wait_until(lambda: [i.alert_id for i in store.pending()] == [forged], 5)
    # MQTT 3.1.1 cannot say no: the broker acknowledges and silently drops.
    publish_raw(mtls_broker, pki, "unit-b", "alpr/site-1/cam-a/hit", b'{"forged":true}')
    publish_raw(mtls_broker, pki, "unit-b", "alpr/site-1/hotlist", b'{"forged":true}', retain=True)
    time.sleep(1.0)
    topics = [m.topic for m in central.messages]
    assert topics == ["alpr/site-1/cam-a/hit"], topics
    assert json.loads(central.messages[0].payload)["alert_id"] == own


@pytest.mark.parametrize("cert", ["rogue-unit-a", ""], ids=["client-cert-from-another-ca", "no-client-cert"])
def test_a_unit_without_a_certificate_from_the_fleet_ca_is_refused(pki, mtls_broker, central, started, tmp_path,
                                                                   cert):
    pub, store = started(unit_mqtt(mtls_broker, pki, cert=cert), UNIT_A, tmp_path / "a")
    queue(store, "alpr/site-1/cam-a/hit")
    pub.start()
    time.sleep(2.0)
    assert not pub.connected and pub.link.connects == 0
    assert "cannot connect" in pub.last_error
    assert store.outbox_depth() == 1 and central.messages == []


@pytest.mark.parametrize("ca", ["rogue", "system"], ids=["another-ca", "system-store"])
def test_the_broker_is_verified_against_the_configured_ca(pki, mtls_broker, started, tmp_path, ca):
    ca_file = str(pki["rogue"].cert) if ca == "rogue" else ""
    pub, _ = started(unit_mqtt(mtls_broker, pki, ca_file=ca_file), UNIT_A, tmp_path / "a")
    pub.start()
    assert wait_until(lambda: "certificate verify failed" in pub.last_error, 5), pub.last_error
    assert not pub.connected


def test_tls_never_falls_back_to_plain_tcp(mosquitto, pki, started, tmp_path):
    pub, _ = started(MqttConfig(host=mosquitto.host, port=mosquitto.port, ca_file=str(pki["ca"].cert)),
                     UNIT_A, tmp_path / "a")
    pub.start()
    time.sleep(1.5)
    assert pub.link.connects == 0 and "cannot connect" in pub.last_error


def test_password_from_a_file_over_tls_is_used_and_never_shown(pki, started, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    passwords = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "unit-a", PASSWORD], check=True,
                   capture_output=True)
    tls = BrokerTls(str(pki["ca"].cert), str(pki["server"].cert), str(pki["server"].key))
    (tmp_path / "broker").mkdir()
    with LocalBroker(workdir=tmp_path / "broker", tls=tls, allow_anonymous=False, password_file=str(passwords),
                     acl_file=str(pki["folder"] / "acl")) as broker:
        (tmp_path / "right").write_text(PASSWORD + "\n")
        (tmp_path / "wrong").write_text("not-" + PASSWORD)
        right = unit_mqtt(broker, pki, cert="", username="unit-a", password_file=str(tmp_path / "right"))
        wrong = unit_mqtt(broker, pki, cert="", username="unit-a", password_file=str(tmp_path / "wrong"))
        pub, store = started(right, UNIT_A, tmp_path / "a")
        bad, _ = started(wrong, UNIT_A, tmp_path / "b")
        queue(store, hit_topic(right, UNIT_A))
        pub.start()
        bad.start()
        assert pub.drain(5), pub.last_error
        assert wait_until(lambda: "refused the connection" in bad.last_error, 5), bad.last_error
        assert not bad.connected
        status = StatusReporter(UNIT_A, right, tmp_path / "a", publisher=pub, store=store, stats=Stats())
        shown = json.dumps(status.snapshot()) + bad.last_error + pub.last_error
    assert PASSWORD not in caplog.text and PASSWORD not in shown
