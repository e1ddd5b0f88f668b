"""The data_dir as the agent's own: claimed, locked to one agent, and kept with room to purge.

* A folder the agent did not make (a shared folder, someone's home) is
  refused, never chmod'ed: the agent marks the folders it made or adopted
  empty, and its own files mark one made by an older version.
* One agent per data_dir: two would alert every passage twice with
  different ids and purge each other's window keys. An exclusive flock on
  `agent.lock`, which the kernel drops when the holder dies (SIGKILL, power
  cut), so a stale lock file never blocks a restart.
* A full card must not leave the unit unable to purge the very rows that
  would free it: `reserve.space` holds a few MB, given back the moment a
  write fails for want of room, so the purge, the access log and the store
  can still write; it is taken again once the card has room.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import sqlite3
import typing
from pathlib import Path

from ..errors import AgentError, InputError

log = logging.getLogger(__name__)

MARKER_NAME = ".edge-agent-data"
LOCK_NAME = "agent.lock"
RESERVE_NAME = "reserve.space"
RESERVE_BYTES = 8 * 1024 * 1024
# Files an older edge-agent left in a data_dir it made, before the marker.
_OWN_FILES = ("edge-agent.db", "access.log", "access.head", "keys", "status.json", "hotlist.signed.json")


class DiskFull(AgentError):
    """A write failed for want of room on the card."""


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, DiskFull):
        return True
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "full" in str(exc)
    if isinstance(exc, AgentError):
        return "No space left" in str(exc) or "Disk quota" in str(exc)
    return False


def replace_file(path: Path, data: bytes, *, tmp: Path | None = None, mode: int = 0o600,
                 fsync: bool = True, owner: os.stat_result | None = None) -> None:
    """Write `data` to `path` whole or not at all: a new file beside it, renamed over it.

    A power cut or a full card leaves the old file or the new one, never a
    torn one. `mode` is the new file's (never the umask's); `owner`, where
    given and the process is root, its owner (a file a command run as root
    writes for the agent's user); `fsync` puts the bytes on the card before
    the rename. The temporary file is `path` with ".tmp" unless `tmp` names one.
    """
    tmp = tmp or path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    if owner is not None and os.geteuid() == 0:
        os.chown(tmp, owner.st_uid, owner.st_gid)
    os.replace(tmp, path)


def claim_data_dir(path: str | os.PathLike[str]) -> Path:
    """Make or adopt `path` as a data_dir (mode 0700); refuse a folder that holds others' files."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"storage.data_dir {folder} is a file, not a folder")
    marker = folder / MARKER_NAME
    if folder.is_dir() and not marker.exists():
        try:
            names = [p.name for p in folder.iterdir()]
        except OSError as exc:
            raise AgentError(f"cannot read storage.data_dir {folder}: {exc.strerror or exc}") from None
        if names and not any(n in _OWN_FILES for n in names):
            raise InputError(f"storage.data_dir {folder} holds files edge-agent did not make "
                             f"({', '.join(sorted(names)[:3])}{', ...' if len(names) > 3 else ''}); "
                             "give it a folder of its own")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not marker.exists():
            os.chmod(folder, 0o700)  # mkdir's mode is subject to umask
            fd = os.open(marker, os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, b"edge-agent keeps hits, keys and its access log here; nothing else belongs here.\n")
            os.close(fd)
    except PermissionError:
        log.warning("cannot restrict %s to mode 0700 or mark it", folder)
    except OSError as exc:
        if not is_disk_full(exc):
            raise AgentError(f"cannot make storage.data_dir {folder}: {exc.strerror or exc}") from None
    return folder


class InstanceLock:
    """Held for the agent's life; a second agent on the same data_dir exits 2 naming the first."""

    def __init__(self, data_dir: str | os.PathLike[str]):
        self.path = Path(data_dir) / LOCK_NAME
        # A file object, so an agent dropped without run() (a test, a failed
        # start) lets go of the lock when it is collected.
        self._file: typing.BinaryIO | None = None

    def acquire(self) -> None:
        try:
            f = open(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), "r+b", buffering=0)
        except OSError as exc:
            raise AgentError(f"cannot open {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = f.read(32).decode("ascii", "replace").strip() or "unknown"
            f.close()
            raise InputError(f"another edge-agent (pid {holder}) is running on {self.path.parent}; "
                             "stop it first (systemctl stop edge-agent)") from None
        try:
            f.truncate(0)
            f.write(f"{os.getpid()}\n".encode())
        except OSError:
            pass  # the lock is what counts; the pid is a courtesy (and the card may be full)
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # drops the flock
            self._file = None


class Reserve:
    """A few MB set aside so a full card can still purge and record."""

    def __init__(self, data_dir: str | os.PathLike[str], size: int = RESERVE_BYTES):
        self.path = Path(data_dir) / RESERVE_NAME
        self.size = size

    def held(self) -> bool:
        return self.path.is_file()

    def take(self) -> bool:
        """Set the room aside if the card can spare it (twice over); True if it is held."""
        if self.held():
            return True
        try:
            if shutil.disk_usage(self.path.parent).free < 3 * self.size:
                return False
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.size)  # real blocks, not a sparse promise
            finally:
                os.close(fd)
        except OSError:
            self.path.unlink(missing_ok=True)
            return False
        return True

    def give_back(self) -> bool:
        """Free the reserve for a write that failed for want of room; True if there was one."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.error("cannot free %s: %s", self.path, exc.strerror or exc)
            return False
        log.error("the card is full: freed the %d MB reserve so the purge and the access log can write",
                  self.size // 2**20)
        return True
