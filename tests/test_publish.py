import base64
import json
import logging
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest

from edge_agent.transport.alerts import ListState
from edge_agent.config.mqtt import MqttConfig
from edge_agent.config.retention import RetentionConfig
from edge_agent.config.unit import UnitConfig
from edge_agent.errors import AgentError
from edge_agent.transport.publish import HitPublisher, build_alert, encode_alert, hit_topic
from edge_agent.records import Box, HotListEntry, Hit, VehicleRead
from edge_agent.transport.mqtt_link import backoff
from edge_agent.privacy.store import OutboxItem, Store

UNIT = UnitConfig(site="depot-1", camera_id="cam-a")
TOPIC = "edge-agent/depot-1/cam-a/hit"
WHEN = datetime(2025, 6, 1, 12, 0, 5, 123456, tzinfo=timezone.utc)

ROOT = Path(__file__).resolve().parents[1]
ALERT_SCHEMA = json.loads((ROOT / "deploy" / "schemas" / "hit.schema.json").read_text())


def mqtt_cfg(broker) -> MqttConfig:
    return MqttConfig(host=broker.host, port=broker.port, tls=False, allow_insecure=True)


def make_hit(text: str = "AB12CDE", seed: int = 0) -> Hit:
    crop = np.random.default_rng(seed).integers(0, 256, (24, 96, 3), dtype=np.uint8)
    read = VehicleRead(text=text, confidence=0.876543, captured_at=WHEN, first_seen=WHEN,
                       last_seen=WHEN, frames=5, box=Box(1, 2, 96, 24), crop=crop)
    return Hit(read=read, entry=HotListEntry(plate=text, state="CA", category="stolen", ref="case-17"),
               distance=1)


def queue_hit(store: Store, mqtt: MqttConfig, hit: Hit) -> tuple[str, bytes]:
    """What the pipeline does for a hit: build the alert, store hit + outbox row."""
    crop = cv2.imencode(".jpg", hit.read.crop)[1].tobytes()
    alert_id = str(uuid.uuid4())
    payload = encode_alert(build_alert(hit, UNIT, alert_id=alert_id, crop_jpeg=crop))
    store.add_hit(hit, alert_id=alert_id, topic=hit_topic(mqtt, UNIT), payload=payload, crop_jpeg=crop)
    return alert_id, crop


class GatedStore(Store):
    """Holds the publisher back (it reads the outbox only once connected)
    until the test's subscriber is in place, so nothing races past it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()

    def pending(self, limit: int = 100):
        self.gate.wait(5)
        return super().pending(limit)


@pytest.fixture
def make_publisher():
    made: list[HitPublisher] = []

    def make(mqtt, store, **kwargs):
        kwargs.setdefault("reconnect_delay", (0.2, 0.5))
        pub = HitPublisher(mqtt, UNIT, store, **kwargs)
        made.append(pub)
        return pub

    yield make
    for pub in made:
        pub.stop()


def wait_until(cond, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_topic_and_alert_shape():
    hit = make_hit()
    assert hit_topic(MqttConfig(topic_prefix="fleet/eu"), UNIT) == "fleet/eu/depot-1/cam-a/hit"
    alert_id = str(uuid.uuid4())
    alert = build_alert(hit, UNIT, alert_id=alert_id, crop_jpeg=b"\xff\xd8jpeg")
    jsonschema.validate(alert, ALERT_SCHEMA)
    assert alert["schema"] == "edge-agent/hit/2"
    assert alert["confidence"] == 0.877
    assert alert["captured_at"] == "2025-06-01T12:00:05.123Z"
    assert alert["hotlist"] == {"category": "stolen", "ref": "case-17", "state": "CA"}
    assert alert["list"] == {"version": None, "issued_at": None, "stale": False}
    assert alert["match"] == {"distance": 1} and alert["frames"] == 5
    assert base64.b64decode(alert["crop_jpeg"]) == b"\xff\xd8jpeg"
    payload = encode_alert(alert)
    assert b" " not in payload and json.loads(payload.decode("utf-8")) == alert

    signed = ListState(version=7, issued_at=WHEN, stale=True)
    withheld = build_alert(hit, UNIT, alert_id=alert_id, crop_jpeg=None, list_state=signed,
                           crop_withheld="outbox_full")
    jsonschema.validate(withheld, ALERT_SCHEMA)
    assert "crop_jpeg" not in withheld and withheld["crop_withheld"] == "outbox_full"
    assert withheld["list"] == {"version": 7, "issued_at": "2025-06-01T12:00:05.123Z", "stale": True}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**withheld, "crop_jpeg": "AAAA"}, ALERT_SCHEMA)  # one or the other


def test_hit_is_published_qos1_and_leaves_the_outbox(mosquitto, subscriber_factory, make_publisher, tmp_path):
    mqtt = mqtt_cfg(mosquitto)
    sub = subscriber_factory(mosquitto.host, mosquitto.port, "edge-agent/#")
    store = Store(tmp_path, RetentionConfig())
    pub = make_publisher(mqtt, store)
    pub.start()
    assert wait_until(lambda: pub.connected)

    alert_id, crop = queue_hit(store, mqtt, make_hit())
    pub.notify()
    [msg] = sub.wait_for(1)
    assert msg.topic == TOPIC
    assert msg.qos == 1 and not msg.retain
    alert = json.loads(msg.payload.decode("utf-8"))
    jsonschema.validate(alert, ALERT_SCHEMA)
    assert alert["alert_id"] == alert_id and uuid.UUID(alert_id).version == 4
    assert alert["plate"] == "AB12CDE" and alert["site"] == "depot-1" and alert["camera_id"] == "cam-a"
    assert base64.b64decode(alert["crop_jpeg"]) == crop

    assert pub.drain(5)
    assert store.outbox_depth() == 0
    assert [h["alert_id"] for h in store.hits()] == [alert_id]  # the hit itself is kept
    time.sleep(0.2)
    assert len(sub.messages) == 1
    store.close()


def test_hits_keep_their_order(mosquitto, subscriber_factory, make_publisher, tmp_path):
    mqtt = mqtt_cfg(mosquitto)
    sub = subscriber_factory(mosquitto.host, mosquitto.port, TOPIC)
    store = Store(tmp_path, RetentionConfig())
    ids = [queue_hit(store, mqtt, make_hit(f"AB{i:02d}CDE", seed=i))[0] for i in range(45)]
    pub = make_publisher(mqtt, store, max_inflight=5)
    pub.start()
    msgs = sub.wait_for(45)
    assert [json.loads(m.payload)["alert_id"] for m in msgs] == ids
    assert pub.drain(5)
    store.close()


def test_hit_added_while_broker_down_arrives_after_it_starts(
    mosquitto, subscriber_factory, make_publisher, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="edge_agent")
    mqtt = mqtt_cfg(mosquitto)
    mosquitto.stop()
    store = GatedStore(tmp_path, RetentionConfig())
    pub = make_publisher(mqtt, store)
    pub.start()  # not an error: it keeps retrying
    alert_id, _ = queue_hit(store, mqtt, make_hit())
    pub.notify()
    assert not pub.drain(0.5)
    assert not pub.connected and store.outbox_depth() == 1
    assert f"cannot connect to MQTT broker {mosquitto.host}:{mosquitto.port}" in caplog.text

    mosquitto.start()
    sub = subscriber_factory(mosquitto.host, mosquitto.port, TOPIC)
    store.gate.set()
    [msg] = sub.wait_for(1, timeout=8)
    assert json.loads(msg.payload)["alert_id"] == alert_id
    assert pub.drain(5) and store.outbox_depth() == 0
    assert "AB12CDE" not in caplog.text  # no payloads in the log
    store.close()


def test_hit_added_after_connection_lost_arrives_on_reconnect(
    mosquitto, subscriber_factory, make_publisher, tmp_path
):
    mqtt = mqtt_cfg(mosquitto)
    store = GatedStore(tmp_path, RetentionConfig())
    store.gate.set()
    pub = make_publisher(mqtt, store)
    pub.start()
    assert wait_until(lambda: pub.connected)

    mosquitto.stop()
    assert wait_until(lambda: not pub.connected)
    store.gate.clear()
    alert_id, _ = queue_hit(store, mqtt, make_hit())
    pub.notify()
    assert not pub.drain(0.3)

    mosquitto.start()
    sub = subscriber_factory(mosquitto.host, mosquitto.port, TOPIC)
    store.gate.set()
    [msg] = sub.wait_for(1, timeout=8)
    assert json.loads(msg.payload)["alert_id"] == alert_id
    assert pub.drain(5)
    store.close()


def test_outbox_row_is_kept_until_the_broker_acknowledges(mosquitto, make_publisher, tmp_path):
    mqtt = mqtt_cfg(mosquitto)
    store = Store(tmp_path, RetentionConfig())
    pub = make_publisher(mqtt, store)
    pub.start()
    assert wait_until(lambda: pub.connected)
    mosquitto.pause()  # the PUBLISH reaches its socket, no PUBACK comes back
    queue_hit(store, mqtt, make_hit())
    pub.notify()
    assert not pub.drain(0.5)
    assert store.outbox_depth() == 1
    mosquitto.resume()
    assert pub.drain(5)
    store.close()


def test_unacknowledged_hit_is_sent_again_after_broker_crash(
    mosquitto, subscriber_factory, make_publisher, tmp_path
):
    mqtt = mqtt_cfg(mosquitto)
    store = GatedStore(tmp_path, RetentionConfig())
    store.gate.set()
    pub = make_publisher(mqtt, store)
    pub.start()
    assert wait_until(lambda: pub.connected)
    mosquitto.pause()
    alert_id, _ = queue_hit(store, mqtt, make_hit())
    pub.notify()
    assert not pub.drain(0.5)  # in flight, unacknowledged
    store.gate.clear()
    mosquitto.kill()  # the broker dies with the message unacknowledged
    assert wait_until(lambda: not pub.connected)
    assert store.outbox_depth() == 1

    mosquitto.start()
    sub = subscriber_factory(mosquitto.host, mosquitto.port, TOPIC)
    store.gate.set()
    msgs = sub.wait_for(1, timeout=8)
    assert {json.loads(m.payload)["alert_id"] for m in msgs} == {alert_id}
    assert pub.drain(5) and store.outbox_depth() == 0
    store.close()


def test_queued_hit_is_delivered_after_agent_restart(mosquitto, subscriber_factory, make_publisher, tmp_path):
    mqtt = mqtt_cfg(mosquitto)
    mosquitto.stop()
    store = Store(tmp_path, RetentionConfig())
    pub = make_publisher(mqtt, store)
    pub.start()
    alert_id, _ = queue_hit(store, mqtt, make_hit())
    pub.notify()
    assert not pub.drain(0.3)
    pub.stop()
    store.close()

    mosquitto.start()
    sub = subscriber_factory(mosquitto.host, mosquitto.port, TOPIC)
    store2 = Store(tmp_path, RetentionConfig())
    assert store2.outbox_depth() == 1
    pub2 = make_publisher(mqtt, store2)
    pub2.start()
    [msg] = sub.wait_for(1, timeout=8)
    assert msg.qos == 1 and json.loads(msg.payload)["alert_id"] == alert_id
    assert pub2.drain(5) and store2.outbox_depth() == 0
    store2.close()


def test_password_is_used_but_never_logged(mosquitto, make_publisher, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    secret = tmp_path / "mqtt-password"
    secret.write_text("s3cret-Pa55\n")
    mqtt = MqttConfig(host=mosquitto.host, port=mosquitto.port, tls=False, allow_insecure=True,
                      username="unit", password_file=str(secret))
    store = Store(tmp_path / "data", RetentionConfig())
    pub = make_publisher(mqtt, store)
    pub.start()
    assert wait_until(lambda: pub.connected)
    pub.stop()
    store.close()
    assert "s3cret-Pa55" not in caplog.text
    assert f"connected to MQTT broker {mosquitto.host}:{mosquitto.port}" in caplog.text


def test_unreadable_password_file_is_a_one_line_error(tmp_path):
    mqtt = MqttConfig(tls=False, allow_insecure=True, username="unit", password_file=str(tmp_path / "missing"))
    store = Store(tmp_path / "data", RetentionConfig())
    with pytest.raises(AgentError, match="missing"):
        HitPublisher(mqtt, UNIT, store)
    store.close()


def test_each_delivered_alert_is_reported_in_order(mosquitto, make_publisher, tmp_path):
    mqtt = mqtt_cfg(mosquitto)
    store = Store(tmp_path, RetentionConfig())
    ids = [queue_hit(store, mqtt, make_hit(f"AB{i:02d}CDE", seed=i))[0] for i in range(6)]
    delivered: list[OutboxItem] = []
    pub = make_publisher(mqtt, store, on_delivered=delivered.append, max_inflight=2)
    pub.start()
    assert pub.drain(5)
    assert wait_until(lambda: len(delivered) == 6)
    assert [item.alert_id for item in delivered] == ids
    assert all(item.topic == TOPIC and json.loads(item.payload)["alert_id"] == item.alert_id for item in delivered)
    assert pub.delivered == 6
    store.close()


def queue_through(pub: HitPublisher, store: Store, mqtt: MqttConfig, hit: Hit) -> str:
    """As the agent queues a hit: the publisher decides whether its crop fits the outbox."""
    crop = cv2.imencode(".jpg", hit.read.crop, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    alert_id = str(uuid.uuid4())
    payload = pub.alert_payload(hit, alert_id=alert_id, crop_jpeg=crop)
    store.add_hit(hit, alert_id=alert_id, topic=hit_topic(mqtt, UNIT), payload=payload, crop_jpeg=crop)
    return alert_id


def test_full_outbox_keeps_every_hit_and_holds_back_only_crops(
    mosquitto, subscriber_factory, make_publisher, tmp_path, caplog
):
    caplog.set_level(logging.WARNING, logger="edge_agent")
    probe = len(encode_alert(build_alert(make_hit(), UNIT, alert_id=str(uuid.uuid4()),
                                         crop_jpeg=cv2.imencode(".jpg", make_hit().read.crop,
                                                                [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes())))
    # Room for two alerts with their crops.
    mqtt = MqttConfig(host=mosquitto.host, port=mosquitto.port, tls=False, allow_insecure=True,
                      outbox_max_mb=2.5 * probe / 2**20)
    mosquitto.stop()
    store = Store(tmp_path, RetentionConfig())
    pub = make_publisher(mqtt, store)
    pub.start()
    ids = [queue_through(pub, store, mqtt, make_hit(f"AB{i:02d}CDE", seed=i)) for i in range(5)]
    assert store.outbox_depth() == 5 and len(store.hits()) == 5  # nothing dropped
    assert pub.crops_withheld == 3 and pub.outbox_full()
    assert caplog.text.count("outbox full") == 3 and "AB0" not in caplog.text

    mosquitto.start()
    sub = subscriber_factory(mosquitto.host, mosquitto.port, TOPIC)
    alerts = [json.loads(m.payload) for m in sub.wait_for(5, timeout=8)]
    for alert in alerts:
        jsonschema.validate(alert, ALERT_SCHEMA)
    assert [a["alert_id"] for a in alerts] == ids
    assert ["crop_jpeg" in a for a in alerts] == [True, True, False, False, False]
    assert {a.get("crop_withheld") for a in alerts[2:]} == {"outbox_full"}
    assert pub.drain(5) and store.outbox_bytes() == 0
    # Room again: the next alert carries its crop and the alarm clears.
    queue_through(pub, store, mqtt, make_hit("ZZ99ZZZ", seed=9))
    assert not pub.outbox_full()
    pub.notify()
    assert "crop_jpeg" in json.loads(sub.wait_for(6, timeout=5)[-1].payload)
    store.close()


def test_backoff_doubles_to_its_ceiling_with_jitter():
    for attempt in range(12):
        ceiling = min(60.0, 1.0 * 2**attempt)
        waits = [backoff(attempt, 1.0, 60.0) for _ in range(200)]
        assert all(0.5 * ceiling <= w <= ceiling for w in waits)
        assert max(waits) - min(waits) > 0.2 * ceiling  # randomised, not in lockstep


def test_reconnects_back_off_with_jitter_against_a_failing_broker(make_publisher, tmp_path):
    """A listener that hangs up on every CONNECT: the unit's attempts must spread out."""
    accepted: list[float] = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    port = server.getsockname()[1]
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(time.monotonic())
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    store = Store(tmp_path, RetentionConfig())
    mqtt = MqttConfig(host="127.0.0.1", port=port, tls=False, allow_insecure=True)
    pub = make_publisher(mqtt, store, reconnect_delay=(0.1, 0.8))
    pub.start()
    time.sleep(4.0)
    pub.stop()
    stop.set()
    thread.join(2)
    server.close()
    store.close()
    gaps = [b - a for a, b in zip(accepted, accepted[1:])]
    assert len(gaps) >= 5, gaps
    for n, gap in enumerate(gaps[:6]):
        ceiling = min(0.8, 0.1 * 2**n)
        # Upper slack for the attempt itself on a busy test machine.
        assert 0.5 * ceiling - 0.02 <= gap <= ceiling + 0.3, (n, gaps)
    assert not pub.connected and "cannot connect" in pub.last_error
