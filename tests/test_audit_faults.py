"""The access log under faults a unit meets: a power cut or a full card mid-append,
a log deleted beside the store it accounts for, a log that cannot be read.

Each fault is made for real in tmp_path: bytes cut as a power cut leaves
them, a file-size limit that makes os.write short, /dev/full, a FIFO.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from agent_configs import write_config

from edge_agent.privacy import audit, keys, store
from edge_agent.privacy.audit import LOG_NAME, AuditLog, report
from edge_agent.config.retention import RetentionConfig
from edge_agent.errors import AgentError

ROOT = Path(__file__).resolve().parents[1]
SECRET = "8SECRET8"  # the search term of the entry a power cut tore


def edge_agent(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_agent", *args], check=False, capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


def logged(folder: Path, n: int = 3) -> AuditLog:
    log = AuditLog(folder)
    for i in range(1, n + 1):
        log.record("query", user=f"user{i}", purpose="investigation", case=f"C-{i}", what=f"plate 7ABC12{i}")
    return log


def next_line(log: AuditLog, what: str = f"plate {SECRET}: 0 hit(s)") -> bytes:
    """The line the next append would have written, as bytes."""
    last = list(log.entries())[-1]
    entry = {"seq": last["seq"] + 1, "at": "2025-06-01T12:00:00.000Z", "event": "query", "user": "Det. Kim",
             "login": "root", "purpose": "investigation", "case": "", "what": what, "prev": last["hash"]}
    entry["hash"] = audit.entry_hash(entry)
    return (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def side_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"{LOG_NAME}.torn-*"))


def cut_in_a_character(log: AuditLog) -> bytes:
    line = next_line(log, what=f"plate {SECRET} (Ä)")
    return line[:line.index("Ä".encode()) + 1]  # the first byte of a two-byte character


TORN_TAILS = {
    "half a line": lambda log: next_line(log)[:150],
    "all but the line end": lambda log: next_line(log)[:-1],
    "a block of zeros": lambda log: b"\0" * 512,
    "zeros ending a line": lambda log: b"\0" * 100 + b"\n",
    "cut inside a character": cut_in_a_character,
}


@pytest.mark.parametrize("tail", TORN_TAILS.values(), ids=TORN_TAILS.keys())
def test_a_torn_last_line_is_set_aside_and_recorded_and_the_chain_goes_on(tmp_path, tail):
    log = logged(tmp_path)
    good = log.path.read_bytes()
    torn = tail(log)
    with open(log.path, "ab") as f:
        f.write(torn)
    before = log.verify()
    assert not before.ok and before.problem.startswith("line 4: ") and "sets it aside" in before.problem

    entry = log.record("query", user="Det. Kim", purpose="investigation", what="plate 9NEXT99: 0 hit(s)")

    assert entry["seq"] == 5
    [side] = side_files(tmp_path)
    assert side.read_bytes() == torn and (side.stat().st_mode & 0o777) == 0o600
    text = log.path.read_bytes()
    assert text.startswith(good) and SECRET.encode() not in text
    verdict = log.verify()
    assert verdict.ok and verdict.entries == 5 and verdict.torn == 1, verdict.problem
    marker = list(log.entries())[3]
    assert (marker["event"], marker["user"]) == ("torn-tail", audit.SYSTEM_USER)
    assert f"set aside {len(torn)} bytes" in marker["what"] and side.name in marker["what"]
    assert json.loads(log.head_path.read_text())["seq"] == 5
    summary = report(log)
    assert "Unfinished log ends set aside (a write cut short): 1" in summary and side.name in summary
    assert "intact" in summary and SECRET not in summary


def test_a_torn_line_after_a_head_left_one_behind_is_still_repaired(tmp_path):
    log = logged(tmp_path)
    head = log.head_path.read_text()
    log.record("query", user="u4", purpose="investigation", what="plate X")
    log.head_path.write_text(head)  # the power went after the append, before the head moved ...
    with open(log.path, "ab") as f:
        f.write(next_line(log)[:90])  # ... and again mid-way through the next append
    log.record("purge", user=audit.SYSTEM_USER, what="at start")
    verdict = log.verify()
    assert verdict.ok and verdict.entries == 6 and verdict.torn == 1, verdict.problem


def test_a_torn_line_in_the_middle_is_tampering_not_a_tail(tmp_path):
    log = logged(tmp_path)
    lines = log.path.read_bytes().splitlines(keepends=True)
    lines.insert(2, next_line(log)[:120] + b"\n")
    log.path.write_bytes(b"".join(lines))
    log.record("query", user="u4", purpose="investigation", what="plate Y")
    verdict = log.verify()
    assert not verdict.ok and verdict.problem == "line 3: not a log entry (edited or damaged)"
    assert side_files(tmp_path) == []  # only a tail is set aside


def test_appends_from_several_processes_repair_a_torn_tail_once(tmp_path):
    log = logged(tmp_path)
    with open(log.path, "ab") as f:
        f.write(next_line(log)[:100])
    script = ("import sys; from edge_agent.privacy.audit import AuditLog\n"
              "log = AuditLog(sys.argv[1])\n"
              "for i in range(10): log.record('query', user=sys.argv[2], purpose='p', what=str(i))\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), f"u{n}"], cwd=ROOT) for n in range(4)]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    verdict = log.verify()
    assert verdict.ok and verdict.entries == 3 + 1 + 40 and verdict.torn == 1, verdict.problem
    assert len(side_files(tmp_path)) == 1


# A file-size limit makes the kernel write only up to it (a short write), then
# refuse (EFBIG): the same as a card filling up mid-line, without a small disk.
LIMITED = """\
import os, resource, signal, sys
from edge_agent.privacy.audit import AuditLog
from edge_agent.errors import AgentError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
log = AuditLog(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    log.record("query", user="Det. Kim", purpose="investigation", what="plate 5LIMIT5: 0 hit(s)")
except AgentError as exc:
    print(exc)
    sys.exit(3)
"""


def limited_record(folder: Path, limit: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", LIMITED, str(folder), str(limit)], check=False, capture_output=True,
                          text=True, timeout=60, cwd=ROOT)


@pytest.mark.parametrize("room, message", [(40, "No space left on device (a short write, 40 of "),
                                           (0, "File too large")])
def test_a_write_cut_short_leaves_no_partial_line_and_the_next_one_works(tmp_path, room, message):
    log = logged(tmp_path)
    good, head = log.path.read_bytes(), log.head_path.read_bytes()
    proc = limited_record(tmp_path, len(good) + room)
    assert proc.returncode == 3 and proc.stdout.startswith(f"cannot write the access log {log.path}: {message}")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert log.path.read_bytes() == good and log.head_path.read_bytes() == head
    log.record("query", user="u4", purpose="investigation", what="plate Z")
    verdict = log.verify()
    assert verdict.ok and verdict.entries == 4 and verdict.torn == 0, verdict.problem
    assert side_files(tmp_path) == []


def test_a_tail_set_aside_whose_entry_did_not_fit_is_recorded_by_the_next_append(tmp_path):
    log = logged(tmp_path)
    torn = next_line(log)[:100]
    with open(log.path, "ab") as f:
        f.write(torn)
    size = log.path.stat().st_size
    # Room for the side file, not for the torn-tail entry after the cut.
    proc = limited_record(tmp_path, size)
    assert proc.returncode == 3 and "No space left on device" in proc.stdout, proc.stdout + proc.stderr
    [pending] = side_files(tmp_path)
    assert pending.name.endswith(".pending") and pending.read_bytes() == torn
    assert log.path.stat().st_size == size - len(torn)

    log.record("purge", user=audit.SYSTEM_USER, what="at start")
    [side] = side_files(tmp_path)
    assert side.name == pending.name.removesuffix(".pending") and side.read_bytes() == torn
    verdict = log.verify()
    assert verdict.ok and verdict.entries == 5 and verdict.torn == 1, verdict.problem
    assert [e["event"] for e in log.entries()][3:] == ["torn-tail", "purge"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_an_agent_error(tmp_path):
    (tmp_path / LOG_NAME).symlink_to("/dev/full")  # every write: ENOSPC
    with pytest.raises(AgentError, match="No space left on device"):
        AuditLog(tmp_path).record("purge", user=audit.SYSTEM_USER)
    assert not (tmp_path / audit.HEAD_NAME).exists()


def test_store_and_key_names_match_what_the_witness_looks_for():
    assert (audit.STORE_NAME, audit.KEY_DIR) == (store.DB_NAME, keys.KEY_DIR)


def _make_store(data: Path) -> None:
    store.Store(data, RetentionConfig()).close()


def _make_key(data: Path) -> None:
    (data / keys.KEY_DIR).mkdir(mode=0o700, parents=True)
    (data / keys.KEY_DIR / "day-2025-06-01.key").write_bytes(os.urandom(32))


@pytest.mark.parametrize("make, witness", [(_make_store, "the store edge-agent.db"),
                                           (_make_key, "key files in keys/")])
def test_a_log_deleted_with_its_head_beside_a_store_is_broken(tmp_path, make, witness):
    data = tmp_path / "data"
    make(data)
    log = logged(data)
    log.path.unlink()
    log.head_path.unlink()
    verdict = log.verify()
    assert not verdict.ok and verdict.entries == 0
    assert verdict.problem == f"access.log is missing but {witness} exists beside it: the log was deleted"
    log.path.write_bytes(b"")
    assert log.verify().problem.startswith("access.log is empty but ")


def test_a_fresh_folder_verifies_with_no_entries_and_takes_a_first_one(tmp_path):
    log = AuditLog(tmp_path / "new")
    assert log.verify() == audit.Verdict(True, 0, audit.GENESIS)
    log.record("config", user=audit.SYSTEM_USER, what="first start")
    verdict = log.verify()
    assert verdict.ok and verdict.entries == 1


def test_cli_verify_of_a_deleted_log_is_one_line_and_fails(tmp_path):
    config = write_config(tmp_path, source=tmp_path / "frames", port=1883, hotlist="plate\n")
    data = tmp_path / "data"
    _make_store(data)
    log = logged(data)
    assert edge_agent("audit", "verify", "--config", str(config)).returncode == 0
    log.path.unlink()
    log.head_path.unlink()
    proc = edge_agent("audit", "verify", "--config", str(config))
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == f"{log.path}: access.log is missing but the store edge-agent.db exists beside it: " \
                          "the log was deleted\n"


def test_cli_verify_after_a_torn_tail_is_repaired_is_intact(tmp_path):
    config = write_config(tmp_path, source=tmp_path / "frames", port=1883, hotlist="plate\n")
    log = logged(tmp_path / "data")
    with open(log.path, "ab") as f:
        f.write(next_line(log)[:77])
    proc = edge_agent("audit", "verify", "--config", str(config))
    assert proc.returncode == 1 and "line 4: an unfinished entry" in proc.stderr and proc.stderr.count("\n") == 1
    log.record("purge", user=audit.SYSTEM_USER, what="at start")
    proc = edge_agent("audit", "verify", "--config", str(config))
    assert proc.returncode == 0 and "intact, 5 entries" in proc.stdout, proc.stderr


def test_a_log_that_cannot_be_read_is_an_agent_error_not_a_traceback(tmp_path):
    # A FIFO opens for writing but cannot be read back (seek fails); a folder
    # opens for reading but read() fails: both are the read path, as a file
    # another account owns would be.
    fifo, folder = tmp_path / "fifo", tmp_path / "folder"
    fifo.mkdir()
    os.mkfifo(fifo / LOG_NAME, 0o600)
    with pytest.raises(AgentError, match=f"cannot write the access log {fifo / LOG_NAME}: Illegal seek"):
        AuditLog(fifo).record("purge", user=audit.SYSTEM_USER)
    (folder / LOG_NAME).mkdir(parents=True)
    with pytest.raises(AgentError, match=f"cannot read the access log {folder / LOG_NAME}: Is a directory"):
        AuditLog(folder).verify()
    with pytest.raises(AgentError, match="Is a directory"):
        AuditLog(folder).record("purge", user=audit.SYSTEM_USER)
    config = write_config(tmp_path, source=tmp_path / "frames", port=1883, hotlist="plate\n")
    (tmp_path / "data" / LOG_NAME).mkdir(parents=True)
    proc = edge_agent("audit", "verify", "--config", str(config))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "cannot read the access log" in proc.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a mode-000 file")
def test_a_log_without_permission_is_an_agent_error(tmp_path):
    log = logged(tmp_path)
    log.path.chmod(0)
    with pytest.raises(AgentError, match="Permission denied"):
        log.record("purge", user=audit.SYSTEM_USER)
    with pytest.raises(AgentError, match="Permission denied"):
        log.verify()


def test_a_search_term_with_a_line_separator_keeps_the_chain(tmp_path):
    # U+2028 is a line end to str.splitlines(), not to the log's format.
    log = logged(tmp_path)
    log.record("query", user="Det. Kim", purpose="investigation", what="plate 7ABC\u2028123: 0 hit(s)")
    log.record("query", user="Det. Kim", purpose="investigation", what="plate X")
    verdict = log.verify()
    assert verdict.ok and verdict.entries == 5, verdict.problem
