"""The usage-and-privacy policy in force: the rules it applies, and its public text.

`render` writes the document Civil Code 1798.90.51(b) requires from the
config the unit runs with, so the published policy and the unit's behaviour
cannot drift apart: every period and interval in it is read from the
settings, never typed twice. `admit_hotlist` refuses hot-list entries whose
category serves no authorized purpose; `disclosure_recorder` logs every
alert the broker acknowledged.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .. import __version__
from .audit import SYSTEM_USER, AuditLog
from ..config.policy import ELEMENTS
from .datadir import is_disk_full, replace_file
from ..errors import AgentError, InputError

if TYPE_CHECKING:
    from ..config import AgentConfig, PolicyConfig
    from .match import HotList
    from .store import OutboxItem

log = logging.getLogger(__name__)

CONFIG_SEEN = "config.seen.json"  # per-key digests of the config last run, to log what changed


def refused_categories(hotlist: HotList, policy: PolicyConfig) -> str:
    """'immigration 3, (no category) 1': entries per category that serves no authorized purpose."""
    refused = collections.Counter(e.category or "(no category)" for e in hotlist.entries
                                  if policy.category_purpose(e.category) is None)
    return ", ".join(f"{name} {count}" for name, count in sorted(refused.items()))


def admit_hotlist(hotlist: HotList, cfg: AgentConfig) -> HotList:
    """The entries whose category serves an authorized purpose; the load is logged.

    The refusal is reported by category name and count only, never by plate.
    """
    kept = [e for e in hotlist.entries if cfg.policy.category_purpose(e.category) is not None]
    summary = refused_categories(hotlist, cfg.policy)
    refused = len(hotlist.entries) - len(kept)
    if refused:
        log.warning("hot list %s: refused %d entries whose category serves no authorized purpose: %s",
                    hotlist.source, refused, summary)
    versions = sorted({e.list_version for e in kept if e.list_version})
    _record_unless_full(cfg, "hotlist-load", (
        f"{hotlist.source}: {len(kept)} entries in force"
        + (f" (list version {', '.join(versions)})" if versions else "")
        + (f"; refused by category: {summary}" if refused else "")
        + (f"; columns dropped: {', '.join(hotlist.dropped_columns)}" if hotlist.dropped_columns else "")))
    return dataclasses.replace(hotlist, entries=tuple(kept))


def disclosure_recorder(cfg: AgentConfig) -> Callable[[OutboxItem], None]:
    """For HitPublisher(on_delivered=...): one access-log entry per alert the broker took."""
    audit = AuditLog(cfg.storage.data_dir)
    recipient = cfg.policy.recipient(cfg.mqtt.host, cfg.mqtt.port)
    to = f"{recipient.name if recipient else 'unlisted broker'} ({cfg.mqtt.host}:{cfg.mqtt.port})"

    def record(item: OutboxItem) -> None:
        hotlist = json.loads(item.payload).get("hotlist", {})
        category = hotlist.get("category", "")
        audit.record("disclosure", user=SYSTEM_USER, purpose=cfg.policy.category_purpose(category) or "",
                     case=hotlist.get("ref", ""), what=f"alert {item.alert_id} ({category}) to {to}")

    return record


def require_policy(cfg: AgentConfig) -> None:
    """Refuse a config without a complete policy, also one built in code rather than loaded."""
    problems = [(f"policy.{k}", m) for k, m in cfg.policy.problems()] + cfg.problems()
    if problems:
        raise InputError("; ".join(f"{key}: {message}" for key, message in problems))


def record_config(cfg: AgentConfig) -> None:
    """Log the config in force if it differs from the one last seen in this data_dir.

    Numbers and switches are logged old -> new; texts and lists by key only.
    """
    seen_path = Path(cfg.storage.data_dir) / CONFIG_SEEN
    now = {}
    for section in dataclasses.fields(cfg):
        value = getattr(cfg, section.name)
        if dataclasses.is_dataclass(value):
            for key, item in dataclasses.asdict(value).items():
                now[f"{section.name}.{key}"] = (item if isinstance(item, (int, float, bool)) else
                                                hashlib.sha256(json.dumps(item, default=str).encode()).hexdigest()[:16])
    try:
        before = json.loads(seen_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        before = None
    if before == now:
        return
    where = f"{cfg.path} (SHA-256 {config_fingerprint(cfg)[:16]})"
    if before is None:
        _record_unless_full(cfg, "config", f"first start with {where}")
    else:
        changed = [k if isinstance(v, str) else f"{k} {before.get(k)} -> {v}"
                   for k, v in now.items() if before.get(k) != v]
        changed += [k for k in before if k not in now]
        _record_unless_full(cfg, "config-change", f"{where}: changed {', '.join(changed)}")
    try:
        replace_file(seen_path, json.dumps(now, sort_keys=True).encode(), fsync=False)
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        log.error("cannot note the config in %s, the card is full", seen_path)


def _record_unless_full(cfg: AgentConfig, event: str, what: str) -> None:
    """The agent's own records at start: on a full card the unit must still read and alert."""
    try:
        AuditLog(cfg.storage.data_dir).record(event, user=SYSTEM_USER, what=what)
    except AgentError as exc:
        if not is_disk_full(exc):
            raise
        log.error("%s not recorded, the card is full: %s", event, exc)


def config_fingerprint(cfg: AgentConfig) -> str:
    try:
        return hashlib.sha256(Path(cfg.path).read_bytes()).hexdigest()
    except OSError:
        return "unknown"


# --- the public document -------------------------------------------------------


def _text(value: str) -> str:
    return " ".join(value.split())


def _plural(n: float, unit: str) -> str:
    n = int(n) if float(n).is_integer() else n
    return f"{n} {unit}" + ("" if n == 1 else "s")


def _heading(key: str) -> str:
    letter, what = ELEMENTS[key]
    return f"## ({letter}) {what[0].upper()}{what[1:]}"


def render(cfg: AgentConfig) -> str:
    """The policy document (Markdown) for the config in force."""
    p, unit, head = cfg.policy, cfg.unit, _heading
    out = [
        f"# ALPR usage and privacy policy: unit {unit.site}/{unit.camera_id}" if not cfg.cameras else
        f"# ALPR usage and privacy policy: unit {unit.site}, cameras {', '.join(c.id for c in cfg.cameras)}",
        "",
        "This policy is required by California Civil Code 1798.90.51(b). It is rendered by "
        f"edge-agent {__version__} from the configuration the unit runs with "
        f"(`{cfg.path}`, SHA-256 `{config_fingerprint(cfg)[:16]}`), and the unit enforces it: it does not "
        "start without each element below, refuses any access that names no authorized purpose, and sends "
        "alerts to no one but the recipients listed.",
        "",
        head("purposes"),
        "",
        *[f"- {purpose}" for purpose in p.purposes],
        "",
        "Every query, export, crop view and hold at the unit must name one of these purposes. Hot-list "
        "entries are accepted only in these categories, each tied to the purpose it serves; entries in any "
        "other category, or in none, are refused when the list loads:",
        "",
        "| hot-list category | purpose |",
        "|---|---|",
        *[f"| {category} | {purpose} |" for category, purpose in sorted(p.categories.items())],
        "",
        head("roles"),
        "",
        "| role | training required |",
        "|---|---|",
        *[f"| {role.title} | {_text(role.training)} |" for role in p.roles],
        "",
        head("monitoring"),
        "",
        _text(p.monitoring),
        "",
        "The unit keeps the access record of Civil Code 1798.90.52 itself: every query, export, crop view, "
        "hold, hot-list change, configuration change, disclosure and purge is logged with its date and time, "
        "user, purpose, case number and what was accessed, in an append-only, hash-chained log that "
        "`edge-agent audit verify` checks and `edge-agent audit report` summarises.",
        "",
        head("sharing_restrictions"),
        "",
        _text(p.sharing_restrictions),
        "",
        "Hit alerts are sent only to:",
        "",
        *[f"- {rcp.name}: `{rcp.host}" + (f":{rcp.port}`" if rcp.port else "` (any port)") for rcp in p.recipients],
        "",
        f"This unit sends to `{cfg.mqtt.host}:{cfg.mqtt.port}`, "
        + ("over TLS." if cfg.mqtt.tls else "without TLS (allowed for a test set-up only).")
        + " An alert holds the plate as read, its confidence, time, site and camera, the hot-list category, "
        "reference and state, and the plate crop. Reads that match no hot list are never sent. "
        "Every alert the recipient acknowledges is logged as a disclosure.",
        "",
        head("custodian"),
        "",
        _text(p.custodian),
        "",
        head("accuracy"),
        "",
        _text(p.accuracy),
        "",
        f"On the unit a read must reach confidence {cfg.reader.min_confidence:g} and agree over "
        f"{_frames_to_agree(cfg)} before it is matched, and may differ from a hot-list "
        f"plate by at most {_plural(cfg.hotlist.confusion_tolerance, 'OCR-confusable character')} "
        "(O/0, B/8, ...); each alert reports that distance, and `plate` is what was read.",
        "",
        head("retention_and_destruction"),
        "",
        _text(p.retention_and_destruction),
        "",
        *_retention_facts(cfg),
    ]
    return "\n".join(out) + "\n"


def _frames_to_agree(cfg: AgentConfig) -> str:
    """[tracker] min_frames, and each camera's own where it differs."""
    own = [f"{s.id}: {s.tracker.min_frames}" for s in cfg.camera_setups()
           if s.tracker.min_frames != cfg.tracker.min_frames]
    return _plural(cfg.tracker.min_frames, "frame") + (f" (camera {', '.join(own)})" if own else "")


def _retention_facts(cfg: AgentConfig) -> list[str]:
    r, p, hl = cfg.retention, cfg.policy, cfg.hotlist
    if r.non_hit_minutes == 0:
        non_hits = "compared with the hot list in memory and never written, logged or sent"
    elif p.store_non_hit_plaintext:
        non_hits = f"kept as plate text for at most {_plural(r.non_hit_minutes, 'minute')}, then deleted"
    else:
        non_hits = (f"kept for at most {_plural(r.non_hit_minutes, 'minute')}, only as a keyed hash whose key "
                    "is held in memory and discarded when its window ends")
    refresh = (f"signed lists are taken from the broker as they are issued; a list older than "
               f"{_plural(getattr(hl, 'max_age_hours', 0), 'hour')} marks every alert as stale"
               if getattr(hl, "public_key_file", "") and getattr(hl, "subscribe", False)
               else "the hot list is read at start and on every reload (SIGHUP)")
    clock = ("synchronised by NTP" if r.clock_trust == "synchronized"
             else "trusted as set (a unit with a kept real-time clock)")
    return [
        f"- Hits are destroyed {_plural(r.hit_days, 'day')} after capture. The purge runs when the unit "
        f"starts (so time switched off never extends retention) and every "
        f"{_plural(r.purge_interval_seconds, 'second')}; each purge that destroys anything is logged with counts.",
        "- Destruction is real: rows are overwritten as they are deleted (SQLite secure_delete, the "
        "write-ahead log checkpointed and truncated), and hits, crops and queued alerts are stored encrypted "
        "(AES-GCM) under a key per day that is destroyed once the last hit of that day has expired, so copies "
        "an SD card keeps through wear levelling cannot be read.",
        "- A hit is kept past its retention only under a preservation hold, which names a case number, an "
        "approver and an end date, ends by itself, and is logged when placed and when it ends; or while "
        "its alert has not yet been delivered; or while the unit's clock cannot be trusted to tell its "
        f"age (the clock must be {clock}, and not have jumped or gone back), which is logged.",
        f"- Reads that match no hot list are {non_hits}.",
        "- A hot list keeps only plate, state, category, reference, expiry, source and list version; any "
        f"other column is dropped as it loads and only its name is logged. {refresh[0].upper()}{refresh[1:]}.",
        "- The unit keeps no image beyond the plate crop: no scene or occupant picture.",
    ]
