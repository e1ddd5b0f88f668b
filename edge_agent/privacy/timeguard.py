"""Whether the wall clock may decide that a hit's retention ran out.

A Pi has no real-time clock. Booted without network after weeks powered
off, its clock restarts at the last shutdown time (fake-hwclock) and runs
weeks behind until NTP steps it; a hand-set or faked clock can be weeks
ahead. Either way, ages computed from it are wrong, and a purge that trusts
them destroys hits before their retention ran out. So hits are destroyed by
age only when

* the kernel says the clock is synchronised (adjtimex, which NTP daemons
  and systemd-timesyncd set and every `date -s` clears; timesyncd's flag
  file where adjtimex cannot be asked), or the policy says this unit's
  clock is kept right otherwise (`[retention] clock_trust = "always"`);
* and the clock has not jumped against the boot clock (`/proc/uptime`,
  which no LD_PRELOAD fake and no `date -s` moves) since the last time it
  was trusted, nor gone back behind a time it already showed.

The last trusted reading is kept in `<data_dir>/clock.json` so that a
command started with a wrong clock is caught as well as the agent. A jump
seen while the kernel is synchronised is taken as NTP's correction: the
reading is re-based and the next purge trusts it. Without the kernel's word
("always") nothing tells a correction from a mistake, so the reading stays:
the purge waits until the next boot or until time passes the reading again.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ..clock import as_utc, parse_rfc3339, rfc3339_utc
from .datadir import replace_file

log = logging.getLogger(__name__)

LEDGER_NAME = "clock.json"
TIMESYNC_FLAG = "/run/systemd/timesync/synchronized"
# NTP slews at most 0.5 ms a second, and /proc/uptime follows the same slew,
# so wall and boot clocks drift apart by far less than this between readings;
# only a step of the wall clock exceeds it.
JUMP_SECONDS = 120.0
# The reading on disk is renewed this often (an SD card is written little).
LEDGER_RENEW_SECONDS = 3600.0
_TIME_ERROR = 5  # adjtimex's return value while the clock is unsynchronised


@dataclass(frozen=True)
class ClockVerdict:
    trusted: bool
    reason: str = ""  # why not, in one line; "" when trusted
    backwards_seconds: float = 0.0  # how far behind a time already shown, when it went back
    jump_seconds: float = 0.0  # the step seen against the boot clock (+ ahead, - back)


def kernel_synchronized() -> bool | None:
    """The kernel's NTP state: True, False, or None where it cannot be asked."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        timex = ctypes.create_string_buffer(512)  # struct timex, modes = 0: read only
        state = libc.adjtimex(timex)
    except (OSError, AttributeError):
        state = -1
    if state >= 0:
        return state != _TIME_ERROR
    return True if os.path.exists(TIMESYNC_FLAG) else None


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def boot_seconds() -> float:
    """Seconds since boot, suspend included: a clock no one sets."""
    try:
        return float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0


def human(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds:.0f} s"


class TimeGuard:
    def __init__(self, data_dir: str | os.PathLike[str], trust: str = "synchronized", *,
                 synchronized=kernel_synchronized):
        self.path = Path(data_dir) / LEDGER_NAME
        self.trust = trust
        self._synchronized = synchronized
        self.last = ClockVerdict(True)

    def boot(self) -> tuple[str, float]:
        """Where on the boot clock this moment is: (boot id, seconds since boot)."""
        return boot_id(), boot_seconds()

    def check(self, now: datetime) -> ClockVerdict:
        now = as_utc(now)
        boot, up = self.boot()
        ledger = self._read()
        kernel = self._synchronized() is True
        synced = self.trust == "always" or kernel
        back = jump = 0.0
        if ledger is not None:
            wall, then_boot, then_up = ledger
            back = max(0.0, (wall - now).total_seconds())
            if back <= JUMP_SECONDS:
                back = 0.0
            if then_boot == boot and boot:
                jump = (now - wall).total_seconds() - (up - then_up)
                if abs(jump) <= JUMP_SECONDS:
                    jump = 0.0
        if not synced:
            reason = "the clock is not synchronised (no NTP sync since it was set)"
        elif jump:
            reason = f"the clock jumped {'ahead' if jump > 0 else 'back'} {human(jump)} against the boot clock"
        elif back:
            reason = f"the clock is {human(back)} behind a time it already showed"
        else:
            reason = ""
        stale = ledger is None or ledger[1] != boot or ledger[2] > up or up - ledger[2] >= LEDGER_RENEW_SECONDS
        if (not reason and stale) or (reason and synced and kernel):
            # A trusted reading, or NTP's correction of a jump: the new
            # reference, so the purge after a corrected jump trusts the clock.
            self._write(now, boot, up)
        self.last = ClockVerdict(not reason, reason, back, jump)
        return self.last

    def _read(self) -> tuple[datetime, str, float] | None:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            return parse_rfc3339(str(doc["wall"])), str(doc["boot_id"]), float(doc["boot_seconds"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("%s is unreadable or damaged; taking a new reading", self.path)
            return None

    def _write(self, now: datetime, boot: str, up: float) -> None:
        doc = {"wall": rfc3339_utc(now), "boot_id": boot, "boot_seconds": round(up, 2)}
        try:
            replace_file(self.path, json.dumps(doc).encode() + b"\n", tmp=self.path.with_name(f".{LEDGER_NAME}.tmp"))
        except OSError as exc:
            # A full card must not stop the check; the old reading stays.
            log.warning("cannot write %s: %s", self.path, exc.strerror or exc)


def corrected_capture(recorded: datetime, boot_then: str, up_then: float, now: datetime,
                      boot_now: str, up_now: float) -> datetime:
    """When a hit stamped under an untrusted clock was really captured, by a trusted `now`.

    Within the same boot the boot clock gives the exact age. Across a reboot
    it cannot be known, so `now` is taken: the hit is then kept at least its
    whole retention, at most the untrusted span longer.
    """
    if boot_then and boot_then == boot_now and 0 <= up_then <= up_now:
        return as_utc(now) - timedelta(seconds=up_now - up_then)
    del recorded  # a clock that was wrong says nothing about when
    return as_utc(now)
