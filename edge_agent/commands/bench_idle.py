"""`edge-agent bench idle`: CPU the agent spends on a scene where nothing moves, gated and not.

A still frame is played as a live camera at `--fps` for `--seconds`: the
frame is written as a video into a temporary folder and decoded frame by
frame as a camera stream is (decoding is part of the unit's work), paced in
real time, and each frame goes through the agent's own per-frame path
(pipeline.Pipeline on one worker: the motion gate, then detection and
reading if it let the frame through), then the tracker. The process's CPU time over the wall time is the share
of one core the agent takes on an empty road. The same run without the
gate is printed beside it, so the ratio comes from one run.

A road clip (`--road`) is then read frame by frame with the gate and
without: every vehicle read without the gate must be read with it.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2

from .bench_sets import peak_rss_mb
from ..config import CameraConfig, ReaderConfig, TrackerConfig
from ..errors import InputError
from ..vision.pipeline import Pipeline
from ..records import Frame
from ..vision.track import Tracker


def _first_frame(video: Path):
    cap = cv2.VideoCapture(str(video))
    ok, image = cap.read()
    cap.release()
    if not ok:
        raise InputError(f"bench: cannot read a frame of {video}")
    return image


def idle_cpu(image, fps: float, seconds: float, gate: bool, cfg: ReaderConfig) -> dict:
    """CPU share of one core and CPU ms per frame for a still scene played as a live stream."""
    pipeline = _pipeline(cfg, gate)
    tracker = Tracker(TrackerConfig())
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "still.avi")
        out = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), fps, (image.shape[1], image.shape[0]))
        for _ in range(max(1, round(fps * seconds))):
            out.write(image)
        out.release()
        wall0, cpu0 = time.monotonic(), time.process_time()
        started: list[float] = []  # CPU time when each frame's decoding began

        def paced():
            frames, i = _frames(path, fps), 0
            while True:
                time.sleep(max(0.0, wall0 + i / fps - time.monotonic()))
                started.append(time.process_time())  # before decoding: a camera's frames are decoded too
                frame = next(frames, None)
                if frame is None:
                    return
                yield frame
                i += 1

        per_frame: list[float] = []
        settled: tuple[float, float] | None = None  # wall and CPU when the gate first left a frame unread
        for frame, reads in pipeline.reads(paced()):
            tracker.update(reads, frame.captured_at)
            per_frame.append((time.process_time() - started[-1]) * 1000)
            if pipeline.motion.counts.still and settled is None:
                settled = (time.monotonic(), started[-1])
        end_wall, end_cpu = time.monotonic(), time.process_time()
    wall_s, cpu_s = settled or (wall0, cpu0)
    return {"frames": len(per_frame), "core_share": 100 * (end_cpu - cpu0) / (end_wall - wall0),
            "steady_share": 100 * (end_cpu - cpu_s) / max(1e-9, end_wall - wall_s),
            "median_cpu_ms": statistics.median(per_frame), "mean_cpu_ms": statistics.mean(per_frame),
            "not_read": pipeline.motion.counts.still}


def road_vehicles(video: Path, gate: bool, cfg: ReaderConfig) -> tuple[list[str], int, int]:
    """The vehicles a clip's frames give through gate, detector, reader and tracker; frames, frames not read."""
    pipeline, tracker = _pipeline(cfg, gate), Tracker(TrackerConfig())
    texts = []
    for frame, reads in pipeline.reads(_frames(str(video))):
        texts += [v.text for v in tracker.update(reads, frame.captured_at)]
    texts += [v.text for v in tracker.flush()]
    return texts, pipeline.motion.counts.frames, pipeline.motion.counts.still


def _pipeline(cfg: ReaderConfig, gate: bool) -> Pipeline:
    """The agent's per-frame path on one worker: motion gate, detector, reader."""
    return Pipeline.build(cfg, CameraConfig(source="bench", motion_gate=gate))


def _frames(path: str, fps: float = 0.0):
    """A video's frames, stamped in its own time (fps: the file's when 0)."""
    cap = cv2.VideoCapture(path)
    fps = fps or cap.get(cv2.CAP_PROP_FPS) or 25.0
    t0 = datetime.now(timezone.utc)
    i = 0
    try:
        while True:
            ok, image = cap.read()
            if not ok:
                return
            yield Frame(image, i, t0 + timedelta(seconds=i / fps), "bench")
            i += 1
    finally:
        cap.release()


def cmd_idle(args: argparse.Namespace) -> int:
    video = Path(args.video)
    if not video.exists():
        raise InputError(f"bench: --video: no such file: {video}")
    if not 1 <= args.fps <= 60 or not 1 <= args.seconds <= 600:
        raise InputError("bench: --fps must be 1-60 and --seconds 1-600")
    cfg = ReaderConfig()
    image = _first_frame(video)
    print(f"still scene: the first frame of {video} ({image.shape[1]}x{image.shape[0]}) "
          f"as a live camera at {args.fps:g} fps for {args.seconds:g} s, decoded, one core")
    rows = {}
    for gate in (True, False):
        rows[gate] = r = idle_cpu(image, args.fps, args.seconds, gate, cfg)
        steady = (f" ({r['steady_share']:.1f} % once the gate stopped reading the scene)"
                  if gate and r["not_read"] else "")
        print(f"  motion gate {'on ' if gate else 'off'}: {r['core_share']:.1f} % of one core{steady}, "
              f"CPU per frame median {r['median_cpu_ms']:.1f} ms (mean {r['mean_cpu_ms']:.1f}); "
              f"{r['not_read']} of {r['frames']} frames not read")
    print(f"  gated / ungated CPU: {rows[True]['steady_share'] / max(1e-9, rows[False]['core_share']):.2f} "
          f"(steady), {rows[True]['core_share'] / max(1e-9, rows[False]['core_share']):.2f} (whole run); "
          f"peak RSS {peak_rss_mb():.0f} MB")
    if args.road:
        road = Path(args.road)
        on, frames, skipped = road_vehicles(road, True, cfg)
        off, _, _ = road_vehicles(road, False, cfg)
        missed = sorted(set(off) - set(on))
        print(f"road clip {road}: {frames} frames, {skipped} not read by the gate; vehicles read "
              f"with the gate {len(on)} {sorted(on)}, without {len(off)}; "
              + (f"MISSED with the gate: {missed}" if missed else "none missed"))
    return 0


def register(kinds) -> None:
    p = kinds.add_parser("idle", help="CPU on a still scene with the motion gate and without")
    p.add_argument("--video", required=True, help="its first frame is the still scene")
    p.add_argument("--fps", type=float, default=10.0, help="frames per second of the live stream (default 10)")
    p.add_argument("--seconds", type=float, default=20.0, help="how long each run plays (default 20)")
    p.add_argument("--road", help="a road clip: vehicles read with the gate and without must be the same")
    p.set_defaults(func=cmd_idle)
