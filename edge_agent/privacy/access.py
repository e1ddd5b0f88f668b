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

from ..clock import rfc3339_utc, utc_now
from ..errors import InputError
from .out_files import check_new, inside, open_private_folder, write_at, write_file
from ..plates import fold, normalise
from .store import Store
from .timeguard import TimeGuard

if TYPE_CHECKING:
    from ..config import AgentConfig


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
                   case: str | None, need_case: bool = False, also: dict[str, str | None] | None = None,
                   out: str | Path | None = None) -> str:
        """The authorized purpose named, or a logged refusal (exit 2).

        `also` maps further required values to how to name them: {"approver (--approver)": ...}.
        `out` is where the command would write: never inside data_dir (see out_files.py).
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
        elif out is not None and inside(out, self.cfg.storage.data_dir):
            reason = f"--out {out} is inside data_dir {self.cfg.storage.data_dir}, which only the agent writes"
        else:
            # By a clock to be trusted only: one command run with a clock weeks ahead destroys nothing.
            self.store.purge_due(TimeGuard(self.cfg.storage.data_dir, self.cfg.retention.clock_trust))
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
               case: str | None, overwrite: bool = False) -> list[Path]:
        """Write each hit's record (JSON) and crop (JPEG) to out_dir, for a case.

        The folder is made 0700 if new, and each file is new and 0600; files
        of an earlier export are replaced only with `overwrite`, so evidence
        already handed over is never changed by a second export by mistake.
        """
        what = f"hits {', '.join(alert_ids)}"
        purpose = self._authorize("export", what, user=user, purpose=purpose, case=case, need_case=True,
                                  out=out_dir)
        found = self._hits(alert_ids)
        missing = [a for a in alert_ids if a not in found]
        out = Path(out_dir)
        written: list[Path] = []
        if found:
            files = {alert_id: (json.dumps(hit, indent=1).encode() + b"\n", self.store.crop(alert_id))
                     for alert_id, hit in found.items()}
            folder = open_private_folder(out)
            try:
                # Every name is checked before the export is recorded and anything is written.
                for name in (f"{a}{ext}" for a in files for ext in (".json", ".jpg")):
                    if not overwrite and _exists_at(folder, name):
                        raise InputError(f"export: {out / name} already exists; add --overwrite to replace it")
                self.audit.record("export", user=user.strip(), purpose=purpose, case=case.strip(),
                                  what=f"hits {', '.join(found)} to {out.resolve()}"
                                  + (f"; not found: {', '.join(missing)}" if missing else ""))
                for alert_id, (record, crop) in files.items():
                    for ext, data in ((".json", record), (".jpg", crop)):
                        if data is not None:
                            write_at(folder, f"{alert_id}{ext}", data, overwrite=overwrite,
                                     shown=out / f"{alert_id}{ext}")
                            written.append(out / f"{alert_id}{ext}")
            finally:
                os.close(folder)
        if missing:
            raise InputError(f"export: no hit {', '.join(missing)} within retention"
                             + (f" (the others were exported to {out})" if found else ""))
        return written

    def crop(self, alert_id: str, out_file: str | Path, *, user: str | None, purpose: str | None,
             case: str | None = None, overwrite: bool = False) -> Path:
        """Write one hit's plate crop to out_file (a crop view), a new 0600 file (see out_files.py)."""
        purpose = self._authorize("crop", f"hit {alert_id}", user=user, purpose=purpose, case=case, out=out_file)
        picture = self.store.crop(alert_id) if self._hits([alert_id]) else None
        if picture is None:
            raise InputError(f"crop: no hit {alert_id} within retention")
        check_new(out_file, overwrite=overwrite, what="crop: ")
        self.audit.record("crop-view", user=user.strip(), purpose=purpose, case=(case or "").strip(),
                          what=f"crop of hit {alert_id} to {_where(out_file)}")
        return write_file(out_file, picture, overwrite=overwrite)

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


def _where(path: str | Path) -> Path:
    # The name written, not what a symlink there points at: with --overwrite the link is replaced.
    path = Path(path)
    return Path(os.path.realpath(path.parent)) / path.name


def _exists_at(folder: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def parse_day(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise InputError(f"not a date (want YYYY-MM-DD): {text}") from None
