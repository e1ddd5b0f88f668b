"""The options every bench command shares: which reader and which detector a run uses."""

from __future__ import annotations

import argparse
from dataclasses import replace

from ..config import ReaderConfig
from ..config.reader import DETECTORS, ENGINES
from ..errors import InputError

READERS = tuple(f"{e}+plate" for e in ENGINES) + ENGINES
DEFAULT_READER = f"{ReaderConfig.engine}+plate" if ReaderConfig.plate_recognizer else ReaderConfig.engine


def reader_config(cfg: ReaderConfig, name: str) -> ReaderConfig:
    """The reader settings a --reader name stands for."""
    if name not in READERS:
        raise InputError(f"bench: --reader: unknown reader {name!r} (choose from {', '.join(READERS)})")
    engine, _, plate = name.partition("+")
    return replace(cfg, engine=engine, plate_recognizer=bool(plate))


def add_detector(p: argparse.ArgumentParser) -> None:
    p.add_argument("--detector", choices=DETECTORS, default=ReaderConfig.detector,
                   help=f"text detector model (default: {ReaderConfig.detector})")


def add_reader(p: argparse.ArgumentParser, several: bool = False) -> None:
    p.add_argument("--reader", default=DEFAULT_READER,
                   help=f"reader{'(s), comma separated' if several else ''}: {', '.join(READERS)} "
                        f"(default: {DEFAULT_READER})")
