"""Access at the unit, as an investigator meets it: `edge-agent query`, `crop`,
`export`, `hold` and `audit report`, each a real process on a real store."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from agent_configs import write_config
from edge_agent.privacy.audit import AuditLog
from edge_agent.config.retention import RetentionConfig
from edge_agent.privacy.store import Store
from test_store import add, make_hit

WHO = ("--user", "Det. Kim", "--purpose", "Investigation")  # purposes match regardless of case


def edge_agent(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_agent", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def unit(tmp_path):
    """A unit whose store holds a hit from yesterday and one past its 30 days, both delivered,
    with a clock it trusts (test_clock_faults.py has the others)."""
    config = write_config(tmp_path, source=tmp_path / "frames", port=1883, hotlist="plate\n",
                          retention='clock_trust = "always"')
    now = datetime.now(timezone.utc)
    store = Store(tmp_path / "data", RetentionConfig(hit_days=30))
    crops = {"fresh": add(store, make_hit("7ABC123", now - timedelta(days=1), 1), "fresh"),
             "stale": add(store, make_hit("7ABC123", now - timedelta(days=31), 2), "stale")}
    for alert_id in crops:
        store.mark_delivered(alert_id)
    store.close()
    return config, AuditLog(tmp_path / "data"), crops


def run(config, command: str, *args: str) -> subprocess.CompletedProcess:
    return edge_agent(command, "--config", str(config), *args)


def last(log: AuditLog) -> dict:
    return list(log.entries())[-1]


@pytest.mark.parametrize("who, reason", [
    ((), "no user (--user)"),
    (("--user", "Det. Kim"), "no purpose (--purpose)"),
    (("--user", "Det. Kim", "--purpose", "curiosity"), "'curiosity' is not an authorized purpose"),
])
def test_query_without_user_or_authorized_purpose_is_refused_and_logged(unit, who, reason):
    config, log, _ = unit
    proc = run(config, "query", *who, "7ABC123")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(f"edge-agent: query refused: {reason}") and proc.stderr.count("\n") == 1
    entry = last(log)
    assert (entry["event"], entry["what"]) == ("refused", f"query plate 7ABC123: {reason}")
    assert entry["user"] == (who[1] if who else "")


def test_query_returns_only_what_is_within_retention_and_is_logged(unit):
    config, log, _ = unit
    proc = run(config, "query", *WHO, "--case", "2025-CR-7", "7-abc 123")
    assert proc.returncode == 0, proc.stderr
    assert "fresh" in proc.stdout and "stale" not in proc.stdout and "7ABC123" in proc.stdout
    entry = last(log)
    assert (entry["event"], entry["user"], entry["purpose"], entry["case"]) == \
           ("query", "Det. Kim", "investigation", "2025-CR-7")
    assert entry["what"] == "plate 7ABC123: 1 hit(s) fresh"
    # The stale hit was destroyed by the purge the query ran first; that is on record too.
    assert any(e["event"] == "purge" and "destroyed 1 hits" in e["what"] for e in log.entries())


def test_crop_view_and_export_write_the_hit_and_are_logged(unit, tmp_path):
    config, log, crops = unit
    out = tmp_path / "crop.jpg"
    assert run(config, "crop", *WHO, "--out", str(out), "fresh").returncode == 0
    assert out.read_bytes() == crops["fresh"]
    assert last(log)["event"] == "crop-view" and "crop of hit fresh" in last(log)["what"]

    refused = run(config, "export", *WHO, "--out", str(tmp_path / "case"), "fresh")
    assert refused.returncode == 2 and "no case number (--case)" in refused.stderr
    assert last(log)["event"] == "refused"
    proc = run(config, "export", *WHO, "--case", "2025-CR-7", "--out", str(tmp_path / "case"), "fresh")
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "case" / "fresh.json").read_text())
    assert record["plate"] == "7ABC123" and (tmp_path / "case" / "fresh.jpg").read_bytes() == crops["fresh"]
    assert (last(log)["event"], last(log)["case"]) == ("export", "2025-CR-7")

    gone = run(config, "crop", *WHO, "--out", str(out), "stale")
    assert gone.returncode == 2 and gone.stderr.strip() == "edge-agent: crop: no hit stale within retention"


def test_hold_needs_case_approver_and_end_date_and_is_logged(unit, tmp_path):
    config, log, _ = unit
    until = (datetime.now(timezone.utc) + timedelta(days=90)).date().isoformat()
    for missing, reason in ((("--approver", "Lt. Ruiz", "--until", until), "no case number (--case)"),
                            (("--case", "C-9", "--until", until), "no approver (--approver)"),
                            (("--case", "C-9", "--approver", "Lt. Ruiz"), "no end date (--until)")):
        proc = run(config, "hold", *WHO, *missing, "fresh")
        assert proc.returncode == 2 and reason in proc.stderr
        assert last(log)["event"] == "refused"
    proc = run(config, "hold", *WHO, "--case", "C-9", "--approver", "Lt. Ruiz", "--until", until, "fresh")
    assert proc.returncode == 0, proc.stderr
    entry = last(log)
    assert (entry["event"], entry["case"]) == ("hold", "C-9")
    assert entry["what"] == f"hold 1 on hit fresh until {until}, approved by Lt. Ruiz"
    store = Store(tmp_path / "data", RetentionConfig(), pipeline=False)
    assert [(h["alert_id"], h["held"]) for h in store.hits()] == [("fresh", True)]
    store.close()


def test_audit_report_summarises_searches_refusals_purges_and_holds(unit):
    config, log, _ = unit
    run(config, "query", *WHO, "7ABC123")
    run(config, "query", *WHO, "8XYZ999")
    run(config, "query", "--user", "Ofc. Lee", "--purpose", "AMBER alert", "1AAA111")
    run(config, "query", "--user", "Ofc. Lee", "1AAA111")
    log.record("disclosure", user="edge-agent", purpose="AMBER alert", case="R-1", what="alert x to dispatch")
    proc = edge_agent("audit", "report", "--config", str(config))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "Det. Kim  investigation  2" in text and "Ofc. Lee  AMBER alert    1" in text
    assert "Refused requests: 1" in text and "no purpose" in text
    assert "destroyed 1 hits, 0 queued alerts, 1 keys" in text
    assert "AMBER alert  1" in text  # disclosures per purpose
    head = text.split("audit verify --head ")[1].split("`")[0]
    assert edge_agent("audit", "verify", "--config", str(config), "--head", head).returncode == 0
    # Searches are counted, not quoted (only refusals are listed one by one).
    assert "7ABC123" not in text and "8XYZ999" not in text
