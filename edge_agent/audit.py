"""The access record of Civil Code 1798.90.52: append-only and hash-chained.

One JSON object per line in `data_dir/access.log`. Each entry's `hash` is
SHA-256 over its own fields and the previous entry's hash, so editing,
deleting or inserting an entry breaks the chain at that point. Deleting
entries from the end leaves a valid chain, so every append also rewrites
`access.head` (the last entry's number and hash); `verify` checks the log
against it. What this cannot catch on its own: someone able to rewrite the
log *and* the head together. `audit report` prints the head hash so it can be
kept elsewhere; `verify --head SEQ:HASH` then proves the log still holds it.

Entries never quote a non-hit read, a hot-list value other than category
names, or a hit's plate: they outlive the hits, and a destroyed hit must not
survive in them. The one plate text an entry may hold is a query's search
term, which 1798.90.52(a)(2) requires to be recorded.
"""

from __future__ import annotations

import collections
import fcntl
import getpass
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .clock import rfc3339_utc, utc_now
from .errors import AgentError

LOG_NAME = "access.log"
HEAD_NAME = "access.head"
SYSTEM_USER = "edge-agent"  # the agent itself: purges, disclosures, loads
GENESIS = "0" * 64


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
            last = _last_entry(fd)
            entry = {
                "seq": (last["seq"] + 1) if last else 1,
                "at": rfc3339_utc(utc_now()),
                "event": event,
                "user": user,
                "login": login_name(),
                "purpose": purpose,
                "case": case,
                "what": what,
                "prev": last["hash"] if last else GENESIS,
            }
            entry["hash"] = entry_hash(entry)
            line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"
            os.write(fd, line.encode("utf-8"))  # one write: O_APPEND keeps it whole
            os.fsync(fd)
            self._write_head(entry)
        except OSError as exc:
            raise AgentError(f"cannot write the access log {self.path}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)  # releases the lock
        return entry

    def _write_head(self, entry: dict) -> None:
        tmp = self.head_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, json.dumps({"seq": entry["seq"], "hash": entry["hash"]}).encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.head_path)

    def entries(self) -> Iterator[dict]:
        """Every entry that parses, in file order (verify() says whether to trust them)."""
        try:
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError:
                        continue
        except FileNotFoundError:
            return

    def verify(self, expect_head: tuple[int, str] | None = None) -> Verdict:
        """Walk the chain; the first break found is the verdict's problem.

        expect_head=(seq, hash) is a head noted earlier (from `audit report`):
        the log must still hold that very entry.
        """
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        count, prev, held = 0, GENESIS, expect_head is None
        before = GENESIS  # hash of the entry before the last

        def broken(message: str) -> Verdict:
            return Verdict(False, count, prev, message)

        for number, line in enumerate(lines, start=1):
            try:
                entry = json.loads(line)
                seq, stated = int(entry["seq"]), entry["hash"]
            except (ValueError, KeyError, TypeError):
                return broken(f"line {number}: not a log entry (edited or damaged)")
            if entry_hash(entry) != stated:
                return broken(f"line {number}: entry {seq} was edited (its hash does not match its content)")
            if seq > count + 1:
                gone = f"entry {count + 1} was" if seq == count + 2 else f"entries {count + 1}-{seq - 1} were"
                return broken(f"line {number}: {gone} deleted before entry {seq}")
            if seq < count + 1 or entry.get("prev") != prev:
                return broken(f"line {number}: entry {seq} was inserted or moved (it does not follow entry {count})")
            count, prev, before = seq, stated, prev
            if expect_head and expect_head[0] == seq:
                if not stated.startswith(expect_head[1].lower()):
                    return broken(f"line {number}: entry {seq} is not the one noted earlier (the log was rewritten)")
                held = True
        head = self._read_head()
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
        return Verdict(True, count, prev)

    def _read_head(self) -> dict | None:
        try:
            head = json.loads(self.head_path.read_text(encoding="utf-8"))
            return {"seq": int(head["seq"]), "hash": str(head["hash"])}
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return {"seq": -1, "hash": ""}


def _last_entry(fd: int) -> dict | None:
    """The last complete entry, read backwards from the end (the log only grows)."""
    end = os.lseek(fd, 0, os.SEEK_END)
    if end == 0:
        return None
    chunk, pos, tail = 4096, end, b""
    while pos > 0:
        step = min(chunk, pos)
        pos -= step
        tail = os.pread(fd, step, pos) + tail
        lines = tail.rstrip(b"\n").split(b"\n")
        if len(lines) > 1 or pos == 0:
            try:
                return json.loads(lines[-1])
            except json.JSONDecodeError:
                raise AgentError("the access log's last entry is damaged; run `edge-agent audit verify`") from None
    return None


# --- the report -------------------------------------------------------------------

_DESTROYED = re.compile(r"(\d+) (hits|queued alerts|keys|non-hit records)")


def format_table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    """Aligned columns, two spaces apart, each line indented by two."""
    if not rows:
        return ["  none"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return ["  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]]


def _table(counts: collections.Counter, header: tuple[str, ...]) -> list[str]:
    return format_table(header, [(*key, n) for key, n in sorted(counts.items())])


def report(log: AuditLog, since: str = "") -> str:
    """What an auditor asks of the record: who searched for what purpose, what was destroyed, held, shared."""
    verdict = log.verify()
    entries = [e for e in log.entries() if str(e.get("at", "")) >= since]
    by = collections.defaultdict(list)
    for e in entries:
        by[e.get("event")].append(e)
    per_user = lambda kind: collections.Counter((e["user"], e["purpose"]) for e in by[kind])  # noqa: E731
    destroyed = collections.Counter()
    for e in by["purge"]:
        for n, what in _DESTROYED.findall(e.get("what", "")):
            destroyed[what] += int(n)
    state = "intact" if verdict.ok else f"BROKEN: {verdict.problem}"
    out = [
        f"Access report for {log.folder}" + (f" since {since}" if since else ""),
        f"Log: {len(entries)} entries in this period, {verdict.entries} in all; {state}",
        "",
        "Searches per user and purpose:",
        *_table(per_user("query"), ("user", "purpose", "searches")),
        "",
        "Exports and crop views per user and purpose:",
        *_table(collections.Counter({**{(k[0], k[1], "export"): v for k, v in per_user("export").items()},
                                     **{(k[0], k[1], "crop view"): v for k, v in per_user("crop-view").items()}}),
                ("user", "purpose", "action", "count")),
        "",
        f"Refused requests: {len(by['refused'])}",
        *[f"  {e['at']}  {e['user'] or '(no user)'}: {e['what']}" for e in by["refused"]],
        "",
        f"Holds placed: {len(by['hold'])}, ended: {len(by['hold-ended'])}",
        *[f"  {e['at']}  case {e['case']}, by {e['user']}: {e['what']}" for e in by["hold"]],
        "",
        f"Purges that destroyed something, or ran at start: {len(by['purge'])}",
        "  destroyed " + ", ".join(f"{destroyed[k]} {k}" for k in ("hits", "queued alerts", "keys", "non-hit records")),
        "",
        "Disclosures (alerts acknowledged by a recipient) per purpose:",
        *_table(collections.Counter((e["purpose"] or "(none)",) for e in by["disclosure"]), ("purpose", "alerts")),
        "",
        f"Hot-list loads and changes: {sum(len(v) for k, v in by.items() if str(k).startswith('hotlist'))}; "
        f"configuration changes: {len(by['config-change'])}",
        "",
        f"Head: entry {verdict.entries}, SHA-256 {verdict.head}",
        f"Keep it elsewhere: `edge-agent audit verify --head {verdict.entries}:{verdict.head[:16]}` later proves "
        "the log still holds it, unrewritten.",
    ]
    return "\n".join(out) + "\n"
