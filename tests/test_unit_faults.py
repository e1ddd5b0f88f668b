"""Faults that used to brick a unit: a damaged or foreign key file, a file
root made that the agent cannot read, a second agent on the same data_dir,
and a data_dir pointed at a folder that is not the agent's own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from agent_configs import write_config
from edge_agent.privacy.audit import AuditLog
from edge_agent.config.retention import RetentionConfig
from edge_agent.privacy.datadir import InstanceLock, claim_data_dir
from edge_agent.errors import InputError
from edge_agent.privacy.keys import day_key_id
from edge_agent.privacy.store import Store
from test_store import add, make_hit

NOBODY = 65534


def test_a_foreign_file_as_todays_key_is_set_aside_and_hits_go_on(tmp_path):
    data = tmp_path / "data"
    store = Store(data, RetentionConfig(hit_days=30))
    try:
        now = datetime.now(timezone.utc)
        add(store, make_hit("BEFORE1", now, 1), "before")
        key = data / "keys" / f"{day_key_id(now)}.key"
        key.write_bytes(b"\xff\xd8\xff\xe0 a plate crop, not a key" * 40)  # as `crop --out` once wrote
        add(store, make_hit("AFTER22", now, 2), "after")
        hits = {h["alert_id"]: h["plate"] for h in store.hits()}
        assert hits == {"after": "AFTER22"}  # the hit sealed under the overwritten key is unreadable, not fatal
        assert [i.alert_id for i in store.pending()] == ["after"]
        assert store.keys.ids() == [day_key_id(now), f"{day_key_id(now)}-2"]
        assert day_key_id(now) in store.keys.problems
    finally:
        store.close()
    [entry] = [e for e in AuditLog(data).entries() if e["event"] == "key-set-aside"]
    assert "is not a key" in entry["what"] and "plate" not in entry["what"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a file the agent's user cannot read")
def test_a_key_root_made_is_an_alarm_not_a_crash(request):
    """The agent runs as a service user; root left a key it cannot read."""
    # Under /tmp itself: pytest's own folders are root's alone, closed to the service user.
    tmp_path = Path(tempfile.mkdtemp(prefix="edge-agent-root-key-"))
    request.addfinalizer(lambda: shutil.rmtree(tmp_path, ignore_errors=True))
    data = tmp_path / "data"
    store = Store(data, RetentionConfig(hit_days=30))
    now = datetime.now(timezone.utc)
    add(store, make_hit("ROOT123", now, 1), "r")
    store.close()
    os.chown(tmp_path, NOBODY, NOBODY)
    for path in [data, *data.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)
    os.chown(data / "keys" / f"{day_key_id(now)}.key", 0, 0)  # as a command run by root left it
    script = f"""
import os, sys
sys.path.insert(0, {str(os.getcwd())!r})
from datetime import datetime, timezone
from edge_agent.config.retention import RetentionConfig
from edge_agent.privacy.store import Store
sys.path.insert(0, "tests")
from test_store import add, make_hit
import json, sqlite3, cryptography.hazmat.primitives.ciphers.aead, sqlite_utils  # imported as root: the venv may be root's
os.setgid({NOBODY}); os.setuid({NOBODY})
store = Store({str(data)!r}, RetentionConfig(hit_days=30))
add(store, make_hit("NEXT456", datetime.now(timezone.utc), 2), "n")
print(sorted(h["plate"] for h in store.hits()), sorted(store.keys.problems))
store.purge(datetime(2099, 1, 1, tzinfo=timezone.utc))  # destroying the key it cannot open is no crash either
store.close()
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[0] == f"['NEXT456'] ['{day_key_id(now)}']"


def test_a_second_agent_on_the_same_data_dir_exits_2_naming_the_first(tmp_path):
    data = tmp_path / "data"
    claim_data_dir(data)
    config = write_config(tmp_path, source=tmp_path / "frames", port=1, hotlist="plate\n")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; sys.path.insert(0, '.'); from edge_agent.privacy.datadir import InstanceLock; "
        f"lock = InstanceLock({str(data)!r}); lock.acquire(); print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = subprocess.run([sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2
        assert proc.stderr.strip().splitlines()[-1] == (
            f"edge-agent: another edge-agent (pid {holder.pid}) is running on {data}; "
            "stop it first (systemctl stop edge-agent)")
    finally:
        holder.kill()
        holder.wait()
    # Killed, its lock is gone with it: no stale lock file blocks the next start.
    lock = InstanceLock(data)
    lock.acquire()
    lock.release()


def test_a_data_dir_holding_others_files_is_refused_and_left_as_it_was(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    (shared / "notes.txt").write_text("someone's files")
    os.chmod(shared, 0o755)
    with pytest.raises(InputError, match="holds files edge-agent did not make"):
        Store(shared, RetentionConfig())
    assert oct(shared.stat().st_mode & 0o777) == "0o755" and sorted(p.name for p in shared.iterdir()) == ["notes.txt"]
    # An empty folder (as systemd's StateDirectory= makes) is adopted, and so is an older agent's.
    empty = tmp_path / "empty"
    empty.mkdir()
    Store(empty, RetentionConfig()).close()
    assert oct(empty.stat().st_mode & 0o777) == "0o700"
    old = tmp_path / "old"
    old.mkdir()
    (old / "access.log").write_text("")
    (old / "status.json").write_text(json.dumps({}))
    Store(old, RetentionConfig()).close()


def test_a_killed_agent_leaves_no_lock_behind(tmp_path):
    data = tmp_path / "data"
    claim_data_dir(data)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; sys.path.insert(0, '.'); from edge_agent.privacy.datadir import InstanceLock; "
        f"InstanceLock({str(data)!r}).acquire(); print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    deadline = time.monotonic() + 5
    while True:
        try:
            InstanceLock(data).acquire()
            break
        except InputError:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_a_hot_list_lock_the_agent_cannot_open_is_an_alarm_not_a_silent_stop(tmp_path):
    from edge_agent.config.hotlist import HotlistConfig
    from edge_agent.transport.hotlist_signed import public_pem
    from edge_agent.transport.hotlist_sync import LOCK_NAME, HotlistSync
    from test_hotlist_sync import KEY, signed

    (tmp_path / "hotlist.pub").write_bytes(public_pem(KEY))
    sync = HotlistSync(HotlistConfig(public_key_file=str(tmp_path / "hotlist.pub")), tmp_path / "data")
    (tmp_path / "data" / LOCK_NAME).mkdir(parents=True)  # what no open() can take, root or not
    sync.on_message(signed(7))
    assert sync.signed_version is None
    assert sync.last_rejection.startswith("hot list from mqtt not taken: cannot lock")
    (tmp_path / "data" / LOCK_NAME).rmdir()
    sync.on_message(signed(7))  # as the broker offers it again at reconnect
    assert sync.signed_version == 7
