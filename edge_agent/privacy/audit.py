"""The access record of Civil Code 1798.90.52: append-only and hash-chained.

One JSON object per line in `data_dir/access.log`. Each entry's `hash` is
SHA-256 over its own fields and the previous entry's hash, so editing,
deleting or inserting an entry breaks the chain at that point. Deleting
entries from the end leaves a valid chain, so every append also rewrites
`access.head` (the last entry's number and hash); `verify` checks the log
against it. What this cannot catch on its own: someone able to rewrite the
log *and* the head together. `audit report` prints the head hash so it can be
kept elsewhere; `verify --head SEQ:HASH` then proves the log still holds it.

A power cut or a full disk can cut an append short. The next append sets the
unfinished tail aside in `access.log.torn-<time>`, cuts the log back to its
last complete entry and records a `torn-tail` entry, so the chain goes on and
the unit keeps starting.

Entries never quote a non-hit read, a hot-list value other than category
names, or a hit's plate: they outlive the hits, and a destroyed hit must not
survive in them. The one plate text an entry may hold is a query's search
term, which 1798.90.52(a)(2) requires to be recorded.
"""

from __future__ import annotations

import errno
import fcntl
import getpass
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..clock import rfc3339_utc, utc_now
from ..errors import AgentError

LOG_NAME = "access.log"
HEAD_NAME = "access.head"
SYSTEM_USER = "edge-agent"  # the agent itself: purges, disclosures, loads
GENESIS = "0" * 64
TORN_EVENT = "torn-tail"
PENDING = ".pending"  # a side file whose torn-tail entry is not yet written
# The store's files (store.DB_NAME, keys.KEY_DIR; store imports this module,
# so they are named here). Their presence is the witness that a log existed:
# the unit records its start purge before it keeps anything in them. A witness
# file of our own beside the log would fall to the same `rm` as the log and
# head, so it adds nothing; a log deleted together with the whole data_dir is
# what the head noted elsewhere (`verify --head`) is for.
STORE_NAME = "edge-agent.db"
KEY_DIR = "keys"
_CHUNK = 4096


def login_name() -> str:
    """The operating-system account behind a command, beside the --user it claims."""
    try:
        return os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, as in some containers
        return str(os.getuid())


def entry_hash(entry: dict) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int
    head: str  # hash of the last good entry
    problem: str = ""
    torn: int = 0  # unfinished tails set aside (torn-tail entries in the chain)


class AuditLog:
    """Safe across processes: the agent and access commands append to the same log."""

    def __init__(self, data_dir: str | Path):
        self.folder = Path(data_dir)
        self.path = self.folder / LOG_NAME
        self.head_path = self.folder / HEAD_NAME

    def record(self, event: str, *, user: str, purpose: str = "", case: str = "", what: str = "") -> dict:
        """Append one entry; raises AgentError if it cannot be made durable."""
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise AgentError(f"cannot write the access log {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last, good_end, size = _tail(fd)
            if good_end < size:
                self._set_aside(fd, good_end, size)
            # A tail set aside is named .pending until its entry is durable, so
            # one whose entry failed (a full disk) is recorded by the next append.
            for pending in sorted(self.folder.glob(f"{LOG_NAME}.torn-*{PENDING}")):
                last = self._record_set_aside(fd, last, pending)
            return self._append(fd, last, event=event, user=user, purpose=purpose, case=case, what=what)
        except OSError as exc:
            raise AgentError(f"cannot write the access log {self.path}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)  # releases the lock

    def _append(self, fd: int, last: dict | None, **fields: str) -> dict:
        entry = {
            "seq": (last["seq"] + 1) if last else 1,
            "at": rfc3339_utc(utc_now()),
            "event": fields["event"],
            "user": fields["user"],
            "login": login_name(),
            "purpose": fields.get("purpose", ""),
            "case": fields.get("case", ""),
            "what": fields.get("what", ""),
            "prev": last["hash"] if last else GENESIS,
        }
        entry["hash"] = entry_hash(entry)
        data = (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            written = os.write(fd, data)  # one write: O_APPEND keeps it whole, unless the disk is full
            if written != len(data):
                raise _short_write(f"{written} of {len(data)} bytes")
            os.fsync(fd)
            self._write_head(entry)
        except BaseException:
            # An entry the caller is told failed must not stay, whole or in part.
            _cut(fd, start)
            raise
        return entry

    def _set_aside(self, fd: int, good_end: int, size: int) -> None:
        """Move what follows the last complete entry to a side file, then cut the log back to that entry."""
        torn = _pread_all(fd, good_end, size - good_end)
        stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
        names = (f"{LOG_NAME}.torn-{stamp}" + (f"-{n}" if n > 1 else "") for n in range(1, 1000))
        name = next((n for n in names if not any(self.folder.glob(n + "*"))), f"{LOG_NAME}.torn-{stamp}")
        side = self.folder / (name + PENDING)
        out = os.open(side, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            if os.write(out, torn) != len(torn):
                raise _short_write(f"to {side.name}")
            os.fsync(out)
        except BaseException:
            side.unlink(missing_ok=True)  # the log still holds the bytes
            raise
        finally:
            os.close(out)
        _fsync_dir(self.folder)
        os.ftruncate(fd, good_end)
        os.fsync(fd)

    def _record_set_aside(self, fd: int, last: dict | None, pending: Path) -> dict:
        kept = pending.with_name(pending.name.removesuffix(PENDING))
        # The size and the side file only: the bytes may hold a search term.
        entry = self._append(fd, last, event=TORN_EVENT, user=SYSTEM_USER, what=(
            f"set aside {pending.stat().st_size} bytes that were not a complete entry "
            f"(a write cut short by a power cut or a full disk) in {kept.name}"))
        os.replace(pending, kept)
        _fsync_dir(self.folder)
        return entry

    def _write_head(self, entry: dict) -> None:
        tmp = self.head_path.with_suffix(".tmp")
        data = json.dumps({"seq": entry["seq"], "hash": entry["hash"]}).encode() + b"\n"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            if os.write(fd, data) != len(data):
                raise _short_write(f"to {self.head_path.name}")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.head_path)

    def _read_bytes(self) -> bytes:
        """The whole log, read under a shared lock so no append is seen half-made."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return b""
        except OSError as exc:
            raise AgentError(f"cannot read the access log {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            return _pread_all(fd, 0, os.fstat(fd).st_size)
        except OSError as exc:
            raise AgentError(f"cannot read the access log {self.path}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)

    def entries(self) -> Iterator[dict]:
        """Every entry that parses, in file order (verify() says whether to trust them)."""
        for line in self._read_bytes().split(b"\n"):
            entry = _parse(line)
            if entry is not None:
                yield entry

    def verify(self, expect_head: tuple[int, str] | None = None) -> Verdict:
        """Walk the chain; the first break found is the verdict's problem.

        expect_head=(seq, hash) is a head noted earlier (from `audit report`):
        the log must still hold that very entry.
        """
        data = self._read_bytes()
        # Split on b"\n" only: str.splitlines() would also cut at U+2028 inside a search term.
        lines = data.split(b"\n") if data else []
        unfinished = bool(data) and not data.endswith(b"\n")
        if data and not unfinished:
            lines.pop()
        count, prev, held, torn = 0, GENESIS, expect_head is None, 0
        before = GENESIS  # hash of the entry before the last

        def broken(message: str) -> Verdict:
            return Verdict(False, count, prev, message, torn)

        for number, line in enumerate(lines, start=1):
            try:
                entry = json.loads(line)
                seq, stated = int(entry["seq"]), entry["hash"]
            except (ValueError, KeyError, TypeError):
                if unfinished and number == len(lines):
                    return broken(f"line {number}: an unfinished entry (a write cut short by a power cut or "
                                  "a full disk); the next entry sets it aside")
                # No complete entry after it: a damaged tail, which the next append sets aside.
                tail = "" if any(_parse(later) for later in lines[number:]) else "; the next entry sets it aside"
                return broken(f"line {number}: not a log entry (edited or damaged){tail}")
            if entry_hash(entry) != stated:
                return broken(f"line {number}: entry {seq} was edited (its hash does not match its content)")
            if seq > count + 1:
                gone = f"entry {count + 1} was" if seq == count + 2 else f"entries {count + 1}-{seq - 1} were"
                return broken(f"line {number}: {gone} deleted before entry {seq}")
            if seq < count + 1 or entry.get("prev") != prev:
                return broken(f"line {number}: entry {seq} was inserted or moved (it does not follow entry {count})")
            if unfinished and number == len(lines):
                return broken(f"line {number}: entry {seq} lacks its line end (a write cut short); "
                              "the next entry sets it aside")
            count, prev, before = seq, stated, prev
            torn += entry.get("event") == TORN_EVENT
            if expect_head and expect_head[0] == seq:
                if not stated.startswith(expect_head[1].lower()):
                    return broken(f"line {number}: entry {seq} is not the one noted earlier (the log was rewritten)")
                held = True
        head = self._read_head()
        witness = self._store_witness() if head is None and not count else ""
        if witness:
            state = "empty" if self.path.exists() else "missing"
            return broken(f"{self.path.name} is {state} but {witness} exists beside it: the log was deleted")
        if head is None and count:
            return broken(f"{self.head_path.name} is missing: cannot tell whether entries were cut from the end")
        # A power cut between appending an entry and moving the head leaves
        # the head one entry behind: that alone is not tampering.
        lagging = head is not None and (head["seq"], head["hash"]) == (count - 1, before)
        if head is not None and (head["seq"], head["hash"]) != (count, prev) and not lagging:
            if head["seq"] > count:
                gone = f"entry {count + 1} was" if head["seq"] == count + 1 else f"entries {count + 1}-{head['seq']} were"
                return broken(f"{gone} deleted from the end")
            return broken(f"the log ends at entry {count}, not where {self.head_path.name} says")
        if not held:
            return broken(f"entry {expect_head[0]} noted earlier is missing: the log was cut or rewritten")
        return Verdict(True, count, prev, torn=torn)

    def _store_witness(self) -> str:
        """What in data_dir shows the unit has kept something, and so recorded its start: "" if nothing."""
        if (self.folder / STORE_NAME).exists():
            return f"the store {STORE_NAME}"
        keys = self.folder / KEY_DIR
        return f"key files in {KEY_DIR}/" if keys.is_dir() and any(keys.glob("*.key")) else ""

    def _read_head(self) -> dict | None:
        try:
            head = json.loads(self.head_path.read_text(encoding="utf-8"))
            return {"seq": int(head["seq"]), "hash": str(head["hash"])}
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AgentError(f"cannot read {self.head_path}: {exc.strerror or exc}") from None
        except (ValueError, KeyError, TypeError):
            return {"seq": -1, "hash": ""}


def _parse(line: bytes) -> dict | None:
    """The entry on one line, or None if the line is not one (torn, damaged, foreign)."""
    try:
        entry = json.loads(line)
    except ValueError:  # also UnicodeDecodeError: a cut can split a character
        return None
    if not isinstance(entry, dict) or type(entry.get("seq")) is not int or not isinstance(entry.get("hash"), str):
        return None
    return entry


def _tail(fd: int) -> tuple[dict | None, int, int]:
    """(last complete entry, the offset where it ends, the file's size), read backwards from the end.

    Bytes between that end and the size are a torn tail: no complete entry
    follows them, so setting them aside changes no chain.
    """
    size = os.lseek(fd, 0, os.SEEK_END)
    pos, buf, end = size, b"", 0  # a line end at or after buf[end] has been ruled out
    while True:
        nl = buf.rfind(b"\n", 0, end)
        start = buf.rfind(b"\n", 0, nl) + 1 if nl >= 0 else 0
        if nl >= 0 and (start > 0 or pos == 0):
            entry = _parse(buf[start:nl])
            if entry is not None:
                return entry, pos + nl + 1, size
            end = start
            continue
        if pos == 0:
            return None, 0, size
        # Doubling the read keeps a long damaged tail linear to scan.
        step = min(max(_CHUNK, len(buf)), pos)
        pos -= step
        buf = _pread_all(fd, pos, step) + buf
        end += step


def _pread_all(fd: int, offset: int, length: int) -> bytes:
    parts = []
    while length > 0:
        part = os.pread(fd, length, offset)
        if not part:
            raise OSError(errno.EIO, "the access log shrank while being read")
        parts.append(part)
        offset, length = offset + len(part), length - len(part)
    return b"".join(parts)


def _short_write(what: str) -> OSError:
    # Worded as ENOSPC's own message: callers tell a full card by it (datadir.is_disk_full).
    return OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} (a short write, {what})")


def _cut(fd: int, size: int) -> None:
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    except OSError:
        pass  # what stays past `size` is a torn tail: the next append sets it aside


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def __getattr__(name: str):
    # The report moved to audit_report; `from .audit import report` still works.
    if name in ("report", "format_table"):
        from . import audit_report
        return getattr(audit_report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
