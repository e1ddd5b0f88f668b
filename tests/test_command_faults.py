"""Technicians' commands never damage the unit (issue 27): an output path
never lands in data_dir, never follows a symlink, never keeps an old file's
mode; and a command run as root beside the service runs as the owner of
data_dir, so it leaves no file there that the service cannot open.

Each is a real CLI run on a real store; the owner switch runs in a forked
child, because a process that gives up root cannot take it back.
"""

from __future__ import annotations

import getpass
import os
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from agent_configs import write_config
from test_store import add, make_hit

# The forked child may run as `nobody`, who cannot read this interpreter's
# library: everything the commands import later is imported here first.
import edge_agent.privacy.access
import edge_agent.privacy.audit
import edge_agent.commands.cli
import edge_agent.commands.cli_hotlist
import edge_agent.privacy.data_owner
import edge_agent.commands.cli_policy
import edge_agent.errors
import edge_agent.transport.hotlist_sync
from edge_agent.privacy.audit import AuditLog
from edge_agent.privacy.data_owner import run_as_data_owner
from edge_agent.config.retention import RetentionConfig
from edge_agent.privacy.store import Store

edge_agent.commands.cli.build_parser()  # imports every command module
datetime.strptime("2026-01-01", "%Y-%m-%d")  # imports _strptime

WHO = ("--user", "Det. Kim", "--purpose", "Investigation")
NOBODY = 65534
INSIDE = "which only the agent writes"


def edge_agent_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_agent", *args], capture_output=True, text=True, timeout=60,
                          check=False)


def make_unit(folder: Path) -> tuple[Path, Path, bytes]:
    """A config and a store holding one hit from yesterday: (config, data_dir, its crop)."""
    config = write_config(folder, source=folder / "frames", port=1883, hotlist="plate\n")
    store = Store(folder / "data", RetentionConfig(hit_days=30))
    crop = add(store, make_hit("7ABC123", datetime.now(UTC) - timedelta(days=1), 1), "fresh")
    store.close()
    return config, folder / "data", crop


@pytest.fixture
def unit(tmp_path):
    config, data, crop = make_unit(tmp_path)
    return config, data, AuditLog(data), crop


def crop_cmd(config: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return edge_agent_cli("crop", "--config", str(config), *WHO, "--out", str(out), *extra, "fresh")


def export_cmd(config: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return edge_agent_cli("export", "--config", str(config), *WHO, "--case", "C-7", "--out", str(out), *extra, "fresh")


def error(proc: subprocess.CompletedProcess) -> str:
    """The command's own error line; a warning the store may log beside it (say, an unsynchronised clock) is not."""
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("edge-agent")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def last(log: AuditLog) -> dict:
    return list(log.entries())[-1]


def a_key(data: Path) -> Path:
    keys = sorted(p for p in (data / "keys").iterdir() if p.is_file())
    assert keys, "the store made no key file"
    return keys[0]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


# --- 1. nothing is written into data_dir ------------------------------------------


def test_crop_onto_the_days_key_is_refused_recorded_and_the_key_unchanged(unit, tmp_path):
    config, data, log, crop = unit
    key = a_key(data)
    before = (key.read_bytes(), key.stat().st_mtime_ns)
    for out in (key, tmp_path / "elsewhere" / ".." / "data" / "keys" / key.name, data / "view.jpg"):
        for extra in ((), ("--overwrite",)):
            proc = crop_cmd(config, out, *extra)
            reason = f"--out {out} is inside data_dir {data}, {INSIDE}"
            assert (proc.returncode, proc.stdout) == (2, "")
            assert error(proc) == f"edge-agent: crop refused: {reason}"
            entry = last(log)
            assert (entry["event"], entry["user"], entry["what"]) == ("refused", "Det. Kim", f"crop hit fresh: {reason}")
    assert (key.read_bytes(), key.stat().st_mtime_ns) == before
    assert not (data / "view.jpg").exists()
    # The key still opens the hit: a crop to a proper place is the crop.
    assert crop_cmd(config, tmp_path / "ok.jpg").returncode == 0
    assert (tmp_path / "ok.jpg").read_bytes() == crop


def test_out_through_a_symlink_into_data_dir_is_refused(unit, tmp_path):
    config, data, log, _ = unit
    key = a_key(data)
    before = key.read_bytes()
    (tmp_path / "shortcut").symlink_to(data / "keys")
    (tmp_path / "view.jpg").symlink_to(key)
    for out in (tmp_path / "shortcut" / key.name, tmp_path / "view.jpg", tmp_path / "shortcut" / "new.jpg"):
        proc = crop_cmd(config, out, "--overwrite")
        assert proc.returncode == 2 and INSIDE in error(proc)
        assert last(log)["event"] == "refused"
    assert key.read_bytes() == before and (tmp_path / "view.jpg").is_symlink()
    assert not (data / "keys" / "new.jpg").exists()

    (tmp_path / "d").symlink_to(data)
    proc = export_cmd(config, tmp_path / "d" / "case-7")
    assert proc.returncode == 2 and f"export refused: --out {tmp_path / 'd' / 'case-7'} is inside data_dir" in error(proc)
    assert last(log)["event"] == "refused" and not (data / "case-7").exists()


def test_aim_will_not_write_its_picture_into_data_dir(unit):
    config, data, _, _ = unit
    out = data / "keys" / "aim.jpg"
    proc = edge_agent_cli("aim", "--config", str(config), "--out", str(out))
    assert proc.returncode == 2 and error(proc) == f"edge-agent: --out {out}: inside data_dir {data}, {INSIDE}"
    assert not out.exists()


# --- 2. no symlink followed, no old mode kept ---------------------------------------


def test_an_existing_symlink_at_out_is_refused_or_replaced_never_followed(unit, tmp_path):
    config, _, log, crop = unit
    precious = tmp_path / "notes.txt"
    precious.write_text("precious")
    link, dangling = tmp_path / "crop.jpg", tmp_path / "dangling.jpg"
    link.symlink_to(precious)
    dangling.symlink_to(tmp_path / "nowhere.jpg")
    for out in (link, dangling):
        proc = crop_cmd(config, out)
        assert proc.returncode == 2
        assert error(proc) == f"edge-agent: crop: {out} already exists; add --overwrite to replace it"
    # Refused before the view was recorded: nothing was viewed.
    assert all(e["event"] != "crop-view" for e in log.entries())

    for out in (link, dangling):
        proc = crop_cmd(config, out, "--overwrite")
        assert proc.returncode == 0, proc.stderr
        assert not out.is_symlink() and out.read_bytes() == crop and mode(out) == 0o600
    assert precious.read_text() == "precious" and not (tmp_path / "nowhere.jpg").exists()
    assert last(log)["what"] == f"crop of hit fresh to {dangling}"


def test_an_existing_world_readable_file_is_kept_or_replaced_by_a_new_0600_file(unit, tmp_path):
    config, _, _, crop = unit
    out, other_name = tmp_path / "crop.jpg", tmp_path / "same-file.jpg"
    out.write_bytes(b"an earlier picture")
    out.chmod(0o644)
    os.link(out, other_name)  # a second name of the old file must not receive the crop
    proc = crop_cmd(config, out)
    assert proc.returncode == 2 and out.read_bytes() == b"an earlier picture"

    assert crop_cmd(config, out, "--overwrite").returncode == 0
    assert out.read_bytes() == crop and mode(out) == 0o600
    assert other_name.read_bytes() == b"an earlier picture" and mode(other_name) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


def test_export_folder_is_new_0700_never_a_symlink_and_never_silently_rewritten(unit, tmp_path):
    config, _, log, crop = unit
    real, case = tmp_path / "real", tmp_path / "case"
    real.mkdir()
    case.symlink_to(real)
    proc = export_cmd(config, case)
    assert proc.returncode == 2 and error(proc) == f"edge-agent: --out {case} is a symlink; name the folder itself"
    assert list(real.iterdir()) == []

    out = tmp_path / "cases" / "C-7"
    assert export_cmd(config, out).returncode == 0
    assert mode(out) == 0o700
    assert {p.name: mode(p) for p in out.iterdir()} == {"fresh.json": 0o600, "fresh.jpg": 0o600}
    assert (out / "fresh.jpg").read_bytes() == crop

    (out / "fresh.jpg").write_bytes(b"handed over")
    exports = sum(e["event"] == "export" for e in log.entries())
    proc = export_cmd(config, out)
    assert proc.returncode == 2
    assert error(proc) == f"edge-agent: export: {out / 'fresh.json'} already exists; add --overwrite to replace it"
    assert (out / "fresh.jpg").read_bytes() == b"handed over"
    assert sum(e["event"] == "export" for e in log.entries()) == exports  # refused: no export recorded
    assert export_cmd(config, out, "--overwrite").returncode == 0
    assert (out / "fresh.jpg").read_bytes() == crop and mode(out / "fresh.jpg") == 0o600


# --- 3. run as the owner of data_dir ------------------------------------------------


@pytest.fixture
def open_unit():
    """A unit in a folder that `nobody` may enter (pytest's own tmp folder is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="edge-agent-owner-", dir="/tmp"))
    folder.chmod(0o755)
    try:
        config, data, _ = make_unit(folder)
        for path in (config, folder / "hotlist.csv"):
            path.chmod(0o644)
        yield folder, config, data
    finally:
        shutil.rmtree(folder)


def in_child(folder: Path, body) -> tuple[int, str, str]:
    """Run body() in a forked child; its exit code, stdout and stderr."""
    out, err = folder / "child.out", folder / "child.err"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's own report is what the parent checks
        code = 70
        try:
            with open(out, "w") as sys.stdout, open(err, "w") as sys.stderr:
                try:
                    code = body()
                except BaseException:  # noqa: BLE001 - shown to the parent, never raised in a forked pytest
                    traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.read_text(), err.read_text()


def commands(config: Path, folder: Path) -> list[list[str]]:
    """Every command that opens the store or writes into data_dir."""
    cfg = ["--config", str(config)]
    until = (datetime.now(UTC) + timedelta(days=90)).date().isoformat()
    return [["query", *cfg, *WHO, "7ABC123"],
            ["export", *cfg, *WHO, "--case", "C-7", "--out", str(folder / "case"), "fresh"],
            ["crop", *cfg, *WHO, "--out", str(folder / "crop.jpg"), "fresh"],
            ["hold", *cfg, *WHO, "--case", "C-9", "--approver", "Lt. Ruiz", "--until", until, "fresh"],
            ["audit", "verify", *cfg], ["audit", "report", *cfg],
            ["hotlist", "import", *cfg, str(folder / "list.signed")],
            ["run", *cfg]]


def snapshot(data: Path) -> dict[str, tuple[int, int, int]]:
    return {str(p.relative_to(data)): (p.stat().st_uid, p.stat().st_size, p.stat().st_mtime_ns)
            for p in data.rglob("*")}


def test_not_the_owner_and_not_root_is_refused_with_the_command_to_run(open_unit):
    folder, config, data = open_unit
    if os.geteuid() != 0:
        # Without root no folder can be given away: a root-owned one stands in for the service's.
        with pytest.raises(edge_agent.errors.InputError) as info:
            run_as_data_owner("/", ["query", "X"])
        assert str(info.value) == "data_dir / belongs to 'root'; run as: sudo edge-agent query X"
        return
    before = snapshot(data)
    for argv in commands(config, folder):
        def as_nobody(argv=argv) -> int:
            os.setgid(NOBODY)
            os.setgroups([])
            os.setuid(NOBODY)
            return edge_agent.commands.cli.main(argv)

        code, out, err = in_child(folder, as_nobody)
        assert (code, out) == (2, ""), (argv, err)
        assert err == f"edge-agent: data_dir {data} belongs to 'root'; run as: sudo edge-agent {shlex.join(argv)}\n"
    assert snapshot(data) == before  # nothing opened, nothing written


def test_a_data_dir_not_there_yet_needs_no_owner(tmp_path):
    euid = os.geteuid()
    run_as_data_owner(tmp_path / "absent", ["query", "X"])
    assert os.geteuid() == euid


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to the owner needs root")
@pytest.mark.parametrize("sudo_user", ["tech-ana", None])
def test_root_becomes_the_owner_and_leaves_only_the_owners_files(open_unit, sudo_user):
    folder, config, data = open_unit
    for path in [data, *data.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)
    hold = commands(config, folder)[3]
    ran_by = sudo_user or getpass.getuser()

    def as_root() -> int:
        os.environ.pop("SUDO_USER", None)
        if sudo_user:
            os.environ["SUDO_USER"] = sudo_user
        code = edge_agent.commands.cli.main(hold)
        print(os.getuid(), os.geteuid(), os.getgid(), os.getegid())
        return code

    code, out, err = in_child(folder, as_root)
    assert code == 0, err
    assert out.splitlines()[-1] == f"{NOBODY} {NOBODY} {NOBODY} {NOBODY}"
    assert "hold 1: hit fresh kept until" in out
    # The hold made a key of its own and appended to the access log: all the owner's.
    owners = {str(p.relative_to(data)): p.stat().st_uid for p in [data, *data.rglob("*")]}
    assert set(owners.values()) == {NOBODY}, owners
    entry = last(AuditLog(data))
    assert (entry["event"], entry["login"]) == ("hold", ran_by)
