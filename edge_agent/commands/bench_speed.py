"""`edge-agent bench speed`: frames per second and per-stage milliseconds of the pipeline on a stream."""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np

from .bench_args import add_detector, add_reader, reader_config
from .bench_sets import Progress, peak_rss_mb
from ..config import CameraConfig, ReaderConfig, TrackerConfig
from ..config.cameras import MAX_CAMERAS
from ..config.reader import MAX_WORKERS
from ..vision.detect import TextLinePlateDetector
from ..errors import InputError
from ..vision.onnx_models import describe_detector
from ..vision.read import make_reader
from ..records import Frame
from ..vision.track import Tracker


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


def _frames(video: Path | None, size: tuple[int, int], skip: int = 0):
    """Frames of the video (or rendered ones), over and over, decoded as needed; the first `skip` left out.

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
            if skip:
                skip -= 1
                continue
            yield image if (image.shape[1], image.shape[0]) == size else cv2.resize(image, size)
        if count == 0:
            raise InputError(f"bench: no frames in {video}")


def _read_all(cap):
    ok, image = cap.read()
    while ok:
        yield image
        ok, image = cap.read()
    cap.release()


def throughput(video: Path | None, size: tuple[int, int], seconds: float, cfg: ReaderConfig, workers: int,
               cameras: int = 1, ready: Callable[[], object] | None = None) -> dict:
    """Frames a second through the agent's pipeline (pipeline.py) with `workers`, frames decoded as it goes.

    Every frame of the stream is read, as from a file, 1/25 s apart in
    camera time; the motion gate is off, so every frame is detected and
    read. Run in a fresh process per configuration (print_workers), so each
    peak RSS is that configuration's own. With several `cameras`, the agent's
    way (service/agent.py): the workers shared out, one pipeline per camera on
    its own thread, all on one set of models (Pipeline.sharing_models); each
    camera reads the clip from its own starting frame. `ready` is called
    once the models are warm, just before the timed run (side_by_side).
    """
    import threading

    from ..vision.pipeline import Pipeline, split_threads

    each = max(1, workers // cameras)
    first = Pipeline.build(cfg, CameraConfig(source="bench", motion_gate=False), each)
    pipelines = [first] + [first.sharing_models(CameraConfig(source="bench", motion_gate=False))
                           for _ in range(cameras - 1)]
    t0 = datetime.now(timezone.utc)
    deadline = [0.0]
    counts = [0] * cameras

    def run(k: int) -> None:
        def stream():
            for i, image in enumerate(_frames(video, size, skip=37 * k)):
                if time.monotonic() > deadline[0]:
                    return
                yield Frame(image, i, t0 + timedelta(seconds=i / SPEED_FPS), f"bench-{k}")

        tracker = Tracker(TrackerConfig())
        for frame, reads in pipelines[k].reads(stream()):
            tracker.update(reads, frame.captured_at)
            counts[k] += 1

    def all_cameras() -> float:
        counts[:] = [0] * cameras
        threads = [threading.Thread(target=run, args=(k,)) for k in range(cameras)]
        start = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.monotonic() - start

    # The first frames load the models' arenas: not timed.
    deadline[0] = time.monotonic() + 1.0
    all_cameras()
    if ready is not None:
        ready()
    deadline[0] = time.monotonic() + seconds
    wall = all_cameras()
    return {"workers": workers, "cameras": cameras, "frames": sum(counts), "fps": sum(counts) / wall,
            "camera_fps": [c / wall for c in counts], "peak_rss_mb": peak_rss_mb(),
            "threads": split_threads(each, cfg.threads)}


def _throughput_in_child(queue, *args) -> None:
    queue.put(throughput(*args))


def side_by_side(ctx, video: Path | None, size: tuple[int, int], seconds: float, cfg: ReaderConfig,
                 count: int) -> float:
    """Frames a second of `count` one-worker pipelines in separate processes at once, together.

    Nothing is shared between them, not even the interpreter's lock, so
    this is what `count` cores give this work on this machine: the ceiling
    `count` workers of one pipeline can reach. On a VM it moves with the
    host's load as much as the workers do, so it is measured in the same
    round as they are. The processes start their timed runs together,
    once every one has warmed its models.
    """
    queue, barrier = ctx.Queue(), ctx.Barrier(count)
    children = [ctx.Process(target=_throughput_in_child, args=(queue, video, size, seconds, cfg, 1, 1, barrier.wait))
                for _ in range(count)]
    for child in children:
        child.start()
    together = sum(queue.get()["fps"] for _ in children)
    for child in children:
        child.join()
    return together


def print_workers(video: Path | None, size: tuple[int, int], seconds: float, cfg: ReaderConfig, most: int,
                  cameras: int = 1, rounds: int = 1) -> None:
    """Frames a second for 1..most workers (or, with `cameras`, 1..cameras cameras on `most` workers),
    each in a fresh process, in one run; `rounds` times over, then each configuration's medians.

    A ratio is taken within a round, the configurations one after another,
    so a shared machine's slow minutes (one x86 VM: 6.9 to 8.7 fps on one
    worker within ten minutes) move both sides of it; the median of the
    rounds is the figure to quote. With workers, each round ends with as
    many one-worker pipelines side by side (side_by_side): how much of
    what the cores give the most workers took.
    """
    import multiprocessing
    import statistics

    ctx = multiprocessing.get_context("spawn")
    runs = [(w, 1) for w in range(1, most + 1)] if cameras <= 1 else [(most, c) for c in range(1, cameras + 1)]
    ratios: dict[int, list[float]] = {i: [] for i in range(len(runs))}
    fps: dict[int, list[float]] = {i: [] for i in range(len(runs))}
    ceiling: list[float] = []  # the most workers' share of side_by_side's frames, each round
    beside = cameras <= 1 and most > 1
    for round_ in range(rounds):
        if rounds > 1:
            print(f"round {round_ + 1} of {rounds}:")
        rows = []
        for i, (workers, count) in enumerate(runs):
            queue = ctx.Queue()
            child = ctx.Process(target=_throughput_in_child, args=(queue, video, size, seconds, cfg, workers, count))
            child.start()
            r = queue.get()
            child.join()
            rows.append(r)
            one = rows[0]
            ratios[i].append(r["fps"] / one["fps"])
            fps[i].append(r["fps"])
            each = "" if count == 1 else " (" + ", ".join(f"{f:.2f}" for f in r["camera_fps"]) + " per camera)"
            print(f"{_what(workers, count, cameras)}: {r['fps']:.2f} fps{each} "
                  f"({r['frames']} frames in {seconds:g} s), {r['fps'] / one['fps']:.2f}x of the first; "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB "
                  f"({r['peak_rss_mb'] / one['peak_rss_mb']:.2f}x); model threads detect/read "
                  f"{r['threads'][0]}/{r['threads'][1]}", flush=True)
        if beside:
            together = side_by_side(ctx, video, size, seconds, cfg, most)
            ceiling.append(rows[-1]["fps"] / together)
            print(f"{most} one-worker pipelines side by side: {together:.2f} fps together, "
                  f"{together / rows[0]['fps']:.2f}x of the first; workers {most} made "
                  f"{ceiling[-1]:.2f} of it", flush=True)
    if rounds > 1:
        print(f"median of {rounds} rounds:")
        for i, (workers, count) in enumerate(runs):
            print(f"{_what(workers, count, cameras)}: {statistics.median(fps[i]):.2f} fps, "
                  f"{statistics.median(ratios[i]):.2f}x of the first (" +
                  " ".join(f"{x:.2f}" for x in ratios[i]) + ")")
        if beside:
            print(f"workers {most} made {statistics.median(ceiling):.2f} of {most} one-worker pipelines "
                  "side by side (" + " ".join(f"{x:.2f}" for x in ceiling) + ")")


def _what(workers: int, count: int, cameras: int) -> str:
    return f"workers {workers}" if cameras <= 1 else f"cameras {count} on {workers} workers"


def cmd_speed(args: argparse.Namespace) -> int:

    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise InputError(f"bench: --size: expected WIDTHxHEIGHT, got {args.size!r}") from None
    cfg = reader_config(ReaderConfig(detector=args.detector, full_scan_seconds=args.full_scan_seconds,
                                     reread_every=args.reread_every), args.reader)
    for key, problem in cfg.problems():
        raise InputError(f"bench: --{key.replace('_', '-')}: {problem}")
    print(describe_detector(cfg.detector) + f"; reader {args.reader}")
    if args.rounds != 1 and not (args.workers or args.cameras):
        raise InputError("bench: --rounds needs --workers or --cameras")
    if args.workers or args.cameras:
        workers = args.workers or ReaderConfig.workers
        if not 1 <= workers <= MAX_WORKERS:
            raise InputError(f"bench: --workers must be between 1 and {MAX_WORKERS}")
        if not 0 <= args.cameras <= MAX_CAMERAS:
            raise InputError(f"bench: --cameras must be between 1 and {MAX_CAMERAS}")
        if not 1 <= args.rounds <= 20:
            raise InputError("bench: --rounds must be between 1 and 20")
        print(f"frames a second through the pipeline, every frame read, {os.cpu_count()} CPUs here:")
        print_workers(Path(args.video) if args.video else None, (w, h), args.seconds, cfg, workers, args.cameras,
                      args.rounds)
        return 0
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



def register(kinds) -> None:

    p = kinds.add_parser("speed", help="frames per second and per-stage milliseconds")
    p.add_argument("--video", help="frames from this video (default: rendered demo frames)")
    p.add_argument("--size", default="1280x720", help="frame size WIDTHxHEIGHT (default 1280x720)")
    p.add_argument("--seconds", type=float, default=20.0, help="how long to run (default 20)")
    add_reader(p)
    add_detector(p)
    p.add_argument("--full-scan-seconds", type=float, default=ReaderConfig.full_scan_seconds,
                   help="scan the whole frame this often, following plates between "
                        f"(0: every frame; default {ReaderConfig.full_scan_seconds:g})")
    p.add_argument("--live", action="store_true",
                   help="take frames as a live camera delivers them to a busy unit, skipping those that "
                        "pass meanwhile (default: every frame, as from a file)")
    p.add_argument("--reread-every", type=int, default=ReaderConfig.reread_every,
                   help="read a settled plate again every this many frames "
                        f"(1: every plate in every frame; default {ReaderConfig.reread_every})")
    p.add_argument("--workers", type=int, default=0,
                   help="print frames a second for 1..N workers (pipeline.py), each in a fresh process, then "
                        "for N one-worker processes side by side (what N cores give; N models in memory), "
                        "instead of the per-stage times")
    p.add_argument("--cameras", type=int, default=0,
                   help="print frames a second and memory for 1..N cameras of one agent ([[cameras]]) on "
                        f"--workers workers (default {ReaderConfig.workers}), each in a fresh process")
    p.add_argument("--rounds", type=int, default=1,
                   help="with --workers or --cameras: run the configurations this many times over, one "
                        "after another, and print each one's median fps and ratio (default 1)")
    p.set_defaults(func=cmd_speed)
