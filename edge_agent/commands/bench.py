"""`edge-agent bench`: accuracy and speed figures, printed, never asserted.

  bench accuracy DIR... [--reader ppocr+plate,ppocr,easyocr] [--detector auto|float|int8]
                        [--scale F] [--jpeg Q] [--passes N] [--jsonl FILE]
      DIR in the openalpr benchmark layout or a crops folder with
      groundtruth.csv (bench_sets.py), or a folder of such folders (one
      set a region). Prints exact %, folded % (O=0, I=1), detection rate,
      median and p90 ms per photo and peak RSS, one row per set and
      reader, all measured in the same run. Photos and crops are read as
      stills (each row at four heights, read.STILL_TRIMS), as the agent
      reads an image folder; video frames are read once (bench speed).
      --passes N reads each photo as N frames of its vehicle driving away
      (passes.py) through the tracker, and counts a plate read when the
      agent reports it. --jsonl writes one line per photo: its label, the
      read, every plate read with its confidence and each recognizer's
      own read, and whose read won.
  bench speed [--video FILE] ...                       (bench_speed.py)
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

Readers: `ENGINE` alone (ppocr, easyocr) or `ENGINE+plate`, the engine and
the plate recognizer in consensus (the default, ppocr+plate).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO

import cv2
import numpy as np

from . import bench_idle, bench_speed
from .bench_args import add_detector, add_reader, reader_config
from .bench_sets import (STREAM_WIDTH, Alteration, Progress, as_stream_frame, centre_inside, fold_o_i,
                         label_sets, load_samples, peak_rss_mb, read_image, set_name, stream_shrink)
from ..config import ReaderConfig, TrackerConfig
from ..vision.detect import TextLinePlateDetector
from ..errors import InputError
from ..vision.onnx_models import describe_detector
from ..vision.passes import END_SCALE, PASS_FPS, PASS_GAP_SECONDS, read_pass
from ..plates import letters_only
from ..vision.read import make_reader, read_frame
from ..records import Frame, PlateRead
from ..vision.track import Tracker




def accuracy(folder: Path, reader_name: str, cfg: ReaderConfig, alter: Alteration = Alteration(),
             passes: int = 0, jsonl: IO[str] | None = None) -> dict:
    kind, samples = load_samples(folder)
    cfg = reader_config(cfg, reader_name)
    if passes:
        if kind != "photos":
            raise InputError(f"bench: --passes needs labelled photos (NAME.txt), not crops: {folder}")
        return _accuracy_of_passes(folder, samples, cfg, reader_name, passes)
    detector = TextLinePlateDetector(cfg)
    reader = make_reader(cfg)
    exact = folded = detected = n = 0
    times = []
    progress = Progress(len(samples), f"{set_name(folder)}/{reader_name}")
    for i, sample in enumerate(samples):
        image = read_image(sample)
        progress.step(i + 1)
        if image is None:
            continue
        image = alter(image)
        start = time.perf_counter()
        if kind == "crops":
            reads = reader.read_crop(image)
        else:
            frame = Frame(image, 0, datetime.now(timezone.utc), str(sample.path), still=True)
            reads = read_frame(frame, detector, reader)
        times.append((time.perf_counter() - start) * 1000)
        best = reads[0].text if reads else ""
        n += 1
        exact += best == sample.plate
        folded += fold_o_i(best) == fold_o_i(sample.plate)
        if sample.box is None:
            detected += bool(reads)
        else:
            truth = alter.box(sample.box)
            detected += any(r.box.iou(truth) > 0.3 or centre_inside(r.box, truth) for r in reads)
        if jsonl is not None:
            jsonl.write(json.dumps(_photo_line(folder, reader_name, sample, reads, times[-1])) + "\n")
    progress.close()
    if not n:
        raise InputError(f"bench: no image of {folder} could be read")
    return {"set": set_name(folder), "kind": kind, "reader": reader_name, "n": n, "skipped": len(samples) - n,
            "exact": 100 * exact / n, "folded": 100 * folded / n, "detected": 100 * detected / n,
            "median_ms": statistics.median(times), "p90_ms": float(np.percentile(times, 90)),
            "peak_rss_mb": peak_rss_mb()}


def _photo_line(folder: Path, reader_name: str, sample, reads: list[PlateRead], ms: float) -> dict:
    """One photo's record for --jsonl: enough to study a miss without a private script."""
    best = reads[0] if reads else None
    return {"set": set_name(folder), "region": sample.region, "file": sample.path.name, "reader": reader_name,
            "label": sample.plate, "read": best.text if best else "",
            "exact": bool(best) and best.text == sample.plate,
            "folded": fold_o_i(best.text if best else "") == fold_o_i(sample.plate),
            "won": best.reader if best else "", "ms": round(ms, 1),
            "candidates": [{"text": r.text, "confidence": round(r.confidence, 4), "box": r.box.as_list(),
                            "won": r.reader,
                            "readers": {who: [text, round(conf, 4)] for who, text, conf in r.readers}}
                           for r in reads]}


def _accuracy_of_passes(folder: Path, samples: list, cfg: ReaderConfig, reader_name: str, frames: int) -> dict:
    """Each labelled plate as a vehicle's pass (passes.py): is it among what the agent reports?"""
    detector = TextLinePlateDetector(cfg)
    reader = make_reader(cfg)
    tracker = Tracker(TrackerConfig())
    exact = folded = n = 0
    times = []
    t0 = datetime.now(timezone.utc)
    progress = Progress(len(samples), f"{set_name(folder)}/{reader_name}/passes")
    for i, sample in enumerate(samples):
        photo = read_image(sample)
        progress.step(i + 1)
        if photo is None:
            continue
        image, plate = as_stream_frame(photo, sample.box)
        start = time.perf_counter()
        result = read_pass(image, plate, frames, t0 + timedelta(seconds=i * PASS_GAP_SECONDS),
                           str(sample.path), detector, reader, tracker)
        times.append((time.perf_counter() - start) * 1000 / frames)
        texts = [v.text for v in result.vehicles]
        n += 1
        exact += sample.plate in texts
        folded += fold_o_i(sample.plate) in map(fold_o_i, texts)
    progress.close()
    if not n:
        raise InputError(f"bench: no image of {folder} could be read")
    return {"set": set_name(folder), "kind": "passes", "reader": reader_name, "n": n,
            "skipped": len(samples) - n, "exact": 100 * exact / n, "folded": 100 * folded / n,
            "detected": float("nan"), "median_ms": statistics.median(times),
            "p90_ms": float(np.percentile(times, 90)), "peak_rss_mb": peak_rss_mb()}


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
    found: list[tuple[str, str, object]] = []
    vehicles: list[tuple[str, str, float, int]] = []
    t0 = datetime.now(timezone.utc)
    photos = 0
    progress = Progress(len(samples), f"{set_name(folder)}/false-reads")
    for i, sample in enumerate(samples):
        image = read_image(sample)
        progress.step(i + 1)
        if image is None:
            continue
        photos += 1
        b = sample.box
        mask = np.zeros(image.shape[:2], np.uint8)
        mask[max(0, b.y - 4):b.y + b.h + 4, max(0, b.x - 4):b.x + b.w + 4] = 255
        # Inpainting leaves a plate-sized smooth patch, not a black box that
        # the detector could find edges on.
        blanked = cv2.inpaint(image, mask, 5, cv2.INPAINT_TELEA)
        if passes:
            picture, plate = as_stream_frame(blanked, b)
            result = read_pass(picture, plate, passes, t0 + timedelta(seconds=i * PASS_GAP_SECONDS),
                               str(sample.path), detector, reader, tracker)
            found += [(sample.path.name, r.text, r.box) for r in result.frame_reads]
            vehicles += [(sample.path.name, v.text, v.confidence, v.frames) for v in result.vehicles]
            continue
        shrink = stream_shrink(blanked) if as_stream else Alteration()
        # Stamped a minute apart: nothing of one photo's scan carries over to the next.
        frame = Frame(shrink(blanked), i, t0 + timedelta(minutes=i), str(sample.path), still=not as_stream)
        # Boxes are listed in the photo's own pixels.
        back = Alteration(scale=1.0 / shrink.scale)
        found += [(sample.path.name, r.text, back.box(r.box)) for r in read_frame(frame, detector, reader)]
    progress.close()
    frames = photos * (passes or 1)
    return {"set": set_name(folder), "photos": photos, "frames": frames, "reads": len(found),
            "per_1000": 1000 * len(found) / max(1, frames), "found": found,
            "letters_only": sum(letters_only(text) for _, text, _ in found),
            "vehicles": vehicles, "vehicles_per_1000": 1000 * len(vehicles) / max(1, frames),
            "vehicles_letters_only": sum(letters_only(text) for _, text, _, _ in vehicles)}


def print_accuracy(rows: list[dict]) -> None:
    print(f"{'set':<14} {'reader':<13} {'n':>4} {'exact':>7} {'folded':>7} {'detected':>9} "
          f"{'median':>9} {'p90':>9} {'peak RSS':>9}")
    for r in rows:
        # A pass has no one box to check (the plate moves), so no detection rate.
        detected = "-" if r["kind"] == "passes" else f"{r['detected']:.1f}%"
        print(f"{r['set']:<14} {r['reader']:<13} {r['n']:>4} {r['exact']:>6.1f}% {r['folded']:>6.1f}% "
              f"{detected:>9} {r['median_ms']:>6.0f} ms {r['p90_ms']:>6.0f} ms {r['peak_rss_mb']:>6.0f} MB"
              + (f"  ({r['skipped']} skipped, see above)" if r["skipped"] else ""))


def cmd_accuracy(args: argparse.Namespace) -> int:
    cfg = ReaderConfig(detector=args.detector)
    if not 0.1 <= args.scale <= 4.0:
        raise InputError(f"bench: --scale must be between 0.1 and 4, not {args.scale}")
    if not 0 <= args.jpeg <= 100:
        raise InputError(f"bench: --jpeg must be a JPEG quality of 1 to 100 (0: no re-saving), not {args.jpeg}")
    alter = Alteration(args.scale, args.jpeg)
    if args.passes and alter != Alteration():
        raise InputError("bench: --passes reads each photo as it is: no --scale or --jpeg with it")
    names = args.reader.split(",")
    for name in names:
        reader_config(cfg, name)
    folders = label_sets([Path(d) for d in args.dirs])
    try:
        jsonl = open(args.jsonl, "w") if args.jsonl else None
    except OSError as exc:
        raise InputError(f"bench: --jsonl {args.jsonl}: {exc.strerror}") from None
    print(describe_detector(cfg.detector)
          + (f"; photos scaled by {args.scale:g}" if args.scale != 1.0 else "")
          + (f"; re-saved as JPEG quality {args.jpeg}" if args.jpeg else "")
          + (_passes_line(args.passes) if args.passes else ""))
    rows = []
    try:
        for folder in folders:
            for name in names:
                rows.append(accuracy(folder, name, cfg, alter, args.passes, jsonl))
    finally:
        if jsonl is not None:
            jsonl.close()
    print_accuracy(rows)
    return 0


def _passes_line(frames: int) -> str:
    return (f"; each photo read as a vehicle's pass of {frames} frames ({frames / PASS_FPS:.2f} s at "
            f"{PASS_FPS:g} fps, driving away to {END_SCALE:g}x its size), through the tracker")


def cmd_false_reads(args: argparse.Namespace) -> int:
    if args.passes and args.as_stream:
        raise InputError("bench: --passes already reads photos as stream frames: no --as-stream with it")
    cfg = reader_config(ReaderConfig(detector=args.detector), args.reader)
    folders = label_sets([Path(d) for d in args.dirs])
    print(describe_detector(cfg.detector) + f"; reader {args.reader}"
          + (f"; photos read as stream frames (at most {STREAM_WIDTH} wide, one look)" if args.as_stream else "")
          + (_passes_line(args.passes) if args.passes else ""))
    results = [false_reads(folder, cfg, args.as_stream, args.passes) for folder in folders]
    # Letters-only reads are counted apart: the agent keeps them only when
    # they hit (service/agent.py), so they become neither vehicles nor non-hits.
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


def register(sub) -> None:
    bench = sub.add_parser("bench", help="measure accuracy and speed (figures are printed)")
    kinds = bench.add_subparsers(dest="bench", required=True, metavar="KIND")
    p = kinds.add_parser("accuracy", help="exact and folded read rates on labelled photos or crops")
    p.add_argument("dirs", nargs="+", metavar="DIR")
    add_reader(p, several=True)
    add_detector(p)
    p.add_argument("--scale", type=float, default=1.0, help="resize each photo by this factor first (default 1)")
    p.add_argument("--jpeg", type=int, default=0, help="re-save each photo as JPEG of this quality first (default: no)")
    _add_passes(p, "count a plate as read when the agent reports it")
    p.add_argument("--jsonl", metavar="FILE", help="write one JSON line per photo: label, reads, who won")
    p.set_defaults(func=cmd_accuracy)
    p = kinds.add_parser("false-reads", help="reads left on labelled photos once their plate is painted out")
    p.add_argument("dirs", nargs="+", metavar="DIR")
    p.add_argument("--list", action="store_true", help="print each read with its photo and box")
    p.add_argument("--as-stream", action="store_true",
                   help=f"read each photo as a camera frame (at most {STREAM_WIDTH} wide, one look, rows read once), "
                        "not as a still of an image folder")
    add_reader(p)
    add_detector(p)
    _add_passes(p, "count what the agent reports too")
    p.set_defaults(func=cmd_false_reads)
    p = kinds.add_parser("soak", help="resident memory of the running agent over many frames")
    from . import soak

    soak.add_arguments(p)
    p.set_defaults(func=soak.run)
    bench_speed.register(kinds)
    bench_idle.register(kinds)
