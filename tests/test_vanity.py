"""Plates of letters alone (vanity plates): read, but counted only when they hit.

The reader reads a letters-only row only on a closed panel (read.py), yet
badges and lettering pass that check too, so the agent keeps such a read
only if the hot list wants it: otherwise it is neither a vehicle nor a
non-hit kept under the retention policy.
"""

from __future__ import annotations


from agent_configs import write_config
from datasets import DATASETS, require
from edge_agent.commands.broker import LocalBroker
from edge_agent.config.retention import RetentionConfig
from edge_agent.privacy.store import Store
from mqtt_helpers import alerts_of_a_run

EU_PHOTOS = DATASETS / "openalpr-benchmarks" / "endtoend" / "eu"
# G WAGEN and BIMMIAN are vanity plates; test_003 shows SI819AK and a FELICIA
# badge on the boot lid, which the reader reads as letters alone.
PHOTOS = ("eu2.jpg", "test_003.jpg", "eu4.jpg")


def test_a_listed_vanity_plate_alerts_and_unlisted_letters_leave_no_trace(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, name in enumerate(PHOTOS):
        # Linked, not copied: the shared photos are read in place.
        (folder / f"{i}-{name}").symlink_to(require(EU_PHOTOS / name))
    with LocalBroker() as broker:
        config = write_config(tmp_path, source=folder, port=broker.port,
                              hotlist="plate,category,ref\nGWAGEN,stolen-vehicle,R-1\n",
                              retention="non_hit_minutes = 5\nhit_days = 30",
                              # Each photo is one look at its own car: the tracker
                              # would otherwise take plates at about the same spot
                              # in the next photo for the same vehicle.
                              tracker="min_frames = 1\nmax_gap_seconds = 0.01")
        proc, alerts = alerts_of_a_run(config, broker.host, broker.port, 1)
    assert [a["plate"] for a in alerts] == ["GWAGEN"]
    # GWAGEN (a hit) and SI819AK (a non-hit, kept minutes): BIMMIAN and FELICIA are not vehicles.
    assert "stopped after 3 frames" in proc.stderr and "2 vehicles, 1 hits" in proc.stderr
    store = Store(tmp_path / "data", RetentionConfig(non_hit_minutes=5), pipeline=False)
    try:
        assert store.non_hit_count() == 1
    finally:
        store.close()
