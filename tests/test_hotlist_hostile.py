"""Hostile input on the hot-list topic, and big hot lists: whatever arrives,
the unit refuses it cleanly, quotes none of it, records it without flooding
the access log, and keeps matching against the list it holds."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import date, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent_configs import write_config
from edge_agent.privacy.audit import AuditLog
from edge_agent.config import load_config
from edge_agent.config.hotlist import HotlistConfig
from edge_agent.config.retention import RetentionConfig
from edge_agent.errors import InputError
from edge_agent.transport.hotlist_signed import MAX_BYTES, HotlistRejected, canonical, public_pem, verify
from edge_agent.transport.hotlist_sync import HotlistSync
from edge_agent.privacy.match import MAX_ENTRIES, Matcher, load_hotlist
from edge_agent.transport.publish import HitPublisher
from edge_agent.records import HotListEntry
from edge_agent.service.agent import Agent
from edge_agent.transport.status import StatusReporter
from edge_agent.privacy.store import Store
from mqtt_helpers import publish
from test_hotlist_sync import KEY, NOW, read, resign, signed
from test_publish import UNIT, mqtt_cfg, wait_until

TOPIC = "edge-agent/depot-1/hotlist"
# What a hostile sender puts in a field's name: a plate and a person.
SECRET = "owner Juan Ejemplo 9876ZZZ"
DEEP = b"[" * 100_000 + b"]" * 100_000


class Stats:
    frames = reads = vehicles = hits = 0


@pytest.fixture
def sync(tmp_path):
    (tmp_path / "hotlist.pub").write_bytes(public_pem(KEY))
    sync = HotlistSync(HotlistConfig(public_key_file=str(tmp_path / "hotlist.pub")), tmp_path / "data")
    yield sync
    sync.flush_rejections()  # rather than leave a timer to write after the test


@pytest.fixture
def unit(tmp_path, mosquitto, sync):
    """A unit's hot lists, store, broker link (not started) and status, on the real broker."""
    store = Store(tmp_path / "data", RetentionConfig())
    pub = HitPublisher(mqtt_cfg(mosquitto), UNIT, store, reconnect_delay=(0.2, 0.5))
    reporter = StatusReporter(UNIT, mqtt_cfg(mosquitto), tmp_path / "data", publisher=pub, store=store,
                              stats=Stats(), hotlists=sync)
    yield sync, pub, reporter
    pub.stop()
    store.close()


def rejections(folder) -> list[dict]:
    return [e for e in AuditLog(folder).entries() if e["event"] == "hotlist-rejected"]


def everything_said(folder, caplog) -> str:
    return "".join(p.read_text(errors="replace") for p in folder.iterdir() if p.is_file()) + caplog.text


def body(**fields) -> dict:
    """A signed list's fields as the central side signs them."""
    doc = json.loads(signed(5))
    doc.pop("signature")
    return {**doc, **fields}


def test_unsigned_or_badly_signed_content_is_refused_unread_and_never_quoted(unit, tmp_path, mosquitto, caplog):
    caplog.set_level(logging.DEBUG, logger="edge_agent")
    data = tmp_path / "data"
    sync, pub, reporter = unit
    sync.attach(pub.link, TOPIC)
    pub.start()
    assert wait_until(lambda: pub.connected)

    unsigned = canonical(body(**{SECRET: "x"}))
    publish(mosquitto.host, mosquitto.port, TOPIC, unsigned)
    assert wait_until(lambda: sync.last_rejection == "hot list from mqtt rejected: not a signed hot list")
    doc = reporter.beat()
    assert "hotlist_rejected" in doc["alarms"] and doc["last_error"] == sync.last_rejection
    assert SECRET not in (data / "status.json").read_text()

    forged = canonical({**body(**{SECRET: "x"}), "signature": json.loads(signed(5))["signature"]})
    publish(mosquitto.host, mosquitto.port, TOPIC, forged)
    assert wait_until(lambda: "bad signature" in sync.last_rejection)
    # 100 000 levels deep, on the network thread: refused, and the link lives on.
    publish(mosquitto.host, mosquitto.port, TOPIC, DEEP)
    assert wait_until(lambda: "nested far deeper" in sync.last_rejection)
    reporter.beat()
    publish(mosquitto.host, mosquitto.port, TOPIC, signed(6))
    assert wait_until(lambda: sync.active.version == 6) and sync.last_rejection == ""
    assert "hotlist_rejected" not in reporter.beat()["alarms"]
    pub.stop()

    assert rejections(data)[0]["what"] == "from mqtt: not a signed hot list"
    said = everything_said(data, caplog)
    for part in (SECRET, "Juan", "9876ZZZ"):
        assert part not in said, part


def test_a_signed_list_with_a_field_it_may_not_carry_is_refused_without_naming_it(sync, tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="edge_agent")
    with pytest.raises(HotlistRejected, match=r"^1 top-level field\(s\) not allowed in a hot list$"):
        sync.offer(resign(body(**{SECRET: "x"})), "mqtt")
    doc = body()
    doc["entries"][0][SECRET] = "1975-04-12"
    with pytest.raises(HotlistRejected, match=r"^entries carry 1 field\(s\) not allowed on the unit$"):
        sync.offer(resign(doc), "import", user="alice")
    assert sync.active.origin == "none"
    assert [e["what"] for e in rejections(tmp_path / "data")] == [
        "from mqtt: 1 top-level field(s) not allowed in a hot list",
        "from import: entries carry 1 field(s) not allowed on the unit"]
    said = everything_said(tmp_path / "data", caplog)
    assert SECRET not in said and "1975" not in said


def test_a_flood_of_bad_messages_is_recorded_as_the_first_and_one_summary(sync, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="edge_agent")
    kinds = [canonical(body(**{SECRET: "x"})), signed(5, key=Ed25519PrivateKey.generate()), DEEP, b"\xff"]
    for i in range(500):
        with pytest.raises(HotlistRejected):
            sync.offer(kinds[i % 4], "mqtt")
    assert len(rejections(tmp_path / "data")) == 1
    assert sync.last_rejection  # the status keeps its hotlist_rejected alarm
    assert caplog.text.count("rejected") == 1

    sync.flush_rejections()  # what the window's end does
    first, summary = rejections(tmp_path / "data")
    assert first["what"] == "from mqtt: not a signed hot list"
    assert summary["what"].startswith("499 more hot-list messages rejected in the last ")
    counts = {"not a signed hot list": 124, "bad signature (altered, or signed with another key)": 125,
              "nested far deeper than the 3 levels of a hot list": 125, "not JSON": 125}
    for reason, count in counts.items():
        assert f"{reason} {count}" in summary["what"]
    assert SECRET not in json.dumps(summary)

    # A person's import is one act: each is recorded, whatever the window.
    for _ in range(2):
        with pytest.raises(HotlistRejected):
            sync.offer(b"\xff", "import", user="alice")
    assert [e["user"] for e in rejections(tmp_path / "data")][-2:] == ["alice", "alice"]


def test_the_summary_is_recorded_when_the_window_ends_and_a_new_window_starts(sync, tmp_path):
    sync.rejection_window_seconds = 0.5
    for _ in range(3):
        with pytest.raises(HotlistRejected):
            sync.offer(b"\xff", "mqtt")
    assert wait_until(lambda: len(rejections(tmp_path / "data")) == 2)
    assert rejections(tmp_path / "data")[1]["what"].startswith("2 more hot-list messages rejected")
    with pytest.raises(HotlistRejected):
        sync.offer(DEEP, "mqtt")  # another reason, in a new window: recorded at once
    assert rejections(tmp_path / "data")[2]["what"] == "from mqtt: nested far deeper than the 3 levels of a hot list"


def test_an_oversize_message_is_refused_unread(sync, tmp_path):
    with pytest.raises(HotlistRejected) as caught:
        sync.offer(b"[" * (MAX_BYTES + 1), "mqtt")
    assert str(caught.value) == f"message of {MAX_BYTES + 1} bytes is over the {MAX_BYTES}-byte limit"
    assert [e["what"] for e in rejections(tmp_path / "data")] == [f"from mqtt: {caught.value}"]


@pytest.mark.parametrize("field, value, reason", [
    ("version", 2**63, "version must be a whole number from 1 to 9007199254740991"),
    ("version", 2**53, "version must be a whole number from 1 to 9007199254740991"),
    ("version", 0, "version must be a whole number from 1 to 9007199254740991"),
    ("version", -4, "version must be a whole number from 1 to 9007199254740991"),
    ("version", 5.0, "version must be a whole number from 1 to 9007199254740991"),
    # Named: an id made of the time would differ between test processes.
    pytest.param("issued_at", (NOW + timedelta(days=2)).isoformat(),
                 "issued_at is more than a day ahead of this unit's clock", id="issued_at-two-days-ahead"),
    ("issued_at", "1970-01-01T00:00:00Z", "issued_at is before 2000"),
    ("issued_at", "2026-05-01", "issued_at is not an RFC 3339 time with a time zone"),
    ("issued_at", "9999-12-31T23:59:59-23:59", "issued_at is not an RFC 3339 time with a time zone"),
])
def test_a_version_or_issue_time_out_of_bounds_is_refused_and_blocks_nothing(sync, field, value, reason):
    with pytest.raises(HotlistRejected) as caught:
        sync.offer(resign(body(**{field: value})), "mqtt")
    assert str(caught.value) == reason
    assert sync.offer(signed(2), "mqtt") and sync.active.version == 2


def test_bounds_still_take_what_a_real_issuer_sends(sync):
    assert sync.offer(resign(body(version=2**53 - 1, issued_at=(NOW + timedelta(hours=23)).isoformat())), "mqtt")
    assert sync.active.version == 2**53 - 1


def test_a_stored_list_is_not_held_against_a_clock_set_back_since():
    message = resign(body(version=3, issued_at=(NOW + timedelta(hours=20)).isoformat()))
    with pytest.raises(HotlistRejected, match="more than a day ahead"):
        verify(message, KEY.public_key(), now=NOW - timedelta(days=3))
    assert verify(message, KEY.public_key(), now=NOW - timedelta(days=3), stored=True).version == 3


def test_more_entries_than_a_unit_holds_are_refused_naming_the_file_and_the_limit(sync, tmp_path):
    csv = tmp_path / "national.csv"
    csv.write_text("plate,category\n" + "".join(f"{i:07d}AB,stolen-vehicle\n" for i in range(MAX_ENTRIES + 1)))
    with pytest.raises(InputError) as caught:
        load_hotlist(csv)
    assert str(caught.value) == (f"{csv}: hot list has more than {MAX_ENTRIES} rows, the most a unit holds "
                                 "(split it, or drop expired entries)")
    doc = body(entries=[{"plate": f"{i:07d}AB"} for i in range(MAX_ENTRIES + 1)])
    with pytest.raises(HotlistRejected, match=rf"^{MAX_ENTRIES + 1} entries, over the limit of {MAX_ENTRIES}"):
        sync.offer(resign(doc), "mqtt")


def test_a_list_with_no_live_entry_raises_hotlist_empty(unit, caplog):
    caplog.set_level(logging.WARNING, logger="edge_agent")
    sync, _, reporter = unit
    alarms = reporter.snapshot()["alarms"]
    assert "hotlist_missing" in alarms and "hotlist_empty" not in alarms  # no list at all: the one alarm

    expired = [HotListEntry("7305BRX", category="stolen-vehicle", expires=date(2020, 1, 1))]
    sync.offer(signed(4, entries=expired), "mqtt")
    doc = reporter.snapshot()
    assert doc["hotlist"]["entries"] == 0 and doc["hotlist"]["version"] == 4
    assert "hotlist_empty" in doc["alarms"] and "hotlist_missing" not in doc["alarms"]
    assert caplog.text.count("came into force with no live entry") == 1
    reporter.snapshot()
    assert caplog.text.count("came into force with no live entry") == 1  # said once, not at each beat

    sync.offer(signed(5), "mqtt")
    assert "hotlist_empty" not in reporter.snapshot()["alarms"]


def test_an_empty_csv_list_raises_hotlist_empty_too(tmp_path, caplog):
    csv = tmp_path / "hotlist.csv"
    csv.write_text("plate,category\n")
    with caplog.at_level(logging.WARNING, logger="edge_agent"):
        sync = HotlistSync(HotlistConfig(path=str(csv)), tmp_path / "data", Matcher(load_hotlist(csv), 1))
    assert sync.active.origin == "csv" and len(sync.active.matcher) == 0
    assert f"hot list {csv} came into force with no live entry" in caplog.text


def agent_with_one_plate(tmp_path) -> Agent:
    """An agent (models stubbed: no frame is read) whose CSV hot list holds one plate."""
    config = write_config(tmp_path, source=tmp_path / "frames", port=1883,
                          hotlist="plate,category\n7305BRX,stolen-vehicle\n")
    return Agent(load_config(config), detector=lambda f: [], reader=lambda f, c: [])


def test_a_reload_of_a_big_csv_loads_off_the_frame_thread(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="edge_agent")
    agent = agent_with_one_plate(tmp_path)
    old = agent.matcher
    (tmp_path / "hotlist.csv").write_text(
        "plate,category,ref\n" + "".join(f"{i:07d}AB,stolen-vehicle,R-{i}\n" for i in range(MAX_ENTRIES)))
    calls: list[float] = []

    def frame() -> None:  # what the frame loop does between two frames
        t = time.monotonic()
        agent._alive()
        calls.append(time.monotonic() - t)

    started = time.monotonic()
    agent.request_reload()  # SIGHUP
    frame()
    assert agent.matcher is old, "the frame thread waited for the load"
    assert any(t.name == "reload" for t in threading.enumerate())
    while agent.matcher is old and time.monotonic() - started < 120:
        frame()
        time.sleep(0.01)
    loaded = time.monotonic() - started
    assert len(agent.matcher) == MAX_ENTRIES and agent.matcher.match(read("0000042AB")).entry.ref == "R-42"
    assert len(calls) > 2 and max(calls) < loaded / 2, (max(calls), loaded)
    assert "reload: config" in caplog.text and f"({MAX_ENTRIES} live entries)" in caplog.text
    agent.store.close()


def test_a_reload_that_fails_to_load_keeps_the_running_list(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="edge_agent")
    agent = agent_with_one_plate(tmp_path)
    old = agent.matcher
    (tmp_path / "hotlist.csv").write_bytes(b"plate,category\n\xff\xfe,stolen-vehicle\n")
    agent.request_reload()
    assert wait_until(lambda: agent._alive() or "reload rejected" in caplog.text, 30)
    assert "hot list is not UTF-8 text; keeping the running config and hot list" in caplog.text
    for _ in range(20):
        agent._alive()  # the frame thread takes the result: the running list stays
        time.sleep(0.01)
    assert agent.matcher is old and agent.matcher.match(read("7305BRX")) is not None

    (tmp_path / "hotlist.csv").write_text("plate,category\n1234XYZ,stolen-vehicle\n")
    agent.request_reload()  # the failed load left nothing pending: the next one applies
    assert wait_until(lambda: agent._alive() or agent.matcher is not old, 30)
    assert agent.matcher.match(read("1234XYZ")) is not None and agent.matcher.match(read("7305BRX")) is None
    agent.store.close()
