"""The `edge-agent` command.

Every command turns bad input into one line on stderr and an exit code
(0 ok, 1 runtime failure, 2 bad input); tracebacks only with --debug.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import logging
import signal
import sys

from .. import __version__
from ..config import DEFAULT_CONFIG_PATH, ConfigError, ReaderConfig, load_config
from ..config.reader import ENGINES
from ..errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, AgentError
from ..logs import setup_logging

log = logging.getLogger("edge_agent")

# Modules that add subcommands through a `register(subparsers)` function.
COMMAND_MODULES: list[str] = ["bench", "cli_field", "cli_policy", "cli_hotlist"]


def cmd_run(args: argparse.Namespace) -> int:
    from ..service.agent import Agent

    cfg = load_config(args.config)
    agent = Agent(cfg)

    def on_signal(signum, _frame):
        log.info("%s received: stopping", signal.Signals(signum).name)
        agent.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # `systemctl reload`: the agent reloads between two frames, not in the handler.
    signal.signal(signal.SIGHUP, lambda *_: agent.request_reload())
    queued = agent.run(drain_timeout=args.drain_timeout)
    if queued and agent.stopped_by_request:
        # A stop (systemctl stop, a reboot) is not a failure: queued hits are
        # safe on disk and go out after the next start.
        log.info("%d hit(s) wait in the outbox for the next start", queued)
    elif queued:
        raise AgentError(f"{queued} hit(s) not yet acknowledged by the broker {cfg.mqtt.host}:{cfg.mqtt.port}; "
                         f"they stay in the outbox under {cfg.storage.data_dir} and go out on the next run")
    return EXIT_OK


def cmd_check_config(args: argparse.Namespace) -> int:
    from ..privacy.match import load_hotlist
    from ..privacy.policy import refused_categories

    cfg = load_config(args.config)
    if cfg.hotlist.public_key_file:
        from ..transport.hotlist_signed import load_public_key

        load_public_key(cfg.hotlist.public_key_file)  # a wrong key is one line and exit 2
    hotlist = load_hotlist(cfg.hotlist.path) if cfg.hotlist.path else None
    problems = list(hotlist.row_problems) if hotlist else []
    for problem in problems:
        print(f"{problem} (hotlist row)", file=sys.stderr)
    if hotlist and (refused := refused_categories(hotlist, cfg.policy)):
        # Not an error: excluding categories (say, immigration) is the policy working.
        print(f"{cfg.hotlist.path}: entries refused, category tied to no authorized purpose: {refused}",
              file=sys.stderr)
    if problems:
        return EXIT_USAGE
    print(f"{args.config}: ok")
    return EXIT_OK


def cmd_scan(args: argparse.Namespace) -> int:
    from .scan import print_jsonl, print_table, scan

    reader_cfg = load_config(args.config).reader if args.config else ReaderConfig()
    if args.engine:
        reader_cfg = dataclasses.replace(reader_cfg, engine=args.engine)
    results = scan(args.paths, reader_cfg)
    (print_jsonl if args.jsonl else print_table)(results)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    from ..privacy.out_files import refuse_in_unit_data_dir

    if args.workdir:
        refuse_in_unit_data_dir(args.workdir, "--workdir")
    return run_demo(args.workdir, args.cameras)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-agent", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"edge-agent {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    parser.add_argument("--debug", action="store_true", help="show tracebacks (for developers)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run the agent on the configured camera")
    p.add_argument("--config", default=DEFAULT_CONFIG_PATH, help=f"config file (default {DEFAULT_CONFIG_PATH})")
    p.add_argument("--drain-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="after a file or folder source ends, wait this long for the broker to take "
                        "queued hits (default 30)")
    p.set_defaults(func=cmd_run, data_owner=True)

    p = sub.add_parser("check-config", help="validate a config file and its hot list")
    p.add_argument("config", nargs="?", default=DEFAULT_CONFIG_PATH, help="config file")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("scan", help="read plates in photos, videos or folders; nothing is stored or sent")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--jsonl", action="store_true", help="one JSON object per photo or frame")
    p.add_argument("--engine", choices=ENGINES, help="reader engine (default: ppocr)")
    p.add_argument("--config", help="take the [reader] settings from this config file")
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("demo", help="run the whole chain on rendered footage with a private broker")
    p.add_argument("--workdir", help="keep the demo's files here (default: a temporary folder)")
    p.add_argument("--cameras", type=int, default=1, choices=range(1, 5), metavar="N",
                   help="read the clip as N cameras of one unit ([[cameras]]), 1 to 4 (default 1)")
    p.set_defaults(func=cmd_demo)

    # Each further command group lives beside the code it drives and adds
    # its own subcommands here: register(sub) -> None.
    for module in COMMAND_MODULES:
        importlib.import_module(f"edge_agent.commands.{module}").register(sub)
    return parser


def bound_heap() -> None:
    """Keep the heap from growing frame after frame on glibc.

    glibc raises its mmap threshold each time a large block is freed, after
    which the per-frame tensors (megabytes each) come from the heap and
    fragment it: measured on the highway clip, resident memory crept from
    365 MB to 550 MB-1.5 GB. Pinning the threshold at its 128 KiB default
    returns those blocks to the system at once; peak RSS stays at ~325 MB.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass  # not glibc (musl, macOS): nothing to pin


def become_data_owner(args: argparse.Namespace, argv: list[str]) -> None:
    """For commands marked data_owner=True: see data_owner.py. Before the command opens anything."""
    from ..privacy.data_owner import run_as_data_owner

    run_as_data_owner(load_config(args.config, check_files=False).storage.data_dir, argv)


def main(argv: list[str] | None = None) -> int:
    bound_heap()
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        if getattr(args, "data_owner", False):
            become_data_owner(args, sys.argv[1:] if argv is None else list(argv))
        return args.func(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return exc.exit_code
    except AgentError as exc:
        if args.debug:
            raise
        print(f"edge-agent: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK  # `edge-agent scan ... | head` is not an error
    except Exception as exc:  # a bug: say so in one line, keep the traceback for --debug
        if args.debug:
            raise
        print(f"edge-agent: internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
              file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
