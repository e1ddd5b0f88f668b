"""deploy/install.sh, run for real against a temporary root (--prefix): the
layout, the modes, a real virtual environment with a working edge-agent, the
unit verified by systemd-analyze, a second run that keeps the technician's
config and the data, and --uninstall destroying everything. What needs
systemd as PID 1 (useradd, systemctl enable) is skipped under --prefix."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INSTALL = ROOT / "deploy" / "install.sh"
SECRET = b"hit-store-key-material-0123456789"


def install(*args: str, user: str | None = None) -> subprocess.CompletedProcess:
    cmd = ["bash", str(INSTALL), *args]
    if user:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("root")
    first = install("--prefix", str(root))
    assert first.returncode == 0, first.stderr[-3000:]
    return root, first


def test_layout_and_modes(staged) -> None:
    root, first = staged
    etc, data = root / "etc" / "edge-agent", root / "var" / "lib" / "edge-agent"
    assert mode(etc) == 0o750
    assert mode(etc / "agent.toml") == 0o640 and mode(etc / "hotlist.csv") == 0o640
    assert mode(etc / "secrets") == 0o700 and mode(etc / "secrets" / "mqtt-password") == 0o600
    assert mode(data) == 0o700
    assert (etc / "agent.toml").read_text() == (ROOT / "deploy" / "agent.example.toml").read_text()
    unit = root / "etc" / "systemd" / "system" / "edge-agent.service"
    assert unit.read_text() == (ROOT / "systemd" / "edge-agent.service").read_text()
    assert mode(unit) == 0o644
    assert (root / "opt" / "edge-agent" / "README.md").is_file()
    assert "systemd not touched" in first.stdout


def test_the_installed_program_runs(staged) -> None:
    root, _ = staged
    program = root / "opt" / "edge-agent" / "venv" / "bin" / "edge-agent"
    proc = subprocess.run([str(program), "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("edge-agent "), proc.stderr
    # The example config names files a unit provides (CA, hot list path): check-config says which.
    proc = subprocess.run([str(program), "check-config", str(root / "etc/edge-agent/agent.toml")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_the_installed_unit_verifies(staged, tmp_path: Path) -> None:
    root, _ = staged
    unit = (root / "etc/systemd/system/edge-agent.service").read_text()
    copy = tmp_path / "edge-agent.service"
    copy.write_text(unit.replace("/opt/edge-agent", str(root / "opt" / "edge-agent")))
    proc = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr


def test_second_run_keeps_config_secrets_and_data_then_uninstall_destroys_them(staged) -> None:
    root, _ = staged
    etc, data = root / "etc" / "edge-agent", root / "var" / "lib" / "edge-agent"
    config = etc / "agent.toml"
    config.write_text(config.read_text() + "\n# site 14, pole B\n")
    (etc / "secrets" / "mqtt-password").write_bytes(b"s3cret\n")
    (data / "keys").mkdir()
    (data / "keys" / "day-key").write_bytes(SECRET)
    # A second name for the key's inode, outside the data folder: it shows what
    # happened to the bytes themselves, not just to the name.
    witness = root / "witness"
    os.link(data / "keys" / "day-key", witness)

    again = install("--prefix", str(root))
    assert again.returncode == 0, again.stderr[-3000:]
    assert config.read_text().endswith("# site 14, pole B\n")
    assert (etc / "secrets" / "mqtt-password").read_bytes() == b"s3cret\n"
    assert (data / "keys" / "day-key").read_bytes() == SECRET
    assert mode(config) == 0o640 and mode(data) == 0o700

    gone = install("--prefix", str(root), "--uninstall")
    assert gone.returncode == 0, gone.stderr
    for path in (etc, data, root / "opt" / "edge-agent", root / "etc/systemd/system/edge-agent.service"):
        assert not path.exists(), path
    assert SECRET not in witness.read_bytes(), "the key was unlinked but its bytes were not overwritten"
    # Safe to run twice.
    assert install("--prefix", str(root), "--uninstall").returncode == 0


def test_refuses_without_root_or_prefix_and_bad_options() -> None:
    proc = install("--bogus")
    assert proc.returncode == 2 and "unknown option: --bogus" in proc.stderr
    if os.geteuid() == 0 and shutil.which("setpriv"):
        proc = install(user="65534")
        assert proc.returncode == 2 and "run as root" in proc.stderr, proc.stderr
