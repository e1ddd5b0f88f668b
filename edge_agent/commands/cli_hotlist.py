"""`edge-agent hotlist keygen | sign | import`: signed hot lists, both sides.

The central side keeps the private key, signs a CSV into a message and
publishes it retained on `<topic_prefix>/<site>/hotlist`; a unit verifies it
with the public key in `[hotlist] public_key_file`. `import` installs a
signed message by hand (no broker needed); a running agent takes it up
within seconds.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from ..config import DEFAULT_CONFIG_PATH, load_config
from ..errors import EXIT_OK, EXIT_USAGE, InputError
from ..privacy.out_files import refuse_in_unit_data_dir, write_file


def register(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("hotlist", help="signed hot lists: make keys, sign a CSV, import a signed list")
    cmds = group.add_subparsers(dest="hotlist_command", required=True, metavar="SUBCOMMAND")

    p = cmds.add_parser("keygen", help="make an Ed25519 key pair for signing hot lists (central side)")
    p.add_argument("--private-key", required=True, metavar="FILE", help="where to write the private key (mode 0600)")
    p.add_argument("--public-key", required=True, metavar="FILE", help="where to write the public key for the units")
    p.set_defaults(func=cmd_keygen)

    p = cmds.add_parser("sign", help="sign a hot-list CSV into the message units accept (central side)")
    p.add_argument("csv", metavar="CSV", help="plate,state,category,ref,expires; other columns are dropped")
    p.add_argument("--key", required=True, metavar="FILE", help="the private key from `hotlist keygen`")
    p.add_argument("--version", type=int, metavar="N",
                   help="list version, above every earlier one of the site (default: seconds since 1970)")
    p.add_argument("--issued-at", metavar="TIME", help="RFC 3339 issue time (default: now)")
    p.add_argument("--out", metavar="FILE", help="write the message here (default: standard output)")
    p.set_defaults(func=cmd_sign)

    p = cmds.add_parser("import", help="verify a signed hot list and install it on this unit")
    p.add_argument("file", metavar="FILE", help="a message made by `hotlist sign`")
    p.add_argument("--config", default=DEFAULT_CONFIG_PATH, help=f"config file (default {DEFAULT_CONFIG_PATH})")
    p.set_defaults(func=cmd_import, data_owner=True)  # writes into data_dir: as its owner (data_owner.py)


def _write_new(path: str, data: bytes, mode: int) -> None:
    refuse_in_unit_data_dir(path, "key file")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError:
        raise InputError(f"{path}: already exists; not overwriting a key") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def cmd_keygen(args: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ..transport.hotlist_signed import private_pem, public_pem

    key = Ed25519PrivateKey.generate()
    _write_new(args.private_key, private_pem(key), 0o600)
    _write_new(args.public_key, public_pem(key), 0o644)
    print(f"private key {args.private_key} (keep it on the central side); "
          f"public key {args.public_key} (for [hotlist] public_key_file)")
    return EXIT_OK


def cmd_sign(args: argparse.Namespace) -> int:
    from ..transport.hotlist_signed import MAX_BYTES, MAX_VERSION, load_private_key, sign
    from ..privacy.match import load_hotlist

    key = load_private_key(args.key)
    issued_at = datetime.now(timezone.utc)
    if args.issued_at:
        try:
            issued_at = datetime.fromisoformat(args.issued_at.replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"--issued-at {args.issued_at!r} is not an RFC 3339 time") from None
        if issued_at.tzinfo is None:
            raise InputError("--issued-at needs a time zone (for example 2026-05-01T06:00:00Z)")
    version = args.version if args.version is not None else int(time.time())
    if not 1 <= version <= MAX_VERSION:
        raise InputError(f"--version must be from 1 to {MAX_VERSION}, as units accept")
    hotlist = load_hotlist(args.csv)
    if hotlist.row_problems:
        # A signed list is all or nothing on the unit; a skipped row would be a silent gap.
        for problem in hotlist.row_problems:
            print(f"{problem} (hotlist row)", file=sys.stderr)
        return EXIT_USAGE
    message = sign(hotlist.entries, version=version, issued_at=issued_at, key=key)
    if len(message) > MAX_BYTES:
        raise InputError(f"{args.csv}: signed, the list is {len(message)} bytes, over the {MAX_BYTES} units accept")
    if args.out:
        # Replaced, as before, but through a new 0600 file: a symlink at --out is not followed.
        refuse_in_unit_data_dir(args.out, "--out")
        write_file(args.out, message, overwrite=True)
        print(f"hot list version {version}, {len(hotlist.entries)} entries, signed into {args.out}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(message + b"\n")
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from ..privacy.audit import login_name
    from ..transport.hotlist_sync import HotlistSync

    if not getattr(args, "verbose", False):
        # The command says what happened in one line; the library's log would say it twice.
        logging.getLogger("edge_agent").setLevel(logging.ERROR)
    cfg = load_config(args.config)
    if not cfg.hotlist.public_key_file:
        raise InputError(f"{cfg.path}: hotlist.public_key_file is not set, so no signed list can be verified")
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise InputError(f"{args.file}: cannot read: {exc.strerror or exc}") from None
    from ..transport.hotlist_signed import HotlistRejected

    sync = HotlistSync(cfg.hotlist, cfg.storage.data_dir)
    try:
        installed = sync.offer(data, "import", user=login_name())
    except HotlistRejected as exc:
        raise InputError(f"{args.file}: rejected: {exc}") from None
    if not installed:
        print(f"hot list version {sync.signed_version} is already in force")
        return EXIT_OK
    print(f"hot list version {sync.signed_version} installed in {sync.path}; "
          f"a running agent takes it up within seconds")
    return EXIT_OK
