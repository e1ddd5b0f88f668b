import base64
import json
import logging
import threading
import time
import uuid
from datetime import datetime, timezone

import cv2
import jsonschema
import numpy as np
import pytest

from edge_agent.config.mqtt import MqttConfig
from edge_agent.config.retention import RetentionConfig
from edge_agent.config.unit import UnitConfig
from edge_agent.errors import AgentError
from edge_agent.publish import HitPublisher, build_alert, encode_alert, hit_topic
from edge_agent.records import Box, HotListEntry, Hit, VehicleRead
from edge_agent.store import Store

UNIT = UnitConfig(site="depot-1", camera_id="cam-a")
TOPIC = "edge-agent/depot-1/cam-a/hit"
WHEN = datetime(2025, 6, 1, 12, 0, 5, 123456, tzinfo=timezone.utc)

ALERT_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["schema", "alert_id", "plate", "confidence", "captured_at", "site", "camera_id",
                 "hotlist", "match", "frames", "crop_jpeg"],
    "properties": {
        "schema": {"const": "edge-agent/hit/1"},
        "alert_id": {"type": "string"},
        "plate": {"type": "string", "pattern": "^[A-Z0-9]+$"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "captured_at": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"},
        "site": {"type": "string"},
        "camera_id": {"type": "string"},
        "hotlist": {
            "type": "object", "additionalProperties": False, "required": ["category", "ref", "state"],
            "properties": {k: {"type": "string"} for k in ("category", "ref", "state")},
        },
        "match": {
            "type": "object", "additionalProperties": False, "required": ["distance"],
            "properties": {"distance": {"type": "integer"}},
        },
        "frames": {"type": "integer"},
        "crop_jpeg": {"type": "string", "contentEncoding": "base64"},
    },
}


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
        kwargs.setdefault("reconnect_delay", (1, 1))
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
    alert = build_alert(hit, UNIT, alert_id="id-1", crop_jpeg=b"\xff\xd8jpeg")
    jsonschema.validate(alert, ALERT_SCHEMA)
    assert alert["confidence"] == 0.877
    assert alert["captured_at"] == "2025-06-01T12:00:05.123Z"
    assert alert["hotlist"] == {"category": "stolen", "ref": "case-17", "state": "CA"}
    assert alert["match"] == {"distance": 1} and alert["frames"] == 5
    assert base64.b64decode(alert["crop_jpeg"]) == b"\xff\xd8jpeg"
    payload = encode_alert(alert)
    assert b" " not in payload and json.loads(payload.decode("utf-8")) == alert


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
    assert f"{mosquitto.host}:{mosquitto.port} is unreachable" in caplog.text

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
