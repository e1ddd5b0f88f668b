"""The keys that encrypt hits at rest, one per UTC day, and their destruction.

SQLite's secure_delete zeroes what it frees, but an SD card's wear levelling
can keep old copies of blocks the file system believes overwritten. So a hit
(record, crop and queued alert) is stored only as AES-GCM ciphertext under its
day's key, and when the day's hits expire the key is destroyed: whatever
copies the card keeps are unreadable (crypto-erase). A hit under a
preservation hold is re-encrypted under a key of its own, so keeping it does
not keep the rest of its day readable.

Keys are small files in `data_dir/keys`, apart from the database holding the
ciphertext, and are read from disk at each use rather than cached, so a key
another process destroyed is gone here too.

A key file that is not a key (damaged, overwritten by a foreign file, or
unreadable because root made it) is never fatal: it is set aside where it
lies, reported once (`problems`, the status and the access log), and the
day's next hits are sealed under the day's next key (`day-<date>-2`, ...).
It is destroyed with its day like any key.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
from datetime import date, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import AgentError

log = logging.getLogger(__name__)

KEY_DIR = "keys"
_NONCE_BYTES = 12
_KEY_BYTES = 32
_ID = re.compile(r"(day-\d{4}-\d{2}-\d{2}(-\d{1,2})?|held-[A-Za-z0-9-]{1,64})")
# A day whose every key file went bad this often is past help: say so.
MAX_DAY_KEYS = 99


def day_key_id(day: date | datetime) -> str:
    """The key of the UTC day a hit was captured on (a datetime must be UTC)."""
    return f"day-{(day.date() if isinstance(day, datetime) else day).isoformat()}"


def held_key_id(alert_id: str) -> str:
    return f"held-{alert_id}"


def key_day(key_id: str) -> date | None:
    """The day a day key belongs to; None for any other key."""
    return date.fromisoformat(key_id[4:14]) if key_id.startswith("day-") else None


class KeyRing:
    def __init__(self, data_dir: str | Path, on_problem=None):
        self.folder = Path(data_dir) / KEY_DIR
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            os.chmod(self.folder, 0o700)
        except PermissionError:
            log.warning("cannot restrict %s to mode 0700", self.folder)
        # key id -> why it cannot be used; reported once each (on_problem).
        self.problems: dict[str, str] = {}
        self._on_problem = on_problem

    def _path(self, key_id: str) -> Path:
        if not _ID.fullmatch(key_id):
            raise ValueError(f"not a key id: {key_id!r}")
        return self.folder / f"{key_id}.key"

    def ids(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.key") if _ID.fullmatch(p.stem))

    def exists(self, key_id: str) -> bool:
        return self._path(key_id).is_file()

    def day_key(self, day: date | datetime) -> str:
        """The key the day's hits are sealed under now: its first usable one."""
        base = day_key_id(day)
        for n in range(1, MAX_DAY_KEYS + 1):
            key_id = base if n == 1 else f"{base}-{n}"
            path = self._path(key_id)
            if not path.exists() or self._read(key_id) is not None:
                return key_id
        raise AgentError(f"every key file of {base[4:]} in {self.folder} is unusable")

    def _read(self, key_id: str) -> bytes | None:
        """The key, or None if there is none; a file that is not a usable key is reported."""
        path = self._path(key_id)
        try:
            key = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._problem(key_id, f"cannot read {path}: {exc.strerror or exc}")
            return None
        if len(key) != _KEY_BYTES:
            self._problem(key_id, f"{path} is not a key ({len(key)} bytes, not {_KEY_BYTES})")
            return None
        return key

    def _problem(self, key_id: str, why: str) -> None:
        if key_id in self.problems:
            return
        self.problems[key_id] = why
        log.error("encryption key %s set aside: %s; its day goes on under the next key", key_id, why)
        if self._on_problem is not None:
            self._on_problem(key_id, why)

    def _create(self, key_id: str) -> bytes:
        path = self._path(key_id)
        tmp = self.folder / f".{key_id}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            if os.write(fd, secrets.token_bytes(_KEY_BYTES)) != _KEY_BYTES:
                raise OSError(errno.ENOSPC, "No space left on device (short write)")
            os.fsync(fd)
        except OSError:
            os.close(fd)
            os.unlink(tmp)
            raise
        else:
            os.close(fd)
        try:
            # link() fails if another process made the key first; theirs wins.
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        self._sync_folder()
        key = self._read(key_id)
        if key is None:
            raise AgentError(f"cannot create the encryption key {path}")
        return key

    def seal(self, key_id: str, data: bytes, aad: bytes) -> bytes:
        """Encrypt under `key_id`, creating the key on first use."""
        key = self._read(key_id) or self._create(key_id)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + AESGCM(key).encrypt(nonce, data, aad)

    def open(self, key_id: str, blob: bytes, aad: bytes) -> bytes | None:
        """The plaintext, or None once the key is destroyed (or the blob is not what `aad` says)."""
        key = self._read(key_id)
        if key is None:
            return None
        try:
            return AESGCM(key).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], aad)
        except InvalidTag:
            return None

    def destroy(self, key_id: str) -> bool:
        """Overwrite the key file, then remove it; False if it was already gone or cannot be."""
        path = self._path(key_id)
        try:
            with open(path, "r+b") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(0)
                f.write(b"\0" * size)
                f.flush()
                os.fsync(f.fileno())
            os.unlink(path)
        except FileNotFoundError:
            return False
        except PermissionError as exc:
            # Root made it: an alarm until someone fixes its owner, not a crash.
            self._problem(key_id, f"cannot destroy {path}: {exc.strerror}")
            return False
        self._sync_folder()
        return True

    def _sync_folder(self) -> None:
        # Make the creation or removal itself durable across a power cut.
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
