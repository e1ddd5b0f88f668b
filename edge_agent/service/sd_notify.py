"""Telling systemd how the agent is doing, over $NOTIFY_SOCKET (sd_notify(3)).

The protocol is one datagram of KEY=VALUE lines to a Unix socket, so the
socket module does it without a dependency. Outside systemd (a technician
running `edge-agent run` by hand, the tests) there is no socket and every
call is a no-op.
"""

from __future__ import annotations

import os
import socket
import time


class Notifier:
    def __init__(self, env: dict[str, str] | None = None):
        env = os.environ if env is None else env
        self.address = _address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_seconds = _watchdog_seconds(env)
        self.is_ready = False
        self._last_ping = 0.0
        self._last_status = ""
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, *fields: str) -> bool:
        """Send KEY=VALUE fields in one datagram; False if there is nobody to tell."""
        if not self.address:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(fields).encode("utf-8", "replace"), self.address)
            return True
        except OSError:
            # systemd gone or restarting: the agent's work matters more than the report.
            return False

    def ready(self, status: str = "") -> None:
        """READY=1, once: the models are loaded and the camera delivers (or is being retried)."""
        if not self.is_ready:
            self.is_ready = True
            self.send("READY=1", *([f"STATUS={status}"] if status else []))
            self._last_ping = time.monotonic()

    def watchdog(self) -> None:
        """WATCHDOG=1, at most twice per WatchdogSec: calling it every frame costs nothing."""
        if not self.watchdog_seconds:
            return
        now = time.monotonic()
        if now - self._last_ping >= self.watchdog_seconds / 2:
            self._last_ping = now
            self.send("WATCHDOG=1")

    def status(self, text: str) -> None:
        """STATUS=..., shown by `systemctl status`; only sent when it changes."""
        if text != self._last_status:
            self._last_status = text
            self.send(f"STATUS={text}")

    def reloading(self) -> None:
        self.send("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def reloaded(self, status: str = "") -> None:
        self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _address(path: str) -> str | bytes:
    if path.startswith("@"):
        return b"\0" + path[1:].encode()  # Linux abstract namespace
    return path if path.startswith("/") else ""


def _watchdog_seconds(env: dict[str, str]) -> float:
    """WatchdogSec= as systemd passes it, or 0 when the watchdog is off or meant for another process."""
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
        pid = int(env.get("WATCHDOG_PID", "0") or 0)
    except ValueError:
        return 0.0
    if usec <= 0 or (pid and pid != os.getpid()):
        return 0.0
    return usec / 1_000_000
