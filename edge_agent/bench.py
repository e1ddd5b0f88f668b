"""`edge-agent bench`: accuracy and speed figures, printed, never asserted.

  bench accuracy DIR [--reader ppocr,easyocr] [--detector auto|float|int8] [--scale F] [--jpeg Q] [--passes N]
      DIR in the openalpr benchmark layout (NAME.jpg + NAME.txt with
      `NAME.jpg<TAB>x<TAB>y<TAB>w<TAB>h<TAB>PLATE`) or a crops folder with
      groundtruth.csv (`file,state,PLATE`). Prints exact %, folded % (O=0,
      I=1), detection rate, median and p90 ms per photo and peak RSS, one row
      per reader, all measured in the same run. Photos and crops are read
      as stills (each row at four heights, read.STILL_TRIMS), as the agent
      reads an image folder; video frames are read once (bench speed).
      --passes N reads each photo as N frames of its vehicle driving away
      (passes.py) through the tracker, and counts a plate read when the
      agent reports it.
  bench speed [--video FILE] [--size 1280x720] [--seconds N] [--detector auto|float|int8]
      Frames per second and per-stage milliseconds of the full pipeline.
  bench false-reads DIR [--list] [--as-stream | --passes N]
      Reads left on labelled photos once their plate is painted out; --list
      names each, to be sorted by eye into other vehicles' plates and
      invented reads. Reads of letters alone are also counted apart: the
      agent keeps them only when they hit. --as-stream reads each photo as
      a camera frame (one look, rows read once) instead of as a still;
      --passes N as N frames of a vehicle's pass, through the tracker, and
      counts the vehicles the agent would report too.
  bench soak --video FILE [--frames 10000]
      Resident memory of the whole running agent, sampled as it goes.
"""

from __future__ import annotations

import argparse
import csv
import resource
import statistics
import sys
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np

from .config import ReaderConfig, TrackerConfig
from .config.reader import DETECTORS, ENGINES
from .detect import TextLinePlateDetector
from .errors import InputError
from .ocr import describe_detector
from .passes import END_SCALE, PASS_FPS, PASS_GAP_SECONDS, read_pass
from .plates import letters_only
from .read import make_reader, read_frame
from .records import Box, Frame
from .track import Tracker


@dataclass(frozen=True)
class Sample:
    path: Path
    plate: str
    box: Box | None  # None for crops: the whole image is the plate


def load_samples(folder: Path) -> tuple[str, list[Sample]]:
    if not folder.is_dir():
        raise InputError(f"bench: no such folder: {folder}")
    truth = folder / "groundtruth.csv"
    if truth.is_file():
        with truth.open(newline="") as f:
            rows = [r for r in csv.reader(f) if r and not r[0].startswith("#")]
        return "crops", [Sample(folder / r[0], r[2].strip().upper(), None) for r in rows if len(r) >= 3]
    samples = []
    for label in sorted(folder.glob("*.txt")):
        for n, line in enumerate(label.read_text().splitlines(), 1):
            parts = line.strip().split("\t")
            if not line.strip():
                continue
            if len(parts) != 6:
                raise InputError(f"{label}:{n}: expected NAME<TAB>x<TAB>y<TAB>w<TAB>h<TAB>PLATE")
            x, y, w, h = (int(v) for v in parts[1:5])
            samples.append(Sample(folder / parts[0], parts[5].strip().upper(), Box(x, y, w, h)))
    if not samples:
        raise InputError(f"bench: {folder} has neither groundtruth.csv nor NAME.txt labels")
    return "photos", samples


def _set_name(folder: Path) -> str:
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


def accuracy(folder: Path, engine: str, cfg: ReaderConfig, alter: Alteration = Alteration(),
             passes: int = 0) -> dict:
    kind, samples = load_samples(folder)
    cfg = replace(cfg, engine=engine)
    if passes:
        if kind != "photos":
            raise InputError(f"bench: --passes needs labelled photos (NAME.txt), not crops: {folder}")
        return _accuracy_of_passes(folder, samples, cfg, passes)
    detector = TextLinePlateDetector(cfg)
    reader = make_reader(cfg)
    exact = folded = detected = 0
    times = []
    progress = Progress(len(samples), f"{_set_name(folder)}/{engine}")
    for i, sample in enumerate(samples):
        image = alter(_read_image(sample))
        start = time.perf_counter()
        if kind == "crops":
            reads = reader.read_crop(image)
        else:
            frame = Frame(image, 0, datetime.now(timezone.utc), str(sample.path), still=True)
            reads = read_frame(frame, detector, reader)
        times.append((time.perf_counter() - start) * 1000)
        best = reads[0].text if reads else ""
        exact += best == sample.plate
        folded += fold_o_i(best) == fold_o_i(sample.plate)
        if sample.box is None:
            detected += bool(reads)
        else:
            truth = alter.box(sample.box)
            detected += any(r.box.iou(truth) > 0.3 or _centre_inside(r.box, truth) for r in reads)
        progress.step(i + 1)
    progress.close()
    n = len(samples)
    return {"set": _set_name(folder), "kind": kind, "reader": engine, "n": n, "exact": 100 * exact / n,
            "folded": 100 * folded / n, "detected": 100 * detected / n,
            "median_ms": statistics.median(times), "p90_ms": float(np.percentile(times, 90)),
            "peak_rss_mb": peak_rss_mb()}


def _accuracy_of_passes(folder: Path, samples: list[Sample], cfg: ReaderConfig, frames: int) -> dict:
    """Each labelled plate as a vehicle's pass (passes.py): is it among what the agent reports?"""
    detector = TextLinePlateDetector(cfg)
    reader = make_reader(cfg)
    tracker = Tracker(TrackerConfig())
    exact = folded = 0
    times = []
    t0 = datetime.now(timezone.utc)
    progress = Progress(len(samples), f"{_set_name(folder)}/{cfg.engine}/passes")
    for i, sample in enumerate(samples):
        image, plate = _as_stream_frame(_read_image(sample), sample.box)
        start = time.perf_counter()
        result = read_pass(image, plate, frames, t0 + timedelta(seconds=i * PASS_GAP_SECONDS),
                           str(sample.path), detector, reader, tracker)
        times.append((time.perf_counter() - start) * 1000 / frames)
        texts = [v.text for v in result.vehicles]
        exact += sample.plate in texts
        folded += fold_o_i(sample.plate) in map(fold_o_i, texts)
        progress.step(i + 1)
    progress.close()
    n = len(samples)
    return {"set": _set_name(folder), "kind": "passes", "reader": cfg.engine, "n": n,
            "exact": 100 * exact / n, "folded": 100 * folded / n, "detected": float("nan"),
            "median_ms": statistics.median(times), "p90_ms": float(np.percentile(times, 90)),
            "peak_rss_mb": peak_rss_mb()}


# A stream frame is at most this wide (a 1280x720 camera), so a photo read
# as one is shrunk to it first.
STREAM_WIDTH = 1280


def false_reads(folder: Path, cfg: ReaderConfig, as_stream: bool = False, passes: int = 0) -> dict:
    """Reads on photos whose labelled plate has been painted out.

    An upper bound on invented reads: a photo may show another vehicle's
    real plate, which counts here too. `as_stream` reads each photo as a
    camera's frame rather than as a still of an image folder: at most
    STREAM_WIDTH wide, scanned whole, each row read once and at one look,
    as every frame of a stream is before the tracker votes. `passes` reads
    each photo as that many frames of its vehicle driving away (passes.py),
    through the tracker, and counts what the agent reports as well.
    """
    kind, samples = load_samples(folder)
    if kind != "photos":
        raise InputError(f"bench: false-reads needs labelled photos (NAME.txt), not crops: {folder}")
    if as_stream:
        # Each photo is another scene: no following of the last one's rows,
        # no settled rows carried over from it.
        cfg = replace(cfg, full_scan_seconds=0.0, reread_every=1)
    detector = TextLinePlateDetector(cfg)
    reader = make_reader(cfg)
    tracker = Tracker(TrackerConfig())
    found: list[tuple[str, str, Box]] = []
    vehicles: list[tuple[str, str, float, int]] = []
    t0 = datetime.now(timezone.utc)
    progress = Progress(len(samples), f"{_set_name(folder)}/false-reads")
    for i, sample in enumerate(samples):
        image = _read_image(sample)
        b = sample.box
        mask = np.zeros(image.shape[:2], np.uint8)
        mask[max(0, b.y - 4):b.y + b.h + 4, max(0, b.x - 4):b.x + b.w + 4] = 255
        # Inpainting leaves a plate-sized smooth patch, not a black box that
        # the detector could find edges on.
        blanked = cv2.inpaint(image, mask, 5, cv2.INPAINT_TELEA)
        if passes:
            picture, plate = _as_stream_frame(blanked, b)
            result = read_pass(picture, plate, passes, t0 + timedelta(seconds=i * PASS_GAP_SECONDS),
                               str(sample.path), detector, reader, tracker)
            found += [(sample.path.name, r.text, r.box) for r in result.frame_reads]
            vehicles += [(sample.path.name, v.text, v.confidence, v.frames) for v in result.vehicles]
            progress.step(i + 1)
            continue
        shrink = _stream_shrink(blanked) if as_stream else Alteration()
        # Stamped a minute apart: nothing of one photo's scan carries over to the next.
        frame = Frame(shrink(blanked), i, t0 + timedelta(minutes=i), str(sample.path), still=not as_stream)
        # Boxes are listed in the photo's own pixels.
        back = Alteration(scale=1.0 / shrink.scale)
        found += [(sample.path.name, r.text, back.box(r.box)) for r in read_frame(frame, detector, reader)]
        progress.step(i + 1)
    progress.close()
    frames = len(samples) * (passes or 1)
    return {"set": _set_name(folder), "photos": len(samples), "frames": frames, "reads": len(found),
            "per_1000": 1000 * len(found) / frames, "found": found,
            "letters_only": sum(letters_only(text) for _, text, _ in found),
            "vehicles": vehicles, "vehicles_per_1000": 1000 * len(vehicles) / frames,
            "vehicles_letters_only": sum(letters_only(text) for _, text, _, _ in vehicles)}


def _stream_shrink(image: np.ndarray) -> Alteration:
    """How a photo read as a camera frame is resized: shrunk to STREAM_WIDTH if wider."""
    return Alteration(scale=min(1.0, STREAM_WIDTH / image.shape[1]))


def _as_stream_frame(image: np.ndarray, plate: Box) -> tuple[np.ndarray, Box]:
    """The photo shrunk to a camera frame's width if wider, and its plate box with it."""
    shrink = _stream_shrink(image)
    return shrink(image), shrink.box(plate)


def _read_image(sample: Sample) -> np.ndarray:
    image = cv2.imread(str(sample.path))
    if image is None:
        raise InputError(f"bench: cannot read image {sample.path}")
    return image


def _centre_inside(found: Box, truth: Box) -> bool:
    cx, cy = found.center
    return truth.x <= cx <= truth.x + truth.w and truth.y <= cy <= truth.y + truth.h


# Frames per second of the stream `bench speed` plays (the highway clip is 24.2).
SPEED_FPS = 25.0


def speed(video: Path | None, size: tuple[int, int], seconds: float, cfg: ReaderConfig,
          live: bool = False) -> dict:
    """Per-stage times of the pipeline on a stream.

    By default every frame of the stream is processed, 1/25 s apart in
    camera time, as from a file. `live` plays it as a live camera does to
    a unit that is busy: the next frame is the one the camera shows when
    the last one is done, so the frames between are never seen and a plate
    moves as far between two processed frames as it does on the unit.
    """
    detector = TextLinePlateDetector(cfg)
    reader = make_reader(cfg)
    tracker = Tracker(TrackerConfig())
    stages: dict[str, list[float]] = {"detect": [], "read": [], "track": [], "total": []}
    whole: list[float] = []  # total ms of the frames scanned whole
    t0 = datetime.now(timezone.utc)
    deadline = time.monotonic() + seconds
    progress = Progress(int(seconds), "speed")
    frames = _frames(video, size)
    image, shown, camera_seconds = next(frames), 0, 0.0
    i = 0
    while time.monotonic() < deadline or i < 3:
        frame = Frame(image, i, t0 + timedelta(seconds=camera_seconds), "bench")
        scanned_whole = detector.scans.full
        a = time.perf_counter()
        candidates = detector(frame)
        b = time.perf_counter()
        reads = reader(frame, candidates)
        c = time.perf_counter()
        tracker.update(reads, frame.captured_at)
        d = time.perf_counter()
        for name, ms in (("detect", b - a), ("read", c - b), ("track", d - c), ("total", d - a)):
            stages[name].append(ms * 1000)
        if detector.scans.full > scanned_whole:
            whole.append((d - a) * 1000)
        i += 1
        progress.step(min(int(seconds), int(seconds - (deadline - time.monotonic()))))
        # Decoding the frames skipped is outside the timed stages.
        camera_seconds += max(1 / SPEED_FPS, d - a) if live else 1 / SPEED_FPS
        while shown < round(camera_seconds * SPEED_FPS):
            image, shown = next(frames), shown + 1
    progress.close()
    median = {k: statistics.median(v) for k, v in stages.items()}
    return {"frames": i, "fps": 1000 / median["total"], "median_ms": median,
            "mean_total_ms": statistics.mean(stages["total"]),
            "p90_total_ms": float(np.percentile(stages["total"], 90)), "peak_rss_mb": peak_rss_mb(),
            "whole_scans": len(whole), "whole_median_ms": statistics.median(whole),
            "stream_frames": shown + 1, "live": live,
            "size": f"{size[0]}x{size[1]}", "source": str(video) if video else "rendered"}


def _frames(video: Path | None, size: tuple[int, int]):
    """Frames of the video (or rendered ones), over and over, decoded as needed.

    Decoding is outside the timed stages; frames are not kept, so peak RSS
    is the pipeline's own.
    """
    from .demo_footage import render_frames

    while True:
        count = 0
        if video is None:
            source = render_frames(seconds=5.0)
        else:
            cap = cv2.VideoCapture(str(video))
            if not cap.isOpened():
                raise InputError(f"bench: cannot open video {video}")
            source = _read_all(cap)
        for image in source:
            count += 1
            yield image if (image.shape[1], image.shape[0]) == size else cv2.resize(image, size)
        if count == 0:
            raise InputError(f"bench: no frames in {video}")


def _read_all(cap):
    ok, image = cap.read()
    while ok:
        yield image
        ok, image = cap.read()
    cap.release()


def print_accuracy(rows: list[dict]) -> None:
    print(f"{'set':<14} {'reader':<8} {'n':>4} {'exact':>7} {'folded':>7} {'detected':>9} "
          f"{'median':>9} {'p90':>9} {'peak RSS':>9}")
    for r in rows:
        # A pass has no one box to check (the plate moves), so no detection rate.
        detected = "-" if r["kind"] == "passes" else f"{r['detected']:.1f}%"
        print(f"{r['set']:<14} {r['reader']:<8} {r['n']:>4} {r['exact']:>6.1f}% {r['folded']:>6.1f}% "
              f"{detected:>9} {r['median_ms']:>6.0f} ms {r['p90_ms']:>6.0f} ms {r['peak_rss_mb']:>6.0f} MB")


def cmd_accuracy(args: argparse.Namespace) -> int:
    cfg = ReaderConfig(detector=args.detector)
    if not 0.1 <= args.scale <= 4.0:
        raise InputError(f"bench: --scale must be between 0.1 and 4, not {args.scale}")
    if not 0 <= args.jpeg <= 100:
        raise InputError(f"bench: --jpeg must be a JPEG quality of 1 to 100 (0: no re-saving), not {args.jpeg}")
    alter = Alteration(args.scale, args.jpeg)
    if args.passes and alter != Alteration():
        raise InputError("bench: --passes reads each photo as it is: no --scale or --jpeg with it")
    print(describe_detector(cfg.detector)
          + (f"; photos scaled by {args.scale:g}" if args.scale != 1.0 else "")
          + (f"; re-saved as JPEG quality {args.jpeg}" if args.jpeg else "")
          + (_passes_line(args.passes) if args.passes else ""))
    rows = []
    for folder in args.dirs:
        for engine in args.reader.split(","):
            if engine not in ENGINES:
                raise InputError(f"bench: --reader: unknown reader {engine!r} (choose from {', '.join(ENGINES)})")
            rows.append(accuracy(Path(folder), engine, cfg, alter, args.passes))
    print_accuracy(rows)
    return 0


def _passes_line(frames: int) -> str:
    return (f"; each photo read as a vehicle's pass of {frames} frames ({frames / PASS_FPS:.2f} s at "
            f"{PASS_FPS:g} fps, driving away to {END_SCALE:g}x its size), through the tracker")


def cmd_false_reads(args: argparse.Namespace) -> int:
    if args.passes and args.as_stream:
        raise InputError("bench: --passes already reads photos as stream frames: no --as-stream with it")
    cfg = ReaderConfig(detector=args.detector)
    print(describe_detector(cfg.detector)
          + (f"; photos read as stream frames (at most {STREAM_WIDTH} wide, one look)" if args.as_stream else "")
          + (_passes_line(args.passes) if args.passes else ""))
    results = [false_reads(Path(folder), cfg, args.as_stream, args.passes) for folder in args.dirs]
    # Letters-only reads are counted apart: the agent keeps them only when
    # they hit (service.py), so they become neither vehicles nor non-hits.
    print(f"{'set':<14} {'photos':>6} {'frames':>6} {'reads':>6} {'per 1000':>9} {'letters-only':>13}"
          + (f" {'vehicles':>9} {'per 1000':>9} {'letters-only':>13}" if args.passes else ""))
    for r in results:
        print(f"{r['set']:<14} {r['photos']:>6} {r['frames']:>6} {r['reads']:>6} {r['per_1000']:>9.1f} "
              f"{r['letters_only']:>13}"
              + (f" {len(r['vehicles']):>9} {r['vehicles_per_1000']:>9.2f} {r['vehicles_letters_only']:>13}"
                 if args.passes else ""))
        if args.list:
            # For sorting by eye into other vehicles' plates and invented reads.
            for name, text, box in r["found"]:
                print(f"    {name}  {text}  at x={box.x} y={box.y} w={box.w} h={box.h}"
                      + ("  (letters only: kept only if it hits)" if letters_only(text) else ""))
            if args.passes:
                print("  reported by the agent (vehicles):")
                for name, text, confidence, frames in r["vehicles"]:
                    print(f"    {name}  {text}  confidence {confidence:.2f} over {frames} frames"
                          + ("  (letters only: kept only if it hits)" if letters_only(text) else ""))
    return 0


def cmd_speed(args: argparse.Namespace) -> int:
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise InputError(f"bench: --size: expected WIDTHxHEIGHT, got {args.size!r}") from None
    cfg = ReaderConfig(detector=args.detector, full_scan_seconds=args.full_scan_seconds,
                       reread_every=args.reread_every)
    for key, problem in cfg.problems():
        raise InputError(f"bench: --{key.replace('_', '-')}: {problem}")
    print(describe_detector(cfg.detector))
    r = speed(Path(args.video) if args.video else None, (w, h), args.seconds, cfg, live=args.live)
    m = r["median_ms"]
    print(f"source {r['source']} at {r['size']}: {r['frames']} frames, {r['fps']:.2f} fps (from the median frame)")
    if r["live"]:
        print(f"live: {r['frames']} of the {r['stream_frames']} frames a {SPEED_FPS:g} fps camera showed "
              "meanwhile were processed; the others passed while the unit was busy")
    print(f"median ms per frame: detect {m['detect']:.1f}, read {m['read']:.1f}, track {m['track']:.2f}, "
          f"total {m['total']:.1f} (p90 {r['p90_total_ms']:.1f}, mean {r['mean_total_ms']:.1f}); "
          f"peak RSS {r['peak_rss_mb']:.0f} MB")
    every = f"every {cfg.full_scan_seconds:g} s" if cfg.full_scan_seconds else "every frame"
    rest = "; the rest followed the plates in view" if r["whole_scans"] < r["frames"] else ""
    print(f"whole-frame scans: {r['whole_scans']} of {r['frames']} frames ({every}), "
          f"median total {r['whole_median_ms']:.1f} ms{rest}")
    return 0


def _pass_frames(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 2:
        raise argparse.ArgumentTypeError(f"expected a number of frames of at least 2, got {value!r}")
    return n


def _add_passes(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--passes", type=_pass_frames, default=0, metavar="FRAMES",
                   help="read each photo as a vehicle's pass of FRAMES stream frames, driving away, "
                        f"through the tracker, and {what} (default: one look at each photo)")


def _add_detector(p: argparse.ArgumentParser) -> None:
    p.add_argument("--detector", choices=DETECTORS, default=ReaderConfig.detector,
                   help=f"text detector model (default: {ReaderConfig.detector})")


def register(sub) -> None:
    bench = sub.add_parser("bench", help="measure accuracy and speed (figures are printed)")
    kinds = bench.add_subparsers(dest="bench", required=True, metavar="KIND")
    p = kinds.add_parser("accuracy", help="exact and folded read rates on labelled photos or crops")
    p.add_argument("dirs", nargs="+", metavar="DIR")
    p.add_argument("--reader", default="ppocr", help="reader engine(s), comma separated (default: ppocr)")
    _add_detector(p)
    p.add_argument("--scale", type=float, default=1.0, help="resize each photo by this factor first (default 1)")
    p.add_argument("--jpeg", type=int, default=0, help="re-save each photo as JPEG of this quality first (default: no)")
    _add_passes(p, "count a plate as read when the agent reports it")
    p.set_defaults(func=cmd_accuracy)
    p = kinds.add_parser("false-reads", help="reads left on labelled photos once their plate is painted out")
    p.add_argument("dirs", nargs="+", metavar="DIR")
    p.add_argument("--list", action="store_true", help="print each read with its photo and box")
    p.add_argument("--as-stream", action="store_true",
                   help=f"read each photo as a camera frame (at most {STREAM_WIDTH} wide, one look, rows read once), "
                        "not as a still of an image folder")
    _add_detector(p)
    _add_passes(p, "count what the agent reports too")
    p.set_defaults(func=cmd_false_reads)
    p = kinds.add_parser("soak", help="resident memory of the running agent over many frames")
    from . import soak

    soak.add_arguments(p)
    p.set_defaults(func=soak.run)
    p = kinds.add_parser("speed", help="frames per second and per-stage milliseconds")
    p.add_argument("--video", help="frames from this video (default: rendered demo frames)")
    p.add_argument("--size", default="1280x720", help="frame size WIDTHxHEIGHT (default 1280x720)")
    p.add_argument("--seconds", type=float, default=20.0, help="how long to run (default 20)")
    _add_detector(p)
    p.add_argument("--full-scan-seconds", type=float, default=ReaderConfig.full_scan_seconds,
                   help="scan the whole frame this often, following plates between "
                        f"(0: every frame; default {ReaderConfig.full_scan_seconds:g})")
    p.add_argument("--live", action="store_true",
                   help="take frames as a live camera delivers them to a busy unit, skipping those that "
                        "pass meanwhile (default: every frame, as from a file)")
    p.add_argument("--reread-every", type=int, default=ReaderConfig.reread_every,
                   help="read a settled plate again every this many frames "
                        f"(1: every plate in every frame; default {ReaderConfig.reread_every})")
    p.set_defaults(func=cmd_speed)
