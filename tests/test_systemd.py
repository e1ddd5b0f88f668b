"""The agent as systemd runs it.

The unit file is scored and verified with the real systemd-analyze. Then the
agent runs as a real process, the way systemd starts it: $NOTIFY_SOCKET bound
by the test, $WATCHDOG_USEC, $JOURNAL_STREAM, a camera streaming on loopback.
The test plays systemd: it checks READY=1, watchdog keep-alives (and their
absence while a camera read hangs), SIGHUP reloads good and bad configs, and
SIGTERM stops it cleanly with the outbox kept and the database intact.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agent_configs import write_config
from datasets import HIGHWAY, HIGHWAY_PLATES, require
from edge_agent.commands.broker import free_port
from edge_agent.commands.loopstream import LoopStream, encode_clip
from edge_agent.service.sd_notify import Notifier

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "systemd" / "edge-agent.service"
LISTED = "8589BXT"
# Roomy enough for a frame on a loaded CI machine; the stalled read below blocks longer.
WATCHDOG_S = 3.0
STREAM_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 30.0  # the unit's TimeoutStopSec

needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                   reason="systemd-analyze missing: deploy/setup.sh --test installs systemd")


def unit_settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


# --- the unit file ---------------------------------------------------------------


@needs_analyze
def test_security_exposure_is_at_most_2() -> None:
    proc = subprocess.run(["systemd-analyze", "security", "--offline=true", str(UNIT)],
                          capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for edge-agent\.service: (\d+\.\d+)", proc.stdout)
    assert found, proc.stdout[-2000:] + proc.stderr
    assert float(found[1]) <= 2.0, proc.stdout


@needs_analyze
def test_unit_verifies_cleanly(tmp_path: Path) -> None:
    # verify checks that ExecStart= binaries exist; the unit names the installed
    # /opt path, so a copy points at this checkout's edge-agent instead.
    binary = Path(sys.executable).parent / "edge-agent"
    assert binary.exists()
    copy = tmp_path / "edge-agent.service"
    copy.write_text(UNIT.read_text().replace("/opt/edge-agent/venv/bin/edge-agent", str(binary)))
    proc = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr.strip() == "" and proc.stdout.strip() == "", proc.stderr


def test_unit_makes_a_supervised_hardened_service() -> None:
    s = unit_settings()
    assert s["Type"] == ["notify"] and s["Restart"] == ["on-failure"]
    assert float(s["WatchdogSec"][0]) >= 30 and float(s["TimeoutStopSec"][0]) == STOP_TIMEOUT_S
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["User"] == ["edge-agent"] and "DynamicUser" not in s
    assert s["ProtectSystem"] == ["strict"] and s["ReadWritePaths"] == ["/var/lib/edge-agent"]
    assert s["NoNewPrivileges"] == ["yes"] and s["CapabilityBoundingSet"] == [""]
    assert s["AmbientCapabilities"] == [""]
    assert s["DevicePolicy"] == ["closed"] and s["DeviceAllow"] == ["char-video4linux rw"]
    assert s["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
    assert s["MemoryMax"] and s["MemoryDenyWriteExecute"] == ["yes"]


def test_pipeline_runs_without_writable_executable_memory(tmp_path: Path) -> None:
    """MemoryDenyWriteExecute=yes must not break onnxruntime, OpenCV or numpy.

    The kernel's own equivalent (prctl PR_SET_MDWE, Linux 6.3+) is set in a
    child, which then reads a real photo through the whole reader.
    """
    require(HIGHWAY)
    import cv2

    cap = cv2.VideoCapture(str(HIGHWAY))
    frame = cap.read()[1]
    cap.release()
    photo = tmp_path / "road.png"
    cv2.imwrite(str(photo), frame)
    script = (
        "import ctypes, mmap, sys\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "if libc.prctl(65, 1, 0, 0, 0) != 0: sys.exit(77)\n"  # PR_SET_MDWE, REFUSE_EXEC_GAIN
        "try:\n mmap.mmap(-1, 4096, prot=7); sys.exit(78)\nexcept OSError: pass\n"
        "from edge_agent.commands.cli import main\n"
        f"sys.exit(main(['scan', '--jsonl', {str(photo)!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    if proc.returncode == 77:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert LISTED in proc.stdout


# --- sd_notify, against a real datagram socket ----------------------------------


def test_notifier_speaks_the_protocol(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(tmp_path / "notify"))
        server.settimeout(2)
        n = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "400000",
                      "WATCHDOG_PID": str(os.getpid())})
        n.ready("reading")
        n.ready("again")  # once only
        n.watchdog()  # rate-limited: half the interval has not passed since READY
        time.sleep(0.25)
        n.watchdog()
        n.watchdog()
        n.status("camera fault")
        n.status("camera fault")  # unchanged: not sent again
        n.stopping()
        got = []
        server.settimeout(0.3)
        try:
            while True:
                got.append(server.recv(4096).decode())
        except TimeoutError:
            pass
    assert got == ["READY=1\nSTATUS=reading", "WATCHDOG=1", "STATUS=camera fault", "STOPPING=1"]


def test_notifier_is_silent_outside_systemd() -> None:
    n = Notifier({})
    assert not n.enabled and n.send("READY=1") is False
    assert Notifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}).watchdog_seconds == 0  # not ours


# --- the agent as a service --------------------------------------------------------


class FakeSystemd:
    """The notify socket: every datagram with its arrival time."""

    def __init__(self, path: Path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.path = path
        self.messages: list[tuple[float, str]] = []
        self._closed = False
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._closed:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            for line in data.decode().splitlines():
                self.messages.append((time.monotonic(), line))

    def wait_for(self, pattern: str, after: float = 0.0, timeout: float = 60.0) -> float:
        """Arrival time of the first line at or after `after` that fully matches the regex."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, got in list(self.messages):
                if at >= after and re.fullmatch(pattern, got):
                    return at
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} within {timeout} s; got {[m for _, m in self.messages][-15:]}")

    def pings(self, start: float, end: float) -> list[float]:
        return [at for at, line in self.messages if line == "WATCHDOG=1" and start <= at <= end]

    def close(self) -> None:
        self._closed = True
        self.sock.close()


def edge_agent_status(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_agent", "status", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    """One agent process through start, a hung camera, two reloads and SIGTERM."""
    require(HIGHWAY)
    folder = tmp_path_factory.mktemp("service")
    stream = LoopStream(encode_clip(HIGHWAY, limit=30, quality=80), fps=8)
    # No broker listens on this port: every hit must wait in the outbox.
    config = write_config(folder, source=stream.url, port=free_port(),
                          hotlist=f"plate,category,ref\n{LISTED},stolen-vehicle,R-1\n")
    text = config.read_text().replace(
        f'source = "{stream.url}"',
        f'source = "{stream.url}"\nreconnect_min_seconds = 0.5\nreconnect_max_seconds = 1.0\n'
        f"stream_timeout_seconds = {STREAM_TIMEOUT_S}").replace("[mqtt]", "[mqtt]\nstatus_interval_seconds = 1")
    config.write_text(text)
    systemd = FakeSystemd(folder / "notify")
    env = {**os.environ, "NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": str(int(WATCHDOG_S * 1e6)),
           "JOURNAL_STREAM": "8:12345", "PYTHONUNBUFFERED": "1"}
    out, err = open(folder / "stdout", "w"), open(folder / "stderr", "w")
    proc = subprocess.Popen([sys.executable, "-m", "edge_agent", "--verbose", "run", "--config", str(config)],
                            stdout=out, stderr=err, env=env, cwd=ROOT)
    # The child's WATCHDOG_PID is unknown before it starts; without it the
    # agent takes WATCHDOG_USEC as its own, as sd_watchdog_enabled() does.
    record: dict = {"folder": folder, "proc": proc, "systemd": systemd}
    try:
        record["ready"] = systemd.wait_for("READY=1", timeout=120)
        t = time.monotonic()
        time.sleep(4)
        record["healthy"] = (t, time.monotonic())
        record["status_running"] = edge_agent_status(config)
        stream.stall()
        record["stalled"] = time.monotonic()
        fault = systemd.wait_for("STATUS=camera fault: .*", after=record["stalled"], timeout=30)
        # Resume only once the retry's backoff has had time to feed the
        # watchdog: resuming right on the fault raced the first ping.
        try:
            systemd.wait_for("WATCHDOG=1", after=fault, timeout=2 * WATCHDOG_S)
        except AssertionError:
            pass  # test_watchdog_is_fed_while_healthy_and_not_while_a_read_hangs says so
        stream.resume()
        record["resumed"] = time.monotonic()
        systemd.wait_for(r"STATUS=[\d.]+ fps.*", after=record["resumed"], timeout=30)

        (folder / "hotlist.csv").write_text(f"plate,category,ref\n{LISTED},stolen-vehicle,R-1\n"
                                            "1234XYZ,stolen-plate,R-2\n")
        t = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        systemd.wait_for("RELOADING=1", after=t, timeout=20)
        record["reloaded"] = systemd.wait_for("STATUS=config reloaded", after=t, timeout=20)

        config.write_text(text.replace("[hotlist]", "[hotlist]\nconfusion_tolerance = 7"))
        t = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        record["rejected"] = systemd.wait_for("STATUS=reload rejected.*", after=t, timeout=20)
        record["alive_after_reject"] = systemd.wait_for("WATCHDOG=1", after=record["rejected"], timeout=20)
        config.write_text(text)

        t = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        record["returncode"] = proc.wait(timeout=STOP_TIMEOUT_S)
        record["stop_seconds"] = time.monotonic() - t
        record["status_stopped"] = edge_agent_status(config)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out.close()
        err.close()
        stream.close()
        systemd.close()
    record["stdout"] = (folder / "stdout").read_text()
    record["stderr"] = (folder / "stderr").read_text()
    return record


def test_ready_once_the_camera_delivers(service) -> None:
    lines = [line for _, line in service["systemd"].messages]
    assert "READY=1" in lines and lines.index("READY=1") < lines.index("WATCHDOG=1")


def test_watchdog_is_fed_while_healthy_and_not_while_a_read_hangs(service) -> None:
    systemd = service["systemd"]
    start, end = service["healthy"]
    pings = [start] + systemd.pings(start, end) + [end]
    assert max(b - a for a, b in zip(pings, pings[1:])) < WATCHDOG_S
    # The stream stalls with its connection open: the read blocks for the 5 s
    # stream timeout, and nothing may pretend the agent is fine meanwhile.
    stalled = service["stalled"]
    pings = systemd.pings(stalled, service["resumed"])
    gaps = [b - a for a, b in zip([stalled] + pings, pings)]
    assert gaps and max(gaps) > WATCHDOG_S, "a hung camera read fed the watchdog"
    # Once the read gave up, the backoff feeds it again while the camera is retried.
    assert any(p > stalled + STREAM_TIMEOUT_S for p in pings)


def test_camera_fault_is_logged_and_reported(service) -> None:
    assert re.search(r"^<4>edge_agent\.vision\.capture: camera: http://127\.0\.0\.1:\d+/stream\.mjpg: read failed$",
                     service["stdout"], re.M)
    assert "delivering frames again" in service["stdout"]


def test_sighup_reloads_the_hot_list_and_keeps_the_old_config_when_the_new_one_is_bad(service) -> None:
    out = service["stdout"]
    assert re.search(r"reload: config .* and hot list applied \(2 live entries\)", out)
    assert "reload rejected" in out and "confusion_tolerance" in out
    assert service["alive_after_reject"], "the agent stopped working after a rejected reload"


def test_sigterm_stops_cleanly_keeping_the_outbox(service) -> None:
    assert service["returncode"] == 0, service["stderr"][-2000:]
    assert service["stop_seconds"] < STOP_TIMEOUT_S
    assert ("STOPPING=1") in [line for _, line in service["systemd"].messages]
    assert "Traceback" not in service["stdout"] + service["stderr"]
    databases = list((service["folder"] / "data").glob("*.db")) + list((service["folder"] / "data").glob("*.sqlite*"))
    databases = [p for p in databases if not p.name.endswith(("-wal", "-shm", "-journal"))]
    assert databases
    queued = 0
    for path in databases:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name LIKE '%outbox%'"):
                queued += db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        # Checkpointed on the way out: nothing is left only in the write-ahead log.
        wal = path.with_name(path.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0
    assert queued >= 1, "the hit made before SIGTERM must wait in the outbox"


def test_status_command_shows_the_live_service_then_says_it_stopped(service) -> None:
    running, stopped = service["status_running"], service["status_stopped"]
    assert running.returncode == 0, running.stderr
    assert running.stdout.startswith("edge-agent is running: status ")
    assert re.search(r"^  frames per second +\d", running.stdout, re.M)
    # A live camera: how far behind it the unit reads (the loopback camera's 8 fps, read at once).
    age = re.search(r"^  frame age +(\d+\.\d\d) s from the camera to its reads$", running.stdout, re.M)
    assert age and float(age.group(1)) < 5, running.stdout
    sent = re.search(r"^  camera sends +(\d+\.\d) frames a second$", running.stdout, re.M)
    assert sent and 5 <= float(sent.group(1)) <= 11, running.stdout  # it serves 8
    assert re.search(r"^  hot list +version .* 1 entries", running.stdout, re.M)
    assert stopped.returncode == 1 and stopped.stdout == ""
    assert stopped.stderr.startswith("edge-agent is not running") and len(stopped.stderr.splitlines()) == 1


def test_logs_go_to_the_journal_with_levels_and_no_non_hit_plates(service) -> None:
    out = service["stdout"]
    lines = [line for line in out.splitlines() if line]
    assert lines and all(re.match(r"<[0-7]>", line) for line in lines), lines[:5]
    assert {"<4>", "<6>", "<7>"} <= {line[:3] for line in lines}  # run at --verbose: DEBUG included
    assert re.search(r"^<6>edge_agent\.service\.agent: hit [0-9a-f-]{36}: stolen-vehicle R-1", out, re.M)  # hits are
    for plate in HIGHWAY_PLATES:
        if plate != LISTED:
            assert plate not in out + service["stderr"], f"non-hit {plate} reached the log"


def test_a_fatal_error_reaches_the_journal_as_an_error(tmp_path: Path) -> None:
    env = {**os.environ, "JOURNAL_STREAM": "8:12345"}
    proc = subprocess.run([sys.executable, "-m", "edge_agent", "run", "--config", str(tmp_path / "none.toml")],
                          capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr == f"<3>{tmp_path / 'none.toml'}:1: file: no such file\n"
