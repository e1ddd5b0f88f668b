"""deploy/asyncapi.yaml, the unit's MQTT contract: a valid AsyncAPI 3.0 document, and the topics the unit really uses.

The document is validated against the AsyncAPI 3.0.0 JSON Schema of the npm
package @asyncapi/specs (tests/vendor/, checksum checked). Then a real agent
runs on road video against a real Mosquitto, with signed hot lists on: every
topic it publishes to (seen by a subscriber to `#`) and every topic it
subscribes to (from the broker's own log) must be a channel of the document
with an operation of that direction.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent_configs import write_config
from datasets import HIGHWAY, HIGHWAY_PLATES, require
from edge_agent.commands.broker import LocalBroker
from edge_agent.config import MqttConfig, UnitConfig
from edge_agent.transport import alerts
from edge_agent.transport.hotlist_signed import public_pem
from mqtt_helpers import Subscriber
from test_agent import run_agent

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "deploy" / "asyncapi.yaml"
SPEC = Path(__file__).resolve().parent / "vendor" / "asyncapi-specs-6.11.1" / "3.0.0.json"
SPEC_SHA256 = "d4571a420e6ffb7fcc7066c95a6db1202f299a3c51daa103d0706bf30f95e626"


@pytest.fixture(scope="module")
def document() -> dict:
    return yaml.safe_load(DOCUMENT.read_text())


def channel_patterns(document: dict) -> dict[str, re.Pattern]:
    """Each channel's address as a pattern: a parameter is one topic level, the prefix one or more."""
    out = {}
    for name, channel in document["channels"].items():
        pattern = re.escape(channel["address"])
        pattern = pattern.replace(re.escape("{topic_prefix}"), r"[^/#+]+(?:/[^/#+]+)*")
        pattern = re.sub(r"\\\{\w+\\\}", r"[^/#+]+", pattern)
        out[name] = re.compile(pattern + r"\Z")
    return out


def channels_for(topic: str, document: dict, action: str) -> list[str]:
    """The channels whose address fits `topic` and that the unit has an operation of `action` on."""
    ops = {op["channel"]["$ref"].rsplit("/", 1)[1] for op in document["operations"].values() if op["action"] == action}
    return [name for name, pattern in channel_patterns(document).items() if pattern.match(topic) and name in ops]


def test_the_vendored_asyncapi_schema_is_the_published_one():
    assert hashlib.sha256(SPEC.read_bytes()).hexdigest() == SPEC_SHA256


def test_the_document_is_valid_asyncapi_3(document):
    schema = json.loads(SPEC.read_text())
    jsonschema.Draft7Validator(schema).validate(document)
    assert document["asyncapi"] == "3.0.0"


def test_an_invalid_document_is_caught(document):
    # The validator is not vacuous: a wrong action or a channel without an address fails.
    schema = json.loads(SPEC.read_text())
    broken = json.loads(json.dumps(document))
    broken["operations"]["sendHit"]["action"] = "publish"  # AsyncAPI 2's word, not 3's
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)
    broken = json.loads(json.dumps(document))
    broken["channels"]["hit"]["addresss"] = broken["channels"]["hit"].pop("address")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_payloads_are_the_schemas_in_deploy_and_the_bindings_say_qos_and_retain(document):
    for message in document["components"]["messages"].values():
        ref = message["payload"]["schema"]["$ref"]
        schema = json.loads((DOCUMENT.parent / ref).read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        assert message["payload"]["schemaFormat"] == "application/schema+json;version=2020-12"
    ops = document["operations"]
    assert ops["sendHit"]["bindings"]["mqtt"] == {"qos": 1, "retain": False, "bindingVersion": "0.2.0"}
    assert ops["sendStatus"]["bindings"]["mqtt"]["retain"] is True
    will = document["servers"]["central"]["bindings"]["mqtt"]["lastWill"]
    assert will["retain"] is True and will["qos"] == 1
    assert will["topic"].replace("<", "{").replace(">", "}") == document["channels"]["status"]["address"]


def test_the_topic_functions_fit_their_channels(document):
    unit, mqtt = UnitConfig(site="s-1", camera_id="lane-2"), MqttConfig(topic_prefix="city/alpr")
    assert channels_for(alerts.hit_topic(mqtt, unit), document, "send") == ["hit"]
    assert channels_for(alerts.status_topic(mqtt, unit), document, "send") == ["status"]
    assert channels_for(alerts.hotlist_topic(mqtt, unit), document, "receive") == ["hotlist"]
    assert channels_for("city/alpr/s-1/lane-2/hits", document, "send") == []


def test_every_topic_a_running_unit_uses_is_in_the_document(document, tmp_path):
    require(HIGHWAY)
    key = tmp_path / "hotlist.pub"
    key.write_bytes(public_pem(Ed25519PrivateKey.generate()))
    hotlist = "plate,category,ref\n" + "".join(f"{p},stolen-vehicle,R-{i}\n" for i, p in enumerate(HIGHWAY_PLATES[:2]))
    with LocalBroker(extra_conf="log_type subscribe\n") as broker:
        config = write_config(tmp_path, source=HIGHWAY, port=broker.port, hotlist=hotlist)
        text = config.read_text().replace('[hotlist]\npath = "hotlist.csv"\n',
                                          f'[hotlist]\npath = "hotlist.csv"\npublic_key_file = "{key}"\n')
        config.write_text(text)
        sub = Subscriber(broker.host, broker.port, "#")
        try:
            proc = run_agent(config)
            assert proc.returncode == 0, proc.stderr[-2000:]
            sub.wait_until(lambda ms: sum(m.topic.endswith("/hit") for m in ms) >= 2, 10)
            published = {m.topic for m in sub.messages}
        finally:
            sub.close()
        log = broker.log()
    # mosquitto logs a subscription as "<time>: <client id> <qos> <topic>"; the test's own is "#".
    subscribed = {m.group(1) for m in re.finditer(r"^\d+: edge-agent-\S+ \d (\S+)$", log, re.M)}
    assert published >= {"alpr/test-site/cam-7/hit", "alpr/test-site/cam-7/status"}, published
    assert subscribed == {"alpr/test-site/hotlist"}, log[-1500:]
    for topic in published:
        assert channels_for(topic, document, "send"), f"published to {topic}, which the document does not have"
    for topic in subscribed:
        assert channels_for(topic, document, "receive"), f"subscribed to {topic}, which the document does not have"
