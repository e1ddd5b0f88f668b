"""The usage-and-privacy policy: required to start, rendered from the settings in
force, and applied to hot-list categories, recipients and what is stored."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agent_configs import POLICY, write_config
from edge_agent.privacy.audit import AuditLog
from edge_agent.config import load_config
from edge_agent.config.policy import ELEMENTS
from edge_agent.config.retention import RetentionConfig
from edge_agent.errors import InputError
from edge_agent.privacy.match import load_hotlist
from edge_agent.privacy.policy import admit_hotlist
from edge_agent.service.agent import Agent
from edge_agent.privacy.store import Store
from test_store import NOW, add, make_hit, make_read, raw_bytes

ROOT = Path(__file__).resolve().parents[1]


def edge_agent(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_agent", *args], capture_output=True, text=True, timeout=120)


def config_with(tmp_path: Path, policy: str, hotlist: str = "plate,category\nAB1234,stolen-vehicle\n", **sections) -> Path:
    return write_config(tmp_path, source=tmp_path / "frames", port=1883, hotlist=hotlist, policy=policy, **sections)


def test_agent_refuses_to_start_naming_each_missing_element(tmp_path):
    config = config_with(tmp_path, 'purposes = ["investigation"]\ncustodian = "Records Manager"')
    proc = edge_agent("run", "--config", str(config))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    missing = [line for line in proc.stderr.splitlines() if "missing element" in line]
    named = {re.search(r": policy\.(\w+): missing element \((\w)\)", line).groups() for line in missing}
    assert named == {(k, letter) for k, (letter, _) in ELEMENTS.items() if k not in ("purposes", "custodian")}
    assert all(line.startswith(f"{config}:") for line in missing)
    assert not (tmp_path / "data").exists()  # refused before anything was written
    # check-config says the same.
    assert edge_agent("check-config", str(config)).stderr.count("missing element") == len(missing)


def test_agent_refuses_a_broker_that_is_not_a_recipient(tmp_path):
    config = config_with(tmp_path, POLICY.format(port=8883))
    proc = edge_agent("run", "--config", str(config))
    assert proc.returncode == 2
    assert re.search(r":\d+: mqtt\.host: broker 127\.0\.0\.1:1883 is not a recipient listed", proc.stderr)


def test_policy_problems_name_file_line_and_key(tmp_path):
    policy = POLICY.format(port=1883).replace('amber-alert = "AMBER alert"', 'immigration = "immigration enforcement"')
    policy = policy.replace('training = "ALPR course"', 'training = ""')
    config = config_with(tmp_path, policy)
    text = config.read_text().splitlines()
    with pytest.raises(Exception) as caught:
        load_config(config)
    found = {str(p) for p in caught.value.problems}
    line_of = lambda needle: next(i for i, t in enumerate(text, 1) if needle in t)  # noqa: E731
    assert f"{config}:{line_of('immigration =')}: policy.categories.immigration: 'immigration enforcement' " \
           "is not one of the authorized purposes" in found
    assert f"{config}:{line_of('training =')}: policy.roles[1].training: is required" in found


def test_a_config_built_in_code_is_held_to_the_policy_too(tmp_path):
    cfg = load_config(config_with(tmp_path, POLICY.format(port=1883)))
    with pytest.raises(InputError, match=r"policy\.purposes: missing element \(A\)"):
        Agent(dataclasses.replace(cfg, policy=type(cfg.policy)()), detector=lambda f: [], reader=lambda f, c: [])


def test_policy_renders_the_example_config():
    proc = edge_agent("policy", "--config", str(ROOT / "deploy" / "agent.example.toml"))
    assert proc.returncode == 0, proc.stderr
    for letter in "ABCDEFG":
        assert f"\n## ({letter}) " in proc.stdout
    assert "Records Manager, Example Police Department" in proc.stdout
    assert "destroyed 30 days after capture" in proc.stdout and "every 60 seconds" in proc.stdout


def test_every_number_in_the_policy_comes_from_the_settings_in_force(tmp_path):
    config = config_with(tmp_path, POLICY.format(port=1883),
                         retention="hit_days = 17\npurge_interval_seconds = 45\nnon_hit_minutes = 5")
    text = edge_agent("policy", "--config", str(config)).stdout
    assert "destroyed 17 days after capture" in text and "every 45 seconds" in text
    assert "at most 5 minutes, only as a keyed hash" in text
    assert "| stolen-vehicle | stolen vehicle recovery |" in text
    assert "test broker: `127.0.0.1:1883`" in text


def test_categories_not_tied_to_a_purpose_are_refused_by_name_only(tmp_path, caplog):
    hotlist = ("plate,category,ref,source,list_version,full_name\n"
               "AB1234,stolen-vehicle,R-1,NCIC,2025-06-01,Ana Ejemplo\n"
               "CD5678,immigration,R-2,ICE,2025-06-01,Luis Prueba\nEF9012,,R-3,,,\n")
    cfg = load_config(config_with(tmp_path, POLICY.format(port=1883), hotlist=hotlist))
    with caplog.at_level(logging.INFO):
        hot = admit_hotlist(load_hotlist(cfg.hotlist.path), cfg)
    assert [(e.plate, e.source, e.list_version) for e in hot.entries] == [("AB1234", "NCIC", "2025-06-01")]
    [entry] = [e for e in AuditLog(cfg.storage.data_dir).entries() if e["event"] == "hotlist-load"]
    assert "refused by category: (no category) 1, immigration 1" in entry["what"]
    assert "columns dropped: full_name" in entry["what"] and "list version 2025-06-01" in entry["what"]
    said = caplog.text + json.dumps(entry)
    assert "immigration 1" in said
    for value in ("CD5678", "EF9012", "Ana Ejemplo", "Luis Prueba", "ICE"):
        assert value not in said


def test_private_hot_list_columns_leave_no_trace_on_disk(tmp_path):
    hotlist = "plate,category,name,date_of_birth,address\nAB1234,stolen-vehicle,Ana Ejemplo,1969-02-03,Calle Falsa 1\n"
    cfg = load_config(config_with(tmp_path, POLICY.format(port=1883), hotlist=hotlist))
    agent = Agent(cfg, detector=lambda f: [], reader=lambda f, c: [])
    agent.store.add_hit(agent.matcher.match(make_read("AB1234")), alert_id="h1", topic="t", payload=b"{}",
                        crop_jpeg=b"\xff\xd8jpeg")
    agent.store.close()
    files = raw_bytes(tmp_path / "data")
    assert {"access.log", "edge-agent.db", "config.seen.json"} <= set(files)
    for value in (b"Ana Ejemplo", b"1969-02-03", b"Calle Falsa", b"AB1234"):
        assert not any(value in blob for blob in files.values()), value


def test_a_stored_hit_holds_only_the_minimal_record(tmp_path):
    store = Store(tmp_path, RetentionConfig())
    add(store, make_hit("AB12CDE"), "a1")
    columns = {r[1] for r in store._conn.execute("PRAGMA table_info(hits)")}
    # The last three say how far its time can be trusted (timeguard.py): boot clock facts, nobody's data.
    assert columns == {"alert_id", "captured_at", "camera", "key_id", "record", "crop",
                       "clock_trusted", "boot_id", "boot_seconds"}
    sealed = store._conn.execute("SELECT record FROM hits").fetchone()[0]
    record = json.loads(store.keys.open("day-2025-06-01", bytes(sealed), b"edge-agent/a1/record"))
    assert set(record) == {"plate", "state", "category", "ref", "confidence", "distance"}
    store.close()


@pytest.mark.parametrize("plaintext", [False, True])
def test_non_hit_plate_text_only_where_the_policy_says_so(tmp_path, plaintext):
    store = Store(tmp_path, RetentionConfig(non_hit_minutes=5), non_hit_plaintext=plaintext)
    store.remember_non_hit(make_read("NOHIT42"), NOW)
    store.close()
    assert any(b"NOHIT42" in blob for blob in raw_bytes(tmp_path).values()) is plaintext


def test_plaintext_switch_without_a_window_is_a_config_problem(tmp_path):
    policy = POLICY.format(port=1883).replace('custodian =', 'store_non_hit_plaintext = true\ncustodian =')
    with pytest.raises(Exception, match="store_non_hit_plaintext: has no effect while retention.non_hit_minutes = 0"):
        load_config(config_with(tmp_path, policy))


def test_config_changes_are_recorded_by_key(tmp_path):
    from edge_agent.privacy.policy import record_config

    path = config_with(tmp_path, POLICY.format(port=1883), retention="hit_days = 30")
    record_config(load_config(path))
    record_config(load_config(path))  # unchanged: nothing new
    path.write_text(path.read_text().replace("hit_days = 30", "hit_days = 45").replace("Test custodian", "Chief"))
    record_config(load_config(path))
    entries = [e for e in AuditLog(tmp_path / "data").entries()]
    assert [e["event"] for e in entries] == ["config", "config-change"]
    assert entries[1]["what"].endswith("changed retention.hit_days 30 -> 45, policy.custodian")
    assert "Chief" not in entries[1]["what"]
