"""Access to hits at the unit: query, export, crop view and hold.

Civil Code 1798.90.52 requires a record of every access. Each action here
needs a user and one of the policy's authorized purposes; a request without
them is refused and the refusal recorded, so a search nobody may make still
leaves a trace. Each action first runs the purge, so nothing past retention
is ever returned even while the agent is stopped, and is recorded before
anything is returned: an access that cannot be recorded does not happen.
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from .clock import rfc3339_utc, utc_now
from .errors import InputError
from .plates import fold, normalise
from .store import Store

if TYPE_CHECKING:
    from .config import AgentConfig


class Access:
    def __init__(self, cfg: AgentConfig):
        self.cfg = cfg
        self.policy = cfg.policy
        # pipeline=False: leaves the running agent's non-hit window alone.
        self.store = Store(cfg.storage.data_dir, cfg.retention, pipeline=False)
        self.audit = self.store.audit

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Access:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _authorize(self, action: str, what: str, *, user: str | None, purpose: str | None,
                   case: str | None, need_case: bool = False, also: dict[str, str | None] | None = None) -> str:
        """The authorized purpose named, or a logged refusal (exit 2).

        `also` maps further required values to how to name them: {"approver (--approver)": ...}.
        """
        user, case = (user or "").strip(), (case or "").strip()
        authorized = self.policy.purpose(purpose)
        absent = [option for option, value in (also or {}).items() if not (value or "").strip()]
        if not user:
            reason = "no user (--user)"
        elif not (purpose or "").strip():
            reason = "no purpose (--purpose)"
        elif authorized is None:
            reason = f"'{purpose}' is not an authorized purpose"
        elif need_case and not case:
            reason = "no case number (--case)"
        elif absent:
            reason = f"no {absent[0]}"
        else:
            self.store.purge(utc_now())
            return authorized
        self.audit.record("refused", user=user, purpose=(purpose or "").strip(), case=case,
                          what=f"{action} {what}: {reason}")
        allowed = "; ".join(self.policy.purposes)
        raise InputError(f"{action} refused: {reason}" + (f" (authorized purposes: {allowed})" if "purpose" in reason else ""))

    def _within_retention(self) -> list[dict]:
        cutoff = rfc3339_utc(utc_now() - timedelta(days=self.cfg.retention.hit_days))
        return [h for h in self.store.hits() if h["captured_at"] >= cutoff or h["held"]]

    def _hits(self, alert_ids: list[str]) -> dict[str, dict]:
        wanted = set(alert_ids)
        return {h["alert_id"]: h for h in self._within_retention() if h["alert_id"] in wanted}

    def query(self, plate: str, *, user: str | None, purpose: str | None, case: str | None = None) -> list[dict]:
        """Hits within retention whose plate reads as `plate` (OCR-confusable characters alike)."""
        wanted = normalise(plate)
        if not wanted:
            raise InputError("query: PLATE has no letters or digits")
        purpose = self._authorize("query", f"plate {wanted}", user=user, purpose=purpose, case=case)
        found = [h for h in self._within_retention() if fold(normalise(h["plate"])) == fold(wanted)]
        # The search term is what 1798.90.52(a)(2) requires; the results are named by alert id only.
        self.audit.record("query", user=user.strip(), purpose=purpose, case=(case or "").strip(),
                          what=f"plate {wanted}: {len(found)} hit(s)"
                          + (f" {', '.join(h['alert_id'] for h in found)}" if found else ""))
        return found

    def export(self, alert_ids: list[str], out_dir: str | Path, *, user: str | None, purpose: str | None,
               case: str | None) -> list[Path]:
        """Write each hit's record (JSON) and crop (JPEG) to out_dir, for a case."""
        what = f"hits {', '.join(alert_ids)}"
        purpose = self._authorize("export", what, user=user, purpose=purpose, case=case, need_case=True)
        found = self._hits(alert_ids)
        missing = [a for a in alert_ids if a not in found]
        out = Path(out_dir)
        written: list[Path] = []
        if found:
            out.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.audit.record("export", user=user.strip(), purpose=purpose, case=case.strip(),
                              what=f"hits {', '.join(found)} to {out.resolve()}"
                              + (f"; not found: {', '.join(missing)}" if missing else ""))
            for alert_id, hit in found.items():
                written.append(_write(out / f"{alert_id}.json", json.dumps(hit, indent=1).encode() + b"\n"))
                crop = self.store.crop(alert_id)
                if crop is not None:
                    written.append(_write(out / f"{alert_id}.jpg", crop))
        if missing:
            raise InputError(f"export: no hit {', '.join(missing)} within retention"
                             + (f" (the others were exported to {out})" if found else ""))
        return written

    def crop(self, alert_id: str, out_file: str | Path, *, user: str | None, purpose: str | None,
             case: str | None = None) -> Path:
        """Write one hit's plate crop to out_file (a crop view)."""
        purpose = self._authorize("crop", f"hit {alert_id}", user=user, purpose=purpose, case=case)
        picture = self.store.crop(alert_id) if self._hits([alert_id]) else None
        if picture is None:
            raise InputError(f"crop: no hit {alert_id} within retention")
        self.audit.record("crop-view", user=user.strip(), purpose=purpose, case=(case or "").strip(),
                          what=f"crop of hit {alert_id} to {Path(out_file).resolve()}")
        return _write(Path(out_file), picture)

    def hold(self, alert_id: str, *, approver: str | None, until: date | None, user: str | None,
             purpose: str | None, case: str | None) -> int:
        """Keep one hit past its retention for a case, until the end of `until`."""
        what = f"hit {alert_id} until {until.isoformat() if until else '(no date)'}"
        purpose = self._authorize("hold", what, user=user, purpose=purpose, case=case, need_case=True,
                                  also={"approver (--approver)": approver,
                                        "end date (--until)": until and until.isoformat()})
        number = self.store.hold(alert_id, case=case, approver=approver, until=until, user=user.strip(),
                                 now=utc_now())
        self.audit.record("hold", user=user.strip(), purpose=purpose, case=case.strip(),
                          what=f"hold {number} on {what}, approved by {approver.strip()}")
        return number


def _write(path: Path, data: bytes) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def parse_day(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise InputError(f"not a date (want YYYY-MM-DD): {text}") from None
