"""A private Mosquitto broker on a free loopback port, for the demo and tests.

The unit itself never runs a broker; central servers do. This starts the
Debian `mosquitto` binary with a throw-away config bound to 127.0.0.1 only.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .errors import AgentError

_CANDIDATES = ("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def find_mosquitto() -> str:
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise AgentError("mosquitto is not installed; run deploy/setup.sh (or: apt-get install mosquitto)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalBroker:
    """`with LocalBroker() as b:` -> a running broker at b.host:b.port."""

    host = "127.0.0.1"

    def __init__(self, port: int | None = None, workdir: str | Path | None = None, extra_conf: str = ""):
        self.binary = find_mosquitto()
        self.port = port or free_port()
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="edge-agent-broker-")
        self.workdir = Path(workdir or self._tmp.name)
        self.conf = self.workdir / "mosquitto.conf"
        self.log = self.workdir / "mosquitto.log"
        self.conf.write_text(
            f"listener {self.port} {self.host}\n"
            "allow_anonymous true\n"
            "persistence false\n"
            # Run as root, mosquitto would switch to its own user and could
            # then not write its log in our private folder.
            f"user {getpass.getuser()}\n"
            f"log_dest file {self.log}\n"
            f"{extra_conf}"
        )
        self._proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> "LocalBroker":
        self._proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise AgentError(f"mosquitto exited at start (code {self._proc.returncode}); see {self.log}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AgentError(f"mosquitto did not listen on {self.host}:{self.port} within {timeout:.0f} s")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> "LocalBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
