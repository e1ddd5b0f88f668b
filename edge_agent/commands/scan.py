"""`edge-agent scan`: read plates in photos, videos or folders, keeping nothing.

Nothing is stored or published: the reads go to standard output only, for a
technician checking a camera's footage or a developer checking the reader.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from ..vision.capture import IMAGE_EXTENSIONS, natural_key, open_source
from ..config import CameraConfig, ReaderConfig
from ..vision.detect import TextLinePlateDetector
from ..errors import InputError
from ..vision.read import make_reader, read_frame
from ..records import Frame, PlateRead


VIDEO_EXTENSIONS = {".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts"}


def expand(paths: list[str]) -> list[str]:
    """Each photo or video, with folders opened to their photos and videos in name order."""
    out: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = [p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                     and (p.suffix.lower() in IMAGE_EXTENSIONS or p.suffix.lower() in VIDEO_EXTENSIONS)]
            out.extend(str(p) for p in sorted(files, key=lambda p: natural_key(p.name)))
        elif path.exists():
            out.append(raw)
        else:
            raise InputError(f"scan: no such file or folder: {raw}")
    return out


def scan(paths: list[str], reader_cfg: ReaderConfig) -> Iterator[tuple[str, Frame, list[PlateRead]]]:
    detector = TextLinePlateDetector(reader_cfg)
    # Each line is what this frame reads: no settled plate is passed on unread.
    reader = make_reader(replace(reader_cfg, reread_every=1))
    for path in expand(paths):
        with open_source(CameraConfig(source=path)) as source:
            for frame in source.frames():
                yield path, frame, read_frame(frame, detector, reader)


def print_jsonl(results, out: TextIO = sys.stdout) -> int:
    count = 0
    for path, frame, reads in results:
        plates = [{"text": r.text, "confidence": round(r.confidence, 3), "box": r.box.as_list()} for r in reads]
        out.write(json.dumps({"source": path, "frame": frame.index, "plates": plates}) + "\n")
        out.flush()
        count += len(reads)
    return count


def print_table(results, out: TextIO = sys.stdout) -> int:
    out.write(f"{'SOURCE':<40} {'FRAME':>5}  {'PLATE':<10} {'CONF':>5}  BOX\n")
    count = 0
    for path, frame, reads in results:
        name = path if len(path) <= 40 else "..." + path[-37:]
        if not reads and not _is_video(path):
            out.write(f"{name:<40} {frame.index:>5}  {'-':<10} {'':>5}\n")
        for r in reads:
            box = ",".join(str(v) for v in r.box.as_list())
            out.write(f"{name:<40} {frame.index:>5}  {r.text:<10} {r.confidence:>5.2f}  {box}\n")
        out.flush()
        count += len(reads)
    return count


def _is_video(path: str) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS
