"""The access log: append-only, hash-chained, checked by `edge-agent audit verify`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent_configs import write_config
from edge_agent.privacy.audit import LOG_NAME, AuditLog, entry_hash


def edge_agent(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_agent", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def unit(tmp_path):
    """A config whose data_dir holds a log of five entries."""
    config = write_config(tmp_path, source=tmp_path / "frames", port=1883, hotlist="plate\n")
    log = AuditLog(tmp_path / "data")
    for i in range(1, 6):
        log.record("query", user=f"user{i}", purpose="investigation", case=f"C-{i}", what=f"plate AB{i}")
    return config, log


def lines(log: AuditLog) -> list[str]:
    return log.path.read_text().splitlines(keepends=True)


def verify(config: Path, *extra: str) -> subprocess.CompletedProcess:
    return edge_agent("audit", "verify", "--config", str(config), *extra)


def test_intact_log_verifies(unit):
    config, log = unit
    proc = verify(config)
    assert proc.returncode == 0, proc.stderr
    assert "intact, 5 entries" in proc.stdout
    entries = list(log.entries())
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0]["prev"] == "0" * 64 and all(b["prev"] == a["hash"] for a, b in zip(entries, entries[1:]))
    assert {"at", "user", "login", "purpose", "case", "what", "event"} <= set(entries[0])


def _tamper(log: AuditLog, change) -> None:
    text = lines(log)
    change(text)
    log.path.write_text("".join(text))


def _edited(text: list[str], rehash: bool = False) -> None:
    entry = json.loads(text[2])
    entry["user"] = "someone-else"
    if rehash:
        entry["hash"] = entry_hash(entry)
    text[2] = json.dumps(entry, separators=(",", ":")) + "\n"


@pytest.mark.parametrize("change, message", [
    (_edited, "line 3: entry 3 was edited"),
    (lambda t: _edited(t, rehash=True), "line 4: entry 4 was inserted or moved (it does not follow entry 3)"),
    (lambda t: t.pop(2), "line 3: entry 3 was deleted before entry 4"),
    (lambda t: t.insert(2, t[1]), "line 3: entry 2 was inserted or moved (it does not follow entry 2)"),
    (lambda t: t.insert(3, t[3].replace('"user4"', '"user9"')), "line 4: entry 4 was edited"),
    (lambda t: t.__delitem__(slice(3, None)), "entries 4-5 were deleted from the end"),
    (lambda t: t.append("not json\n"), "line 6: not a log entry"),
])
def test_each_kind_of_tampering_is_named_in_one_line(unit, change, message):
    config, log = unit
    _tamper(log, change)
    proc = verify(config)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"{log.path}: {message}") and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_rewritten_log_is_caught_by_a_head_noted_earlier(unit, tmp_path):
    config, log = unit
    noted = f"5:{log.verify().head[:16]}"
    assert verify(config, "--head", noted).returncode == 0
    # Whoever can write both files can rebuild a consistent chain without entry 3 ...
    kept = [json.loads(line) for line in lines(log)]
    del kept[2]
    (tmp_path / "data" / LOG_NAME).unlink()
    (tmp_path / "data" / "access.head").unlink()
    for e in kept:
        log.record(e["event"], user=e["user"], purpose=e["purpose"], case=e["case"], what=e["what"])
    assert verify(config).returncode == 0
    # ... but not one that still holds the head noted before.
    proc = verify(config, "--head", noted)
    assert proc.returncode == 1 and "entry 5 noted earlier is missing" in proc.stderr


def test_appends_from_several_processes_keep_one_chain(tmp_path):
    script = ("import sys; from edge_agent.privacy.audit import AuditLog\n"
              "log = AuditLog(sys.argv[1])\n"
              "for i in range(40): log.record('query', user=sys.argv[2], purpose='p', what=str(i))\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), f"u{n}"]) for n in range(4)]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    verdict = AuditLog(tmp_path).verify()
    assert verdict.ok and verdict.entries == 160, verdict.problem


def test_log_and_head_are_private(unit, tmp_path):
    _, log = unit
    assert (log.path.stat().st_mode & 0o777) == 0o600
    assert (log.head_path.stat().st_mode & 0o777) == 0o600


def test_a_head_one_entry_behind_is_a_power_cut_not_tampering(unit):
    config, log = unit
    head = log.head_path.read_text()
    log.record("query", user="u6", purpose="investigation", what="plate X")
    log.head_path.write_text(head)  # as if the power went between the append and the head's update
    assert verify(config).returncode == 0
