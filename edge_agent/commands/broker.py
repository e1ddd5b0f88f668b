"""A private Mosquitto broker on a free loopback port, for the demo and tests.

The unit itself never runs a broker; central servers do. This starts the
Debian `mosquitto` binary with a throw-away config bound to 127.0.0.1 only.
It can be stopped, paused, killed and restarted on the same port, which is
how the tests play a broker outage. For the transport tests it can listen
with TLS (optionally requiring client certificates, whose common name then
is the user an ACL names), and keep sessions across restarts (persistence),
as a central broker does for subscribers with persistent sessions.
"""

from __future__ import annotations

import getpass
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import AgentError

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


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class BrokerTls:
    """The listener's TLS files; with require_certificate, clients must present one signed by ca_file."""

    ca_file: str
    cert_file: str
    key_file: str
    require_certificate: bool = False

    def conf(self) -> str:
        text = f"cafile {self.ca_file}\ncertfile {self.cert_file}\nkeyfile {self.key_file}\ntls_version tlsv1.2\n"
        if self.require_certificate:
            # The certificate's CN becomes the user name the ACL file speaks of.
            text += "require_certificate true\nuse_identity_as_username true\n"
        return text


class LocalBroker:
    """`with LocalBroker() as b:` -> a running broker at b.host:b.port."""

    host = "127.0.0.1"

    def __init__(self, port: int | None = None, workdir: str | Path | None = None, extra_conf: str = "", *,
                 tls: BrokerTls | None = None, persistent: bool = False, allow_anonymous: bool = True,
                 acl_file: str = "", password_file: str = ""):
        self.binary = find_mosquitto()
        self.port = port or free_port()
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="edge-agent-broker-")
        self.workdir = Path(workdir or self._tmp.name)
        self.conf = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        self.stderr_path = self.workdir / "mosquitto.stderr"
        self.conf.write_text(
            f"listener {self.port} {self.host}\n"
            + (tls.conf() if tls else "")
            + f"allow_anonymous {'true' if allow_anonymous else 'false'}\n"
            + (f"acl_file {acl_file}\n" if acl_file else "")
            + (f"password_file {password_file}\n" if password_file else "")
            # Persistence keeps retained messages and persistent sessions (with
            # the messages queued for them) across a stop and start.
            + (f"persistence true\npersistence_location {self.workdir}/\n" if persistent else "persistence false\n")
            # Run as root, mosquitto would switch to its own user and could
            # then not write its log in our private folder.
            + f"user {getpass.getuser()}\n"
            f"log_dest file {self.log_path}\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
            f"{extra_conf}"
        )
        self._proc: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> "LocalBroker":
        if self.running:
            return self
        # stderr to a file, not a pipe nobody reads that could fill and stall it.
        with open(self.stderr_path, "ab") as err:
            self._proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + timeout
        while not _accepts(self.host, self.port):
            if self._proc.poll() is not None:
                self._proc = None
                raise AgentError(f"mosquitto exited at start on port {self.port}: {self.log().strip()[-300:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise AgentError(f"mosquitto did not listen on {self.host}:{self.port} within {timeout:.0f} s")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        proc.send_signal(signal.SIGCONT)  # a paused broker cannot act on SIGTERM
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def pause(self) -> None:
        """Freeze the broker: connections stay open but nothing is acknowledged."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """Crash the broker (SIGKILL works on a paused one too); start() revives it."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait(5)

    def log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in (self.stderr_path, self.log_path) if p.exists())

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> "LocalBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
