"""Faults of a unit without a real-time clock: a clock weeks behind, then set
right; a clock ahead, even for one command. No hit may be destroyed before it
was delivered and its retention ran out, whatever the clock says (timeguard.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import jsonschema
import pytest

from agent_configs import write_config
from datasets import HIGHWAY, require
from edge_agent.privacy.audit import AuditLog
from edge_agent.commands.broker import LocalBroker
from edge_agent.config.mqtt import MqttConfig
from edge_agent.config.retention import RetentionConfig
from edge_agent.transport.status import StatusReporter
from edge_agent.privacy.store import Store
from edge_agent.privacy.timeguard import LEDGER_NAME, TimeGuard, boot_id, boot_seconds
from mqtt_helpers import Subscriber
from test_agent import _frames_folder
from test_publish import UNIT, make_publisher  # noqa: F401 (fixture)
from test_status import STATUS_SCHEMA, Stats
from test_store import NOW, add, make_hit

DAY = timedelta(days=1)
FAKETIME = shutil.which("faketime")
HOTLIST = "plate,category,ref\n8589BXT,stolen-vehicle,R-9\n"


def synced() -> bool:
    return True


def unsynced() -> bool:
    return False


# -- the guard -------------------------------------------------------------------
# Whether the kernel's clock is synchronised cannot be changed here (it is the
# host's): those tests pass the answer; the boot clock and the file are real.

def test_an_unsynchronised_clock_is_not_trusted_and_leaves_no_reading(tmp_path):
    guard = TimeGuard(tmp_path, synchronized=unsynced)
    verdict = guard.check(datetime.now(timezone.utc))
    assert not verdict.trusted and "not synchronised" in verdict.reason
    assert not (tmp_path / LEDGER_NAME).exists()
    assert TimeGuard(tmp_path, "always", synchronized=unsynced).check(datetime.now(timezone.utc)).trusted


def test_a_jump_against_the_boot_clock_is_not_trusted_once_then_rebased(tmp_path):
    now = datetime.now(timezone.utc)
    guard = TimeGuard(tmp_path, synchronized=synced)
    assert guard.check(now).trusted
    ahead = guard.check(now + 31 * DAY)
    assert not ahead.trusted and "jumped ahead 31.0 days" in ahead.reason
    # Synchronised, the jump is taken as NTP's correction: the next check trusts it.
    assert guard.check(now + 31 * DAY).trusted
    back = guard.check(now)
    assert not back.trusted and back.backwards_seconds > 30 * 86400 and "back" in back.reason


def test_without_the_kernels_word_a_jump_is_never_taken_as_a_correction(tmp_path):
    now = datetime.now(timezone.utc)
    guard = TimeGuard(tmp_path, "always", synchronized=unsynced)
    assert guard.check(now).trusted
    assert not guard.check(now - 31 * DAY).trusted
    assert not guard.check(now - 31 * DAY).trusted  # still: the reading was kept
    assert guard.check(now).trusted


def test_a_clock_behind_a_time_already_shown_is_reported_across_boots(tmp_path):
    now = datetime.now(timezone.utc)
    # A reading left by another boot: only "went back" can be told, not a jump.
    (tmp_path / LEDGER_NAME).write_text(json.dumps(
        {"wall": (now + 21 * DAY).strftime("%Y-%m-%dT%H:%M:%S.000Z"), "boot_id": "another-boot", "boot_seconds": 5.0}))
    verdict = TimeGuard(tmp_path, synchronized=synced).check(now)
    assert not verdict.trusted and "21.0 days behind" in verdict.reason


def test_a_damaged_reading_is_replaced_not_fatal(tmp_path):
    (tmp_path / LEDGER_NAME).write_bytes(b"\x00{not json")
    assert TimeGuard(tmp_path, synchronized=synced).check(datetime.now(timezone.utc)).trusted
    assert json.loads((tmp_path / LEDGER_NAME).read_text())["boot_id"] == boot_id()


# -- the store --------------------------------------------------------------------

def test_an_undelivered_alert_outlives_its_retention_until_delivered(tmp_path):
    store = Store(tmp_path / "data", RetentionConfig(hit_days=30))
    try:
        add(store, make_hit("WAIT123", NOW), "w")
        assert store.purge(NOW + 400 * DAY)["hits"] == 0
        assert [i.alert_id for i in store.pending()] == ["w"]
        assert json.loads(store.pending()[0].payload)["plate"] == "WAIT123"  # its key was kept
        store.mark_delivered("w")
        assert store.purge(NOW + 400 * DAY) == {"hits": 1, "outbox": 0, "non_hits": 0, "keys": 1, "holds": 0}
        assert store.hits() == []
    finally:
        store.close()


def test_a_hit_stamped_by_a_clock_weeks_behind_is_re_dated_by_the_boot_clock(tmp_path):
    store = Store(tmp_path / "data", RetentionConfig(hit_days=30))
    boot, up = boot_id(), boot_seconds()
    real = datetime.now(timezone.utc)
    try:
        # The clock said 40 days ago; the boot clock says it was a minute ago.
        hit = make_hit("LATE123", real - 40 * DAY)
        store.add_hit(hit, alert_id="late", topic="t", payload=b"{}", crop_jpeg=b"\xff\xd8", clock=(False, boot, up - 60))
        store.mark_delivered("late")
        assert store.purge(real, boot=(boot, up))["hits"] == 0
        [kept] = store.hits()
        captured = datetime.fromisoformat(kept["captured_at"].replace("Z", "+00:00"))
        assert abs((captured - (real - timedelta(seconds=60))).total_seconds()) < 2
        assert store.keys.ids() == [f"day-{captured.date().isoformat()}"]  # under its true day's key
        assert store.purge(real + 31 * DAY, boot=(boot, up + 31 * 86400))["hits"] == 1
    finally:
        store.close()


def test_a_hit_from_an_earlier_boot_is_kept_its_whole_retention_from_the_first_trusted_purge(tmp_path):
    store = Store(tmp_path / "data", RetentionConfig(hit_days=30))
    try:
        store.add_hit(make_hit("BOOT123", NOW - 40 * DAY), alert_id="b", topic="t", payload=b"{}",
                      crop_jpeg=b"\xff\xd8", clock=(False, "an-earlier-boot", 100.0))
        store.mark_delivered("b")
        assert store.purge(NOW, boot=(boot_id(), 50.0))["hits"] == 0
        assert store.purge(NOW + 29 * DAY, boot=(boot_id(), 50.0))["hits"] == 0
        assert store.purge(NOW + 31 * DAY, boot=(boot_id(), 50.0))["hits"] == 1
    finally:
        store.close()


def test_an_untrusted_purge_destroys_no_hit_and_is_recorded_once(tmp_path):
    data = tmp_path / "data"
    store = Store(data, RetentionConfig(hit_days=30))
    try:
        add(store, make_hit("OLD1234", datetime.now(timezone.utc) - 60 * DAY), "o")
        store.mark_delivered("o")
        guard = TimeGuard(data, synchronized=unsynced)
        for _ in range(3):
            assert store.purge_due(guard)["hits"] == 0
        assert [h["alert_id"] for h in store.hits()] == ["o"]
        assert store.purge_due(TimeGuard(data, "always"))["hits"] == 1
    finally:
        store.close()
    clock = [e["what"] for e in AuditLog(data).entries() if e["event"] == "clock"]
    assert len(clock) == 2 and "not synchronised" in clock[0] and "trusted again" in clock[1]


# -- the real agent and commands under a faked clock ---------------------------------

def _faked(offset: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    # libfaketime moves the wall clock (and the process's own monotonic clocks,
    # unless told not to); /proc/uptime, read by timeguard.py, it cannot move.
    cmd = [FAKETIME, "-f", offset, sys.executable, "-m", "edge_agent", *args] if offset else \
        [sys.executable, "-m", "edge_agent", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kwargs)


@pytest.mark.skipif(FAKETIME is None, reason="faketime is not installed (Debian package faketime; setup.sh --test)")
def test_hits_made_with_the_clock_weeks_behind_and_the_broker_away_are_delivered_and_kept(tmp_path):
    """A Pi booted without network: clock 31 days behind, broker down. Then the
    clock is right and the broker back: every hit is delivered, none purged."""
    require(HIGHWAY)
    frames = _frames_folder(tmp_path / "frames", 4)
    data = tmp_path / "data"
    broker = LocalBroker()  # its port, not yet listening
    # One worker: under libfaketime's faked monotonic clock a timed wait
    # between threads never returns (threading.Event().wait(0.005) hangs), and
    # with the monotonic clock left real time.sleep fails with EINVAL. A Pi's
    # wrong wall clock does neither; the pipeline is tested in test_pipeline.py.
    config = write_config(tmp_path, source=frames, port=broker.port, hotlist=HOTLIST,
                          retention='hit_days = 30\nclock_trust = "always"', reader="workers = 1")
    query = ["query", "8589BXT", "--config", str(config), "--user", "kim", "--purpose", "investigation"]
    assert _faked("", *query).returncode == 0  # a reading of the right time, as any earlier run leaves

    behind = _faked("-31d", "run", "--config", str(config))
    # Exit 1: hits wait in the outbox for the broker (cli.py says so).
    assert behind.returncode == 1 and "stay in the outbox" in behind.stderr, behind.stderr[-2000:]
    store = Store(data, RetentionConfig(hit_days=30), pipeline=False)
    queued = store.outbox_depth()
    store.close()
    assert queued >= 1

    with broker:
        sub = Subscriber(broker.host, broker.port, "alpr/+/+/hit")
        right = _faked("", "run", "--config", str(config))
        sub.wait_for(queued, timeout=20)
        sub.close()
    assert right.returncode == 0, right.stderr[-2000:]
    delivered = {json.loads(m.payload)["alert_id"] for m in sub.messages}
    assert len(delivered) >= queued
    store = Store(data, RetentionConfig(hit_days=30), pipeline=False)
    try:
        kept = {h["alert_id"]: h["captured_at"] for h in store.hits()}
        assert delivered <= set(kept)  # nothing purged, though stamped 31 days ago
        # The right run's first purge re-dated them by the boot clock: captured minutes ago, not 31 days.
        now = datetime.now(timezone.utc)
        ages = [(now - datetime.fromisoformat(at.replace("Z", "+00:00"))).total_seconds() for at in kept.values()]
        assert all(0 <= age < 600 for age in ages), ages
    finally:
        store.close()
    clock = [e["what"] for e in AuditLog(data).entries() if e["event"] == "clock"]
    assert any("back 31.0 days" in w for w in clock), clock
    assert AuditLog(data).verify().ok


@pytest.mark.skipif(FAKETIME is None, reason="faketime is not installed (Debian package faketime; setup.sh --test)")
@pytest.mark.parametrize("trust", ["always", "synchronized"])
def test_one_query_with_the_clock_31_days_ahead_destroys_nothing(tmp_path, trust):
    data = tmp_path / "data"
    store = Store(data, RetentionConfig(hit_days=30))
    add(store, make_hit("AHEAD12", datetime.now(timezone.utc) - DAY), "a")
    store.mark_delivered("a")
    store.close()
    config = write_config(tmp_path, source=tmp_path, port=1883, hotlist=HOTLIST,
                          retention=f'hit_days = 30\nclock_trust = "{trust}"')
    query = ["query", "AHEAD12", "--config", str(config), "--user", "kim", "--purpose", "investigation"]
    first = _faked("", *query)
    assert first.returncode == 0, first.stderr
    ahead = _faked("+31d", *query)
    assert ahead.returncode == 0, ahead.stderr
    again = _faked("", *query)
    assert "AHEAD12" in again.stdout, again.stdout + again.stderr
    store = Store(data, RetentionConfig(hit_days=30), pipeline=False)
    try:
        assert [h["plate"] for h in store.hits()] == ["AHEAD12"]
    finally:
        store.close()
    clock = " ".join(e["what"] for e in AuditLog(data).entries() if e["event"] == "clock")
    assert "jumped ahead 31.0 days" in clock or (trust == "synchronized" and "not synchronised" in clock), clock


def test_status_says_the_clock_went_back_and_names_a_set_aside_key(mosquitto, make_publisher, tmp_path):
    data = tmp_path / "data"
    store = Store(data, RetentionConfig(hit_days=30))
    now = datetime.now(timezone.utc)
    guard = TimeGuard(data, synchronized=synced)
    store.purge_due(guard)
    (data / LEDGER_NAME).write_text(json.dumps({"wall": (now + 21 * DAY).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                                                "boot_id": "another-boot", "boot_seconds": 5.0}))
    store.purge_due(guard)
    (data / "keys" / f"day-{now.date().isoformat()}.key").write_bytes(b"short")
    add(store, make_hit("STAT123", now), "s")
    mqtt = MqttConfig(host=mosquitto.host, port=mosquitto.port, tls=False, allow_insecure=True)
    reporter = StatusReporter(UNIT, mqtt, data, publisher=make_publisher(mqtt, store), store=store, stats=Stats())
    try:
        doc = reporter.beat()
        jsonschema.validate(doc, STATUS_SCHEMA)
        assert {"clock_untrusted", "key_unusable"} <= set(doc["alarms"])
        assert doc["clock"] == {"trusted": False, "problem": "the clock is 21.0 days behind a time it already showed"}
        assert b"STAT123" not in json.dumps(doc).encode()
    finally:
        store.close()
