"""A full card: the unit goes on reading and alerting, and its purge still runs.

The card is a real small tmpfs, mounted for the test (root only; skipped with
the reason elsewhere), filled with a real file until the kernel says ENOSPC.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agent_configs import write_config
from datasets import HIGHWAY, require
from edge_agent.privacy.audit import AuditLog
from edge_agent.commands.broker import LocalBroker
from edge_agent.config.retention import RetentionConfig
from edge_agent.privacy.datadir import RESERVE_NAME
from edge_agent.privacy.store import Store
from edge_agent.privacy.timeguard import TimeGuard
from mqtt_helpers import Subscriber
from test_agent import _frames_folder
from test_store import add, make_hit

HOTLIST = "plate,category,ref\n8589BXT,stolen-vehicle,R-9\n"


@pytest.fixture
def card(tmp_path):
    """A 48 MB card of its own under tmp_path."""
    folder = tmp_path / "card"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m,mode=0755", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip() or 'mount failed'}); needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(card: Path) -> Path:
    """Take every free byte of the card."""
    filler = card / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while os.write(fd, b"\xa5" * size):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def test_a_full_card_keeps_hits_in_memory_and_the_purge_still_runs(card):
    data = card / "data"
    store = Store(data, RetentionConfig(hit_days=30))
    try:
        assert (data / RESERVE_NAME).stat().st_size > 0
        add(store, make_hit("OLD1234", datetime.now(timezone.utc) - timedelta(days=40)), "old")
        store.mark_delivered("old")
        filler = fill(card)
        # A hit the card cannot take waits in memory; the reserve is kept for the purge.
        for i in range(40):
            hit = make_hit("FULL123", datetime.now(timezone.utc), seed=i)
            store.add_hit(hit, alert_id=f"full-{i}", topic="t", payload=b'{"crop_jpeg":"..."}', crop_jpeg=b"\xff" * 200_000,
                          payload_without_crop=b'{"crop_withheld":"disk_full"}')
        assert store.disk_full and (data / RESERVE_NAME).exists()
        waiting = store.pending(limit=100)
        assert [i.alert_id for i in waiting] == [f"full-{i}" for i in range(40)]  # none lost, in order
        spilled = [i for i in waiting if i.payload == b'{"crop_withheld":"disk_full"}']
        assert spilled, "the card never filled"

        # The purge runs on the full card, and destroys the expired hit.
        counts = store.purge_due(TimeGuard(data, "always"))
        assert counts["hits"] == 1 and not (data / RESERVE_NAME).exists()
        store.mark_delivered(spilled[0].alert_id)  # sent from memory
        assert store.outbox_depth() == 40 - 1

        filler.unlink()
        store.purge_due(TimeGuard(data, "always"))
        assert not store.disk_full and (data / RESERVE_NAME).exists()  # the reserve is taken again
        assert store.outbox_depth() == 39
        kept = {h["alert_id"] for h in store.hits()}
        assert {f"full-{i}" for i in range(40)} <= kept  # every hit on disk now, the delivered one too
    finally:
        store.close()


def test_the_agent_starts_reads_and_alerts_on_a_full_card(card, tmp_path):
    require(HIGHWAY)
    frames = _frames_folder(tmp_path / "frames", 4)
    data = card / "data"
    store = Store(data, RetentionConfig(hit_days=30))
    add(store, make_hit("OLD1234", datetime.now(timezone.utc) - timedelta(days=40)), "old")
    store.mark_delivered("old")
    store.close()
    fill(card)
    with LocalBroker() as broker:
        config = write_config(tmp_path, source=frames, port=broker.port, hotlist=HOTLIST,
                              retention='hit_days = 30\nclock_trust = "always"')
        text = config.read_text().replace('data_dir = "data"', f'data_dir = "{data}"')
        config.write_text(text)
        sub = Subscriber(broker.host, broker.port, "alpr/+/+/hit")
        proc = subprocess.run([sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
                              capture_output=True, text=True, timeout=300)
        sub.wait_for(1, timeout=10)
        sub.close()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert {json.loads(m.payload)["plate"] for m in sub.messages} == {"8589BXT"}
    purges = [e["what"] for e in AuditLog(data).entries() if e["event"] == "purge"]
    assert purges and "destroyed 1 hits" in purges[0]  # the start's purge ran, on the full card
    assert AuditLog(data).verify().ok
