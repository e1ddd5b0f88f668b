"""The hot list in force: the local CSV until a signed list supersedes it.

Signed lists arrive as the retained `<topic_prefix>/<site>/hotlist` message
or through `edge-agent hotlist import`; both go through `offer()`, which
verifies the signature, refuses any version not newer than the one held,
keeps the message in `<data_dir>/hotlist.signed.json` (so a restart cannot
be fed an older list) and only then swaps: the new matcher is built whole
and published with one assignment, so a read is matched against the old
list or the new one, never a mixture.

Whoever can publish on the topic can send anything, as fast as the network
carries it. A refusal says a fixed reason, never the message's content, and
the access log gets the first refusal of each minute and then one summary
of how many more there were, not an fsync'd entry per message.
"""

from __future__ import annotations

import collections
import dataclasses
import fcntl
import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .alerts import ListState
from ..privacy.audit import SYSTEM_USER, AuditLog
from ..privacy.datadir import replace_file
from ..errors import AgentError
from .hotlist_signed import HotlistRejected, SignedList, load_public_key, verify
from ..privacy.match import HotList, Matcher

if TYPE_CHECKING:
    from ..config.hotlist import HotlistConfig
    from .mqtt_link import MqttLink

log = logging.getLogger(__name__)

SIGNED_NAME = "hotlist.signed.json"
LOCK_NAME = "hotlist.lock"
# After a refusal is recorded, further ones are counted for this long and
# recorded as one summary: a flood costs two access-log entries a minute.
REJECTION_WINDOW_SECONDS = 60.0
# A summary names at most this many distinct reasons, the rest as a count.
SUMMARY_REASONS = 8


@dataclass(frozen=True)
class ActiveList:
    """One hot list and what the alerts and status say about it; replaced whole."""

    matcher: Matcher
    version: int | None  # None: the local CSV (or no list yet)
    issued_at: datetime | None  # a CSV counts from its file time
    origin: str  # "csv", "none", "mqtt", "import", "stored"

    def age_hours(self, now: datetime) -> float | None:
        if self.issued_at is None:
            return None
        return max(0.0, (now - self.issued_at).total_seconds() / 3600.0)

    def stale(self, max_age_hours: float, now: datetime) -> bool:
        if self.origin == "none":
            return True  # no list at all: nothing can be matched
        age = self.age_hours(now)
        return max_age_hours > 0 and age is not None and age > max_age_hours

    def state(self, max_age_hours: float, now: datetime | None = None) -> ListState:
        now = now or datetime.now(timezone.utc)
        return ListState(self.version, self.issued_at, self.stale(max_age_hours, now))


def empty_hotlist(source: str = "no CSV hot list (signed lists only)") -> HotList:
    return HotList(entries=(), source=source, dropped_columns=(), row_problems=())


def _matcher(entries: tuple, source: str, tolerance: int) -> Matcher:
    return Matcher(dataclasses.replace(empty_hotlist(source), entries=entries), tolerance)


class HotlistSync:
    def __init__(self, cfg: HotlistConfig, data_dir: str | os.PathLike[str], csv: Matcher | None = None, *,
                 admit: Callable[[HotList], HotList] | None = None):
        """`admit` filters a list by the usage policy and records its load in the access
        log; without it (`hotlist import`) the install itself is recorded."""
        self.cfg = cfg
        self.folder = Path(data_dir)
        self.path = self.folder / SIGNED_NAME
        self._audit = AuditLog(self.folder)
        self._admit = admit
        self._key = load_public_key(cfg.public_key_file) if cfg.public_key_file else None
        self._lock = threading.Lock()
        self._signed: SignedList | None = None
        self._seen: tuple[int, int] | None = None  # (mtime_ns, size) of the stored file last read
        self.last_rejection = ""
        self.rejection_window_seconds = REJECTION_WINDOW_SECONDS
        self._flood_lock = threading.Lock()
        self._flood: _Flood | None = None
        self.active = self._csv_list(csv)
        if self._key is not None:
            self.check_installed()
        if self.active.origin == "csv":  # a stored signed list said so itself as it came in
            self._warn_if_empty(self.active)

    @property
    def signed_version(self) -> int | None:
        return self._signed.version if self._signed else None

    def attach(self, link: MqttLink, topic: str) -> None:
        """Take signed lists from the retained `topic`, if configured to."""
        if self._key is not None and self.cfg.subscribe:
            link.subscribe(topic, self.on_message)

    def _csv_list(self, csv: Matcher | None) -> ActiveList:
        if csv is None or not self.cfg.path:
            return ActiveList(_matcher((), "", self.cfg.confusion_tolerance), None, None, "none")
        try:
            mtime = datetime.fromtimestamp(os.stat(self.cfg.path).st_mtime, timezone.utc)
        except OSError:
            mtime = None
        return ActiveList(csv, None, mtime, "csv")

    def set_csv(self, csv: Matcher | None) -> None:
        """The CSV list (at start and on reload); in force only while no signed list is."""
        with self._lock:
            signed = self._signed
            if signed is None:
                self._put(self._csv_list(csv))
            elif csv is not None and csv.tolerance != self.active.matcher.tolerance:
                # A reload changed confusion_tolerance: the signed list follows it.
                self.active = ActiveList(_matcher(signed.entries, "signed", csv.tolerance), signed.version,
                                         signed.issued_at, self.active.origin)

    def _put(self, active: ActiveList) -> None:
        self.active = active  # the swap: one assignment
        self._warn_if_empty(active)

    def _warn_if_empty(self, active: ActiveList) -> None:
        # Status raises hotlist_empty for as long as it lasts; the journal says when it began.
        if active.origin != "none" and len(active.matcher) == 0:
            which = self.cfg.path if active.version is None else f"version {active.version} (from {active.origin})"
            log.warning("hot list %s came into force with no live entry (empty, all expired or all refused "
                        "by policy): no read can be a hit", which)

    # -- signed lists ------------------------------------------------------------

    def on_message(self, payload: bytes) -> None:
        """The retained hot-list message (MQTT network thread); a rejection is logged and kept."""
        try:
            self.offer(payload, "mqtt")
        except HotlistRejected:
            pass  # offer() logged and recorded it
        except AgentError as exc:  # the lock file: the broker offers the message again at reconnect
            # An alarm (hotlist_rejected, last_error), not only a journal line: a
            # lock root left behind would otherwise stop every list silently.
            self.last_rejection = f"hot list from mqtt not taken: {exc}"
            log.error("%s", self.last_rejection)

    def offer(self, payload: bytes, origin: str, *, user: str = SYSTEM_USER) -> bool:
        """Verify and install a signed list; False if that very list is already in force."""
        if self._key is None:
            raise HotlistRejected("no [hotlist] public_key_file is configured to verify signed lists")
        with self._lock, self._file_lock():
            try:
                signed = verify(payload, self._key)
                self._read_stored()  # another process (`hotlist import`) may hold a newer one
                held = self._signed
                if held is not None and signed.version <= held.version:
                    if signed.digest == held.digest:
                        return False  # the retained message again, after a reconnect
                    raise HotlistRejected(f"version {signed.version} is not newer than version "
                                          f"{held.version} in force")
            except HotlistRejected as exc:
                self._rejected(origin, str(exc), user)
                raise
            self._store(signed)
            self._install(signed, origin, user)
        return True

    def check_installed(self) -> None:
        """Take up a list `hotlist import` stored while the agent runs (cheap when nothing changed)."""
        if self._key is None:
            return
        with self._lock:
            self._read_stored()

    def _read_stored(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return
        if self._seen == (st.st_mtime_ns, st.st_size):
            return
        self._seen = (st.st_mtime_ns, st.st_size)
        try:
            signed = verify(self.path.read_bytes(), self._key, stored=True)
        except (OSError, HotlistRejected) as exc:
            log.warning("stored hot list %s not used: %s", self.path, exc)
            return
        if self._signed is None or signed.version > self._signed.version:
            self._install(signed, "stored" if self._signed is None else "import", SYSTEM_USER)

    def _install(self, signed: SignedList, origin: str, user: str) -> None:
        label = f"signed hot list version {signed.version} (from {origin})"
        # Entries say which list they came from, for the access log of each disclosure.
        entries = tuple(e if e.list_version else dataclasses.replace(e, list_version=str(signed.version))
                        for e in signed.entries)
        if self._admit is not None:
            entries = self._admit(dataclasses.replace(empty_hotlist(label), entries=entries)).entries
        matcher = _matcher(entries, label, self.active.matcher.tolerance)
        self._signed = dataclasses.replace(signed, entries=entries)
        self._put(ActiveList(matcher, signed.version, signed.issued_at, origin))
        self.last_rejection = ""
        log.info("hot list version %d in force (%d entries, issued %s, from %s)", signed.version,
                 len(signed.entries), signed.issued_at.isoformat(), origin)
        if self._admit is None:
            self._record("hotlist-installed", user, f"{label}: {len(entries)} entries")

    def _rejected(self, origin: str, reason: str, user: str) -> None:
        """`reason` is verify()'s or offer()'s fixed phrase: it quotes nothing of the message."""
        rejection = f"hot list from {origin} rejected: {reason}"
        # A person's `hotlist import` is one act, recorded as one; the agent's own are windowed.
        if user == SYSTEM_USER and self._counted(reason):
            log.debug("%s", rejection)
        elif user == SYSTEM_USER and rejection == self.last_rejection:
            # The same retained message, offered again at each reconnect.
            log.debug("%s", rejection)
        else:
            log.warning("%s; version %s stays in force", rejection, self.active.version or "(csv)")
            self._record("hotlist-rejected", user, f"from {origin}: {reason}")
        self.last_rejection = rejection  # last: whoever watches it finds the log and record done

    def _counted(self, reason: str) -> bool:
        """True if a refusal was recorded less than a window ago: this one waits for the summary."""
        with self._flood_lock:
            if self._flood is not None:
                self._flood.reasons[reason] += 1
                return True
            flood = self._flood = _Flood()
            flood.timer = threading.Timer(self.rejection_window_seconds, self._window_ended, (flood,))
            flood.timer.daemon = True
            flood.timer.start()
            return False

    def _window_ended(self, flood: _Flood) -> None:
        with self._flood_lock:
            if self._flood is not flood:
                return  # flushed meanwhile
            self._flood = None
        self._summarise(flood)

    def flush_rejections(self) -> None:
        """Record the summary of the refusals counted so far now, not at the window's end (at stop)."""
        with self._flood_lock:
            flood, self._flood = self._flood, None
        if flood is not None:
            if flood.timer is not None:
                flood.timer.cancel()
            self._summarise(flood)

    def _summarise(self, flood: _Flood) -> None:
        total = sum(flood.reasons.values())
        if not total:
            return
        named, rest = flood.reasons.most_common()[:SUMMARY_REASONS], flood.reasons.most_common()[SUMMARY_REASONS:]
        counts = ", ".join(f"{reason} {n}" for reason, n in named)
        if rest:
            counts += f", {len(rest)} other reasons {sum(n for _, n in rest)}"
        seconds = max(1, round(time.monotonic() - flood.started))
        what = f"{total} more hot-list messages rejected in the last {seconds} s: {counts}"
        log.warning("%s", what)
        self._record("hotlist-rejected", SYSTEM_USER, what)

    def _record(self, event: str, user: str, what: str) -> None:
        try:
            self._audit.record(event, user=user, what=what)
        except AgentError as exc:
            log.error("%s", exc)

    def _store(self, signed: SignedList) -> None:
        """Write the message next to the store, atomically, owned like the folder."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            # `hotlist import` run as root must leave a file the agent's user can read.
            replace_file(self.path, signed.raw, owner=os.stat(self.folder))
            st = os.stat(self.path)
            self._seen = (st.st_mtime_ns, st.st_size)
        except OSError as exc:
            # Still used in memory; the broker keeps the retained copy for a restart.
            log.error("cannot keep hot list version %d in %s: %s", signed.version, self.path, exc.strerror or exc)

    def _file_lock(self) -> "_FileLock":
        return _FileLock(self.folder / LOCK_NAME)


class _Flood:
    """The refusals counted since the last one recorded; summarised when its timer fires."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.reasons: collections.Counter[str] = collections.Counter()
        self.timer: threading.Timer | None = None


class _FileLock:
    """Serialises the agent and `hotlist import` on the version check and the write."""

    def __init__(self, path: Path):
        self.path = path
        self.fd = -1

    def __enter__(self) -> "_FileLock":
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError as exc:
            raise AgentError(f"cannot lock {self.path}: {exc.strerror or exc}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd >= 0:
            os.close(self.fd)
