"""Retention that really destroys: per-day keys, holds, the purge at start, and
the bytes a real agent run leaves once its hit has expired."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone

import cv2
import numpy as np
import pytest

from agent_configs import write_config
from datasets import HIGHWAY, require
from edge_agent.privacy.audit import AuditLog
from edge_agent.commands.broker import LocalBroker
from edge_agent.config import load_config
from edge_agent.config.retention import RetentionConfig
from edge_agent.errors import InputError
from edge_agent.service.agent import Agent
from edge_agent.privacy.store import Store
from mqtt_helpers import Subscriber
from test_agent import _frames_folder
from test_store import NOW, assert_absent, make_hit, raw_bytes, scan_data
from test_store import add as add_undelivered

DAY = timedelta(days=1)


def add(store: Store, hit, alert_id: str) -> bytes:
    """A hit whose alert the broker took: age alone decides when it goes (an
    undelivered one waits for its delivery, test_clock_faults.py)."""
    crop = add_undelivered(store, hit, alert_id)
    store.mark_delivered(alert_id)
    return crop


def sealed_pieces(store: Store, alert_id: str) -> list[bytes]:
    """32-byte pieces of every ciphertext a hit has on disk, and of its key."""
    conn = store._conn
    blobs = [bytes(b) for row in conn.execute("SELECT record, crop, key_id FROM hits WHERE alert_id = ?",
                                              (alert_id,)) for b in row[:2]]
    blobs += [bytes(r[0]) for r in conn.execute("SELECT payload FROM outbox WHERE alert_id = ?", (alert_id,))]
    key_id = conn.execute("SELECT key_id FROM hits WHERE alert_id = ?", (alert_id,)).fetchone()[0]
    blobs.append((store.keys.folder / f"{key_id}.key").read_bytes())
    return [b[i : i + 32] for b in blobs for i in range(0, max(len(b) - 31, 1), 32)]


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "data", RetentionConfig(hit_days=30))
    yield s
    s.close()


def test_day_key_lives_until_its_whole_day_has_expired(store):
    morning, evening = NOW.replace(hour=1), NOW.replace(hour=23)
    add(store, make_hit("MORN111", morning, 1), "m")
    add(store, make_hit("EVEN222", evening, 2), "e")
    assert store.keys.ids() == ["day-2025-06-01"]
    # 30 days after the morning hit: it is gone, the evening one is not, so the key stays.
    assert store.purge(morning + 30 * DAY + timedelta(minutes=1))["keys"] == 0
    assert [h["plate"] for h in store.hits()] == ["EVEN222"]
    counts = store.purge(evening + 30 * DAY + timedelta(minutes=1))
    assert counts["hits"] == 1 and counts["keys"] == 0 and store.hits() == []
    # The key goes once the last moment of its day has expired, at most a day after the rows.
    assert store.purge(NOW.replace(hour=0) + 31 * DAY)["keys"] == 1
    assert store.keys.ids() == []


def test_hit_with_a_destroyed_key_is_unreadable(store):
    add(store, make_hit("GONE123"), "g")
    store.keys.destroy("day-2025-06-01")
    assert store.hits() == [] and store.crop("g") is None and store.pending() == []


def test_hold_keeps_one_hit_and_lets_the_rest_of_its_day_go(store, tmp_path):
    data = tmp_path / "data"
    crops = {name: add(store, make_hit(name, NOW, seed), name.lower()) for seed, name in enumerate(("HELD111", "FREE222"))}
    free = sealed_pieces(store, "free222")
    number = store.hold("held111", case="2025-CR-881", approver="Lt. Ruiz", until=date(2025, 7, 20),
                        user="det. kim", now=NOW + DAY)
    assert number == 1 and store.holds()[0]["case_number"] == "2025-CR-881"
    assert sorted(store.keys.ids()) == ["day-2025-06-01", "held-held111"]

    # Past retention: the free hit and the day's key are destroyed, the held hit is not.
    counts = store.purge(NOW + 31 * DAY)
    assert counts["hits"] == 1 and counts["keys"] == 1
    assert [(h["plate"], h["held"]) for h in store.hits()] == [("HELD111", True)]
    assert store.crop("held111") == crops["HELD111"]
    assert_absent(data, [b"FREE222", *scan_data(crops["FREE222"]), *free])

    # The day after its end date the hold ends by itself, and the hit and its key go.
    held = sealed_pieces(store, "held111")
    assert store.purge(datetime(2025, 7, 20, 23, 0, tzinfo=timezone.utc))["holds"] == 0
    counts = store.purge(datetime(2025, 7, 21, 0, 1, tzinfo=timezone.utc))
    assert counts == {"hits": 1, "outbox": 0, "non_hits": 0, "keys": 1, "holds": 1}
    assert store.hits() == [] and store.keys.ids() == [] and store.holds() == []
    assert_absent(data, [b"HELD111", *scan_data(crops["HELD111"]), *held])
    events = [(e["event"], e["case"]) for e in AuditLog(data).entries()]
    assert ("hold-ended", "2025-CR-881") in events and AuditLog(data).verify().ok


def test_hold_that_ends_within_retention_returns_the_hit_to_its_day(store):
    add(store, make_hit("BACK333"), "b")
    store.hold("b", case="C-1", approver="Sgt. Poe", until=date(2025, 6, 3), user="kim", now=NOW)
    store.purge(NOW + 3 * DAY)
    assert [(h["plate"], h["held"]) for h in store.hits()] == [("BACK333", False)]
    assert store.keys.ids() == ["day-2025-06-01"]
    assert store.purge(NOW + 31 * DAY)["hits"] == 1 and store.hits() == []


def test_hold_needs_case_approver_future_date_and_a_live_hit(store):
    add(store, make_hit("AAA1111"), "a")
    good = dict(case="C-1", approver="Lt. Ruiz", until=date(2025, 8, 1), user="kim", now=NOW)
    for bad, message in (({"case": " "}, "case number and an approver"), ({"approver": ""}, "approver"),
                         ({"until": date(2025, 5, 31)}, "has passed"), ({"now": NOW + 31 * DAY}, "within retention")):
        with pytest.raises(InputError, match=message):
            store.hold("a", **{**good, **bad})
    with pytest.raises(InputError, match="no hit nope"):
        store.hold("nope", **good)
    assert store.holds() == []
    # Two cases may hold the same hit; it stays until the later hold ends.
    store.hold("a", **good)
    store.hold("a", **{**good, "case": "C-2", "until": date(2025, 9, 1)})
    store.purge(datetime(2025, 8, 2, tzinfo=timezone.utc))
    assert [h["plate"] for h in store.hits()] == ["AAA1111"]
    store.purge(datetime(2025, 9, 2, tzinfo=timezone.utc))
    assert store.hits() == [] and store.keys.ids() == []


def test_real_run_purges_at_start_and_leaves_no_byte_of_an_expired_hit(tmp_path):
    """The agent's own process: an old hit is destroyed at start; the new hit,
    once expired, leaves nothing in any file under data_dir."""
    require(HIGHWAY)
    frames = _frames_folder(tmp_path / "frames", 4)
    data = tmp_path / "data"
    old = Store(data, RetentionConfig(hit_days=30))
    old_crop = add(old, make_hit("OLD4567", datetime.now(timezone.utc) - 40 * DAY, 9), "stale")
    old_pieces = sealed_pieces(old, "stale")
    old.close()
    with LocalBroker() as broker:
        config = write_config(tmp_path, source=frames, port=broker.port,
                              hotlist="plate,category,ref,name,date_of_birth\n8589BXT,stolen-vehicle,R-9,Ana Ejemplo,1969-02-03\n",
                              retention='hit_days = 30\nclock_trust = "always"')
        sub = Subscriber(broker.host, broker.port, "alpr/+/+/hit")
        proc = subprocess.run([sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
                              capture_output=True, text=True, timeout=300)
        sub.wait_for(1, timeout=10)
        # One passage, though a slow first frame can split it into two tracks, hence two hits.
        alerts = {a["alert_id"]: a for a in (json.loads(m.payload) for m in sub.messages)}
        sub.close()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {a["plate"] for a in alerts.values()} == {"8589BXT"}
    log = list(AuditLog(data).entries())
    assert [e["event"] for e in log[:3]] == ["hotlist-load", "config", "purge"]
    assert "destroyed 1 hits" in log[2]["what"]  # the start-up purge took the 40-day-old hit
    assert [e["event"] for e in log].count("disclosure") == len(alerts)
    assert_absent(data, [b"OLD4567", *scan_data(old_crop), *old_pieces])

    store = Store(data, RetentionConfig(hit_days=30), pipeline=False)
    assert sorted(h["alert_id"] for h in store.hits()) == sorted(alerts)
    crops = [base64.b64decode(a["crop_jpeg"]) for a in alerts.values()]
    assert [store.crop(alert_id) for alert_id in alerts] == crops
    pieces = [p for alert_id in alerts for p in sealed_pieces(store, alert_id)]
    crop_pieces = [p for crop in crops for p in scan_data(crop)]
    assert_absent(data, [b"8589BXT", *crop_pieces])  # encrypted at rest even before expiry
    store.purge(datetime.now(timezone.utc) + 31 * DAY)
    store.close()
    files = raw_bytes(data)
    needles = [b"8589BXT", b"8589 BXT", "8589BXT".encode("utf-16-le"), b"Ana Ejemplo", b"1969-02-03",
               *crop_pieces, *pieces]
    assert_absent(data, needles)
    assert files.get("edge-agent.db-wal", b"") == b"" and not list((data / "keys").iterdir())
    assert AuditLog(data).verify().ok


def test_purge_keeps_running_while_the_agent_reads(tmp_path):
    """A hit that expires a moment after start is destroyed by the running agent, not at the next start."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(40):
        cv2.imwrite(str(frames / f"{i:03d}.png"), np.zeros((48, 64, 3), np.uint8))
    config = write_config(tmp_path, source=frames, port=1, hotlist="plate,category\nAB1234,stolen-vehicle\n",
                          retention='hit_days = 30\npurge_interval_seconds = 1\nclock_trust = "always"')
    store = Store(tmp_path / "data", RetentionConfig(hit_days=30))
    add(store, make_hit("SOON123", datetime.now(timezone.utc) - 30 * DAY + timedelta(seconds=2)), "soon")
    store.close()

    class NoPlates:  # at any look (read.read_frame)
        def __call__(self, frame):
            return []

        def closer_looks(self, frame):
            return []

    class SlowReader:  # 40 frames: about 4 s, four purge intervals
        def __call__(self, frame, candidates):
            time.sleep(0.1)
            return []

        def rank_still(self, frame, candidates):  # the photos are stills (read.read_frame)
            time.sleep(0.1)
            return []

    agent = Agent(load_config(config), detector=NoPlates(), reader=SlowReader())
    agent.run(drain_timeout=0)
    purges = [e["what"] for e in AuditLog(tmp_path / "data").entries() if e["event"] == "purge"]
    assert purges[0].startswith("destroyed 0 hits")  # at start the hit was still within retention
    assert any(p.startswith("destroyed 1 hits") for p in purges[1:]), purges
