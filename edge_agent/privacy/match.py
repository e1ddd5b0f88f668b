"""The hot list (which plates this unit looks for) and the matcher.

Privacy: the hot-list CSV supplied by the client may carry columns the unit
must never hold (name, date of birth, address, charge...). Only `plate`,
`state`, `category`, `ref`, `expires`, `source` and `list_version` survive loading; the values of every
other column are discarded row by row and never logged or quoted in an
error. Only column NAMES are reported. Row problems quote no field values at
all, because a misaligned row can shift a private value into any column.
"""

from __future__ import annotations

import csv
import itertools
import logging
import os
import re
from dataclasses import dataclass
from datetime import date
from typing import TextIO

from ..errors import InputError
from ..plates import fold, normalise
from ..records import HotListEntry, Hit, VehicleRead

log = logging.getLogger(__name__)

KEPT_COLUMNS = ("plate", "state", "category", "ref", "expires", "source", "list_version")
MIN_PLATE_LEN = 2
# Far above a real list (a national stolen-vehicle extract is tens of
# thousands) yet bounded: 100 000 entries load in about a second and hold
# about 60 MB (x86 figures; a Pi is a few times slower), where a million
# took 25 s and 860 MB. A bigger file is refused, not cut short.
MAX_ENTRIES = 100_000
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class HotList:
    entries: tuple[HotListEntry, ...]
    source: str  # the path it was loaded from
    dropped_columns: tuple[str, ...]  # header names only, never values
    row_problems: tuple[str, ...]  # "FILE:LINE: message", no field values


def _sniff_delimiter(header_line: str) -> str:
    # Counting in the header is enough: column names hold no delimiters in
    # practice, and csv.Sniffer guesses wrong on one-column files.
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _parse_expires(value: str) -> date | None:
    """'' -> None (never expires); raises ValueError unless YYYY-MM-DD."""
    if not value:
        return None
    # fromisoformat alone would also accept '20240101' and week dates.
    if not _ISO_DATE.match(value):
        raise ValueError(value)
    return date.fromisoformat(value)


def load_hotlist(path: str | os.PathLike[str]) -> HotList:
    """Load a hot-list CSV, keeping only the allowed columns.

    Raises InputError if the file cannot be read, has no `plate` column or
    more than MAX_ENTRIES rows; malformed rows are skipped and listed in
    `row_problems`.
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8-sig", newline="") as f:
            return _load(f, name)
    except OSError as e:
        raise InputError(f"{name}: cannot read hot list: {e.strerror or e}") from None
    except UnicodeDecodeError:
        # The codec's message quotes the offending bytes; say nothing of them.
        raise InputError(f"{name}: hot list is not UTF-8 text") from None


def _load(f: TextIO, name: str) -> HotList:
    first = f.readline()
    if not first.strip():
        raise InputError(f"{name}:1: hotlist: no 'plate' column")
    reader = csv.reader(itertools.chain([first], f), delimiter=_sniff_delimiter(first))
    header = [h.strip().lower() for h in next(reader)]
    # The first occurrence of an allowed name wins; a repeat is dropped.
    index: dict[str, int] = {}
    dropped: list[str] = []
    for i, h in enumerate(header):
        if h in KEPT_COLUMNS and h not in index:
            index[h] = i
        else:
            dropped.append(h or f"(unnamed column {i + 1})")
    if "plate" not in index:
        # The header line may really be a data row, so it is not quoted.
        raise InputError(f"{name}:1: hotlist: no 'plate' column")
    if dropped:
        log.warning(
            "hot list %s: dropped columns not allowed on the unit: %s", name, ", ".join(dropped)
        )

    entries: list[HotListEntry] = []
    problems: list[str] = []
    line = reader.line_num  # physical line the next record starts on, minus 1
    try:
        for row in reader:
            start, line = line + 1, reader.line_num
            if not any(field.strip() for field in row):
                continue  # blank line, or a spreadsheet's trailing ';;;;'
            if len(entries) + len(problems) == MAX_ENTRIES:
                # Rows, not entries: a million bad rows would cost as much in problems.
                raise InputError(f"{name}: hot list has more than {MAX_ENTRIES} rows, "
                                 f"the most a unit holds (split it, or drop expired entries)")
            # Pick the kept fields out and drop the row at once, so no private
            # value outlives this line, not even in an exception's traceback.
            entry_or_problem = _entry(row, header, index)
            del row
            if isinstance(entry_or_problem, str):
                problems.append(f"{name}:{start}: {entry_or_problem}")
            else:
                entries.append(entry_or_problem)
    except csv.Error:
        raise InputError(f"{name}:{reader.line_num}: hotlist: malformed CSV") from None

    for p in problems:
        log.warning("hot list row skipped: %s", p)
    log.info("hot list %s: %d entries, %d rows skipped", name, len(entries), len(problems))
    return HotList(tuple(entries), name, tuple(dropped), tuple(problems))


def _entry(row: list[str], header: list[str], index: dict[str, int]) -> HotListEntry | str:
    """The row's entry, or a one-line problem that quotes no field value."""
    if len(row) != len(header):
        return f"expected {len(header)} fields, found {len(row)}"

    def get(col: str) -> str:
        return row[index[col]].strip() if col in index else ""

    plate = normalise(get("plate"))
    if not plate:
        return "plate is empty or has no letters or digits"
    if len(plate) < MIN_PLATE_LEN:
        return f"plate is shorter than {MIN_PLATE_LEN} characters"
    try:
        expires = _parse_expires(get("expires"))
    except ValueError:
        return "expires is not a date (want YYYY-MM-DD, or empty for never)"
    return HotListEntry(plate, get("state"), get("category"), get("ref"), expires, get("source"), get("list_version"))


class Matcher:
    """Finds the hot-list entry a vehicle read stands for, if any.

    An exact match has distance 0. Otherwise a same-length entry matches if
    every differing position holds two confusable characters (plates.fold)
    and there are at most `tolerance` such positions.
    """

    def __init__(self, hotlist: HotList, tolerance: int):
        if tolerance < 0:
            raise ValueError("tolerance must be >= 0")
        self.tolerance = tolerance
        self._entries = hotlist.entries
        # Two texts that differ only by confusable characters fold to the same
        # key, so one dict lookup finds every candidate; lists keep file order
        # so the choice between equal candidates is deterministic.
        self._by_fold: dict[str, list[HotListEntry]] = {}
        for e in hotlist.entries:
            self._by_fold.setdefault(fold(e.plate), []).append(e)
        log.info("matcher: %d live hot-list entries, tolerance %d", len(self), tolerance)

    def __len__(self) -> int:
        today = date.today()
        return sum(1 for e in self._entries if _live(e, today))

    def match(self, read: VehicleRead, today: date | None = None) -> Hit | None:
        """The best live entry for `read`, or None. Logs nothing about reads."""
        today = today or date.today()
        text = normalise(read.text)
        best: tuple[int, HotListEntry] | None = None
        for e in self._by_fold.get(fold(text), ()):
            if not _live(e, today):
                continue
            distance = sum(1 for a, b in zip(text, e.plate) if a != b)
            if distance <= self.tolerance and (best is None or distance < best[0]):
                best = (distance, e)
                if distance == 0:
                    break
        return Hit(read, best[1], best[0]) if best else None


def _live(entry: HotListEntry, today: date) -> bool:
    # An entry is still wanted on its expiry day itself.
    return entry.expires is None or entry.expires >= today
