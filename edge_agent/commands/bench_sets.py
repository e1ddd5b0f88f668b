"""The labelled sets `edge-agent bench` reads: photos, crops and their labels.

Two layouts: the openalpr benchmark's (NAME.jpg beside NAME.txt holding
`NAME.jpg<TAB>x<TAB>y<TAB>w<TAB>h<TAB>PLATE`) and a crops folder with a
groundtruth.csv (`file,state,PLATE`). A folder holding neither but
subfolders that do (a benchmark's `endtoend/` with `us/`, `eu/`, `br/`) is
each of its subfolders, one set a region.

A label that cannot be used is reported on one line on stderr and skipped,
and so is an image that cannot be read: one bad file never throws away a
whole run's figures. A label naming an image that is missing is read from
the image beside it with its name and another ending (public labels name
NAME.png beside NAME.jpg).
"""

from __future__ import annotations

import csv
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..vision.image_header import ImageRejected, ImageTooBig, load_image
from ..records import Box

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class Sample:
    path: Path
    plate: str
    box: Box | None  # None for crops: the whole image is the plate
    region: str = ""  # where known: the crop's state, else the set's folder name


def report(message: str) -> None:
    """One line on stderr about one file; the run goes on."""
    print(f"bench: {message}", file=sys.stderr)


def label_sets(folders: list[Path]) -> list[Path]:
    """The folders that hold labels: each folder given, or its labelled subfolders where it holds none."""
    out = []
    for folder in folders:
        if not folder.is_dir():
            raise InputError(f"bench: no such folder: {folder}")
        if _has_labels(folder):
            out.append(folder)
            continue
        subs = sorted(sub for sub in folder.iterdir() if sub.is_dir() and _has_labels(sub))
        if not subs:
            raise InputError(f"bench: {folder} has neither groundtruth.csv nor NAME.txt labels, "
                             "nor subfolders with them")
        out += subs
    return out


def _has_labels(folder: Path) -> bool:
    return (folder / "groundtruth.csv").is_file() or any(folder.glob("*.txt"))


def load_samples(folder: Path) -> tuple[str, list[Sample]]:
    """The set's kind ("photos" or "crops") and its usable samples; each unusable label reported and skipped."""
    if not folder.is_dir():
        raise InputError(f"bench: no such folder: {folder}")
    truth = folder / "groundtruth.csv"
    if truth.is_file():
        return "crops", _crops(folder, truth)
    samples = []
    for label in sorted(folder.glob("*.txt")):
        try:
            lines = label.read_text(errors="replace").splitlines()
        except OSError as exc:
            report(f"{label}: cannot be read ({exc.strerror}); skipped")
            continue
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            parts = line.strip().split("\t")
            if len(parts) != 6 or not all(v.strip().lstrip("-").isdigit() for v in parts[1:5]):
                report(f"{label}:{n}: expected NAME<TAB>x<TAB>y<TAB>w<TAB>h<TAB>PLATE; skipped")
                continue
            image = _image_for(folder / parts[0], f"{label}:{n}")
            if image is None:
                continue
            x, y, w, h = (int(v) for v in parts[1:5])
            samples.append(Sample(image, parts[5].strip().upper(), Box(x, y, w, h), folder.name))
    if not samples:
        raise InputError(f"bench: {folder} has no usable NAME.txt labels")
    return "photos", samples


def _crops(folder: Path, truth: Path) -> list[Sample]:
    samples = []
    with truth.open(newline="", errors="replace") as f:
        for n, row in enumerate(csv.reader(f), 1):
            if not row or row[0].startswith("#"):
                continue
            if len(row) < 3 or not row[2].strip():
                report(f"{truth}:{n}: expected file,state,PLATE; skipped")
                continue
            image = _image_for(folder / row[0], f"{truth}:{n}")
            if image is not None:
                samples.append(Sample(image, row[2].strip().upper(), None, row[1].strip().lower() or folder.name))
    if not samples:
        raise InputError(f"bench: {truth} has no usable rows")
    return samples


def _image_for(named: Path, where: str) -> Path | None:
    """The image a label names, or the one beside it with its name and another ending."""
    if named.is_file():
        return named
    beside = [named.with_suffix(s) for s in IMAGE_SUFFIXES if named.with_suffix(s).is_file()]
    if beside:
        report(f"{where}: {named.name} is missing; read {beside[0].name} beside it")
        return beside[0]
    report(f"{where}: {named.name} is missing, and no image of that name is beside it; skipped")
    return None


def read_image(sample: Sample) -> np.ndarray | None:
    """The sample's image, or None (reported) where it cannot be decoded or is too big to (image_header.py)."""
    try:
        return load_image(sample.path)
    except ImageTooBig as exc:
        report(f"{sample.path}: {exc}; skipped")
    except ImageRejected:
        report(f"{sample.path}: not an image this bench can decode; skipped")
    return None


def set_name(folder: Path) -> str:
    # "endtoend/us" and "ocr/us" must not both print as "us".
    return "/".join(folder.resolve().parts[-2:])


def fold_o_i(text: str) -> str:
    # Some EU labels write O for 0 and I for 1 (and plates themselves share
    # glyphs), so a folded score is reported beside the exact one.
    return text.replace("O", "0").replace("I", "1")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Progress:
    """A one-line progress bar on a terminal; silent when piped."""

    def __init__(self, total: int, label: str):
        self.total, self.label = total, label
        self.on = sys.stderr.isatty()

    def step(self, done: int) -> None:
        if self.on:
            filled = int(30 * done / max(1, self.total))
            sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {done}/{self.total}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.on:
            sys.stderr.write("\r" + " " * (len(self.label) + 45) + "\r")


@dataclass(frozen=True)
class Alteration:
    """How `bench accuracy` changes each photo before reading it (the defaults: not at all)."""

    scale: float = 1.0
    jpeg: int = 0  # re-save as JPEG of this quality; 0: no

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if self.scale != 1.0:
            how = cv2.INTER_AREA if self.scale < 1.0 else cv2.INTER_CUBIC
            image = cv2.resize(image, None, fx=self.scale, fy=self.scale, interpolation=how)
        if self.jpeg:
            image = cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg])[1],
                                 cv2.IMREAD_COLOR)
        return image

    def box(self, box: Box) -> Box:
        f = self.scale
        return Box(round(box.x * f), round(box.y * f), max(1, round(box.w * f)), max(1, round(box.h * f)))


# A stream frame is at most this wide (a 1280x720 camera), so a photo read
# as one is shrunk to it first.
STREAM_WIDTH = 1280


def stream_shrink(image: np.ndarray) -> Alteration:
    """How a photo read as a camera frame is resized: shrunk to STREAM_WIDTH if wider."""
    return Alteration(scale=min(1.0, STREAM_WIDTH / image.shape[1]))


def as_stream_frame(image: np.ndarray, plate: Box) -> tuple[np.ndarray, Box]:
    """The photo shrunk to a camera frame's width if wider, and its plate box with it."""
    shrink = stream_shrink(image)
    return shrink(image), shrink.box(plate)


def centre_inside(found: Box, truth: Box) -> bool:
    cx, cy = found.center
    return truth.x <= cx <= truth.x + truth.w and truth.y <= cy <= truth.y + truth.h
