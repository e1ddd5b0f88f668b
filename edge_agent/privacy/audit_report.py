"""`edge-agent audit report`: what an auditor asks of the access log (see audit.py)."""

from __future__ import annotations

import collections
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # audit re-exports report(): importing it here at run time would be circular
    from .audit import AuditLog

_DESTROYED = re.compile(r"(\d+) (hits|queued alerts|keys|non-hit records)")
_TORN = "torn-tail"  # audit.TORN_EVENT


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
    per_user = lambda kind: collections.Counter((e["user"], e["purpose"]) for e in by[kind])
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
        (f"Hot-list loads and changes: {sum(len(v) for k, v in by.items() if str(k).startswith('hotlist'))}; "
         f"configuration changes: {len(by['config-change'])}"),
        "",
        # Kept visible: a tail set aside is a write the unit lost, or someone's edit at the end.
        f"Unfinished log ends set aside (a write cut short): {len(by[_TORN])}",
        *[f"  {e['at']}  {e['what']}" for e in by[_TORN]],
        "",
        f"Head: entry {verdict.entries}, SHA-256 {verdict.head}",
        (f"Keep it elsewhere: `edge-agent audit verify --head {verdict.entries}:{verdict.head[:16]}` later proves "
         "the log still holds it, unrewritten."),
    ]
    return "\n".join(out) + "\n"
