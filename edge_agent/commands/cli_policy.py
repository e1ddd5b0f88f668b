"""Commands of the usage-and-privacy policy: policy, query, export, crop, hold, audit.

They read the config without checking that the hot list or certificates
exist: an investigator at a unit whose hot list failed to sync still needs
the record, and the policy renders from the settings alone.
"""

from __future__ import annotations

import argparse
import sys

from ..config import DEFAULT_CONFIG_PATH, load_config
from ..errors import EXIT_FAILURE, EXIT_OK, InputError


def _config(args: argparse.Namespace):
    return load_config(args.config, check_files=False)


def cmd_policy(args: argparse.Namespace) -> int:
    from ..privacy.policy import render

    sys.stdout.write(render(_config(args)))
    return EXIT_OK


def _who(args: argparse.Namespace) -> dict:
    return {"user": args.user, "purpose": args.purpose, "case": args.case}


def cmd_query(args: argparse.Namespace) -> int:
    from ..privacy.access import Access
    from ..privacy.audit_report import format_table

    with Access(_config(args)) as access:
        found = access.query(args.plate, **_who(args))
    if not found:
        print(f"no hit for {args.plate} within retention")
        return EXIT_OK
    rows = [(h["alert_id"], h["captured_at"], h["plate"], h["hotlist_state"] or "-", h["hotlist_category"] or "-",
             h["hotlist_ref"] or "-", f"{h['confidence']:.2f}", h["camera"] or "-", "held" if h["held"] else "")
            for h in found]
    print("\n".join(line[2:] for line in format_table(
        ("alert_id", "captured_at", "plate", "state", "category", "ref", "confidence", "camera", ""), rows)))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from ..privacy.access import Access

    with Access(_config(args)) as access:
        written = access.export(args.alert_ids, args.out, overwrite=args.overwrite, **_who(args))
    print(f"exported {len(written)} files to {args.out}")
    return EXIT_OK


def cmd_crop(args: argparse.Namespace) -> int:
    from ..privacy.access import Access

    with Access(_config(args)) as access:
        path = access.crop(args.alert_id, args.out, overwrite=args.overwrite, **_who(args))
    print(f"crop of hit {args.alert_id} written to {path}")
    return EXIT_OK


def cmd_hold(args: argparse.Namespace) -> int:
    from ..privacy.access import Access, parse_day

    until = parse_day(args.until) if args.until else None
    with Access(_config(args)) as access:
        number = access.hold(args.alert_id, approver=args.approver, until=until, **_who(args))
    print(f"hold {number}: hit {args.alert_id} kept until the end of {until.isoformat()} for case {args.case}")
    return EXIT_OK


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from ..privacy.audit import AuditLog

    head = None
    if args.head:
        seq, _, digest = args.head.partition(":")
        if not seq.isdigit() or len(digest) < 8:
            raise InputError(f"--head: want SEQ:HASH as `audit report` prints it, got {args.head}")
        head = (int(seq), digest)
    log = AuditLog(_config(args).storage.data_dir)
    verdict = log.verify(head)
    if verdict.ok:
        print(f"{log.path}: intact, {verdict.entries} entries, head {verdict.head[:16]}")
        return EXIT_OK
    print(f"{log.path}: {verdict.problem}", file=sys.stderr)
    return EXIT_FAILURE


def cmd_audit_report(args: argparse.Namespace) -> int:
    from ..privacy.audit import AuditLog
    from ..privacy.audit_report import report

    sys.stdout.write(report(AuditLog(_config(args).storage.data_dir), since=args.since or ""))
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    def config(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", default=DEFAULT_CONFIG_PATH, help=f"config file (default {DEFAULT_CONFIG_PATH})")

    def who(p: argparse.ArgumentParser, case: str) -> None:
        # Not required= in argparse: a request without them must reach the
        # access log as a refusal, not die in the parser unrecorded.
        config(p)
        p.set_defaults(data_owner=True)  # opens the store: runs as data_dir's owner (data_owner.py)
        p.add_argument("--user", help="who is asking (recorded)")
        p.add_argument("--purpose", help="one of the policy's authorized purposes (recorded)")
        p.add_argument("--case", help=f"case number ({case})")

    p = sub.add_parser("policy", help="print the usage-and-privacy policy in force (Markdown)")
    config(p)
    p.set_defaults(func=cmd_policy)

    p = sub.add_parser("query", help="hits for a plate within retention (recorded)")
    who(p, "optional")
    p.add_argument("plate", metavar="PLATE")
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("export", help="write hits and their crops to a folder for a case (recorded)")
    who(p, "required")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder to write to, outside data_dir (made 0700 if new; not a symlink)")
    p.add_argument("--overwrite", action="store_true", help="replace files an earlier export left there")
    p.add_argument("alert_ids", nargs="+", metavar="ALERT_ID")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("crop", help="write one hit's plate crop to a file (recorded)")
    who(p, "optional")
    p.add_argument("--out", required=True, metavar="FILE", help="JPEG file to write, outside data_dir (mode 0600)")
    p.add_argument("--overwrite", action="store_true", help="replace the file if it exists (with a new 0600 file)")
    p.add_argument("alert_id", metavar="ALERT_ID")
    p.set_defaults(func=cmd_crop)

    p = sub.add_parser("hold", help="keep one hit past retention for a case, until a date (recorded)")
    who(p, "required")
    p.add_argument("--approver", help="who approved the hold (required)")
    p.add_argument("--until", metavar="YYYY-MM-DD", help="last day of the hold (required)")
    p.add_argument("alert_id", metavar="ALERT_ID")
    p.set_defaults(func=cmd_hold)

    p = sub.add_parser("audit", help="check or summarise the access log")
    audit = p.add_subparsers(dest="audit_command", required=True, metavar="verify|report")
    v = audit.add_parser("verify", help="exit 0 if the log is intact, 1 naming the first bad entry")
    config(v)
    v.set_defaults(data_owner=True)
    v.add_argument("--head", metavar="SEQ:HASH", help="a head noted earlier (from `audit report`) the log must still hold")
    v.set_defaults(func=cmd_audit_verify)
    r = audit.add_parser("report", help="searches per user and purpose, purges, holds, disclosures")
    config(r)
    r.set_defaults(data_owner=True)
    r.add_argument("--since", metavar="YYYY-MM-DD", help="only entries from this day on")
    r.set_defaults(func=cmd_audit_report)
