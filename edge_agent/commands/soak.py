"""Soak benchmark: the real agent on a looping stream for thousands of frames,
to show that resident memory stays flat on a unit nobody visits for months.

The clip is served as an MJPEG stream on loopback (loopstream.py), so frames
travel the same path as from an IP camera: OpenCV's FFmpeg client, LiveSource,
detector, reader, tracker, matcher, store and a private Mosquitto. Resident
memory (VmRSS) is sampled every N frames from /proc/self/status.

    python -m edge_agent.commands.soak --video clip.mp4 --frames 10000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .broker import LocalBroker
from ..config import load_config
from ..errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from .loopstream import LoopStream, encode_clip

# Memory counts as flat when the end is within this of the start. The start is
# taken after a warm-up, once onnxruntime's arena and the allocator have seen
# every frame shape; what remains is the slow creep a months-long run cannot afford.
FLAT_TOLERANCE_MB = 20.0
WARMUP_FRAMES = 200
# Samples each end's level is the median of. With two workers the agent's
# RSS swings by ~25 MB from one sample to the next (highway clip, 8 000
# frames sampled every 500: 276-301 MB and back, flat end to end), more than
# the tolerance, so one sample at each end called a swing growth (a 2 500-
# frame run: 270.7 -> 301.5 MB). One high or low sample cannot move a median
# of three; a creep moves all three.
LEVEL_SAMPLES = 3


def rss_mb() -> float:
    """Resident memory of this process, from the kernel's own accounting."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


@dataclass
class SoakResult:
    frames: int = 0
    seconds: float = 0.0
    samples: list[tuple[int, float]] = field(default_factory=list)  # (frame, RSS MB)
    vehicles: int = 0
    hits: int = 0
    after_stop_mb: float = 0.0  # once the agent closed its store and connections

    def _judged(self) -> list[tuple[int, float]]:
        """The samples after the warm-up (in a short run, after the first frames)."""
        running = [s for s in self.samples if s[0] > 0]
        warm = [s for s in running if s[0] >= WARMUP_FRAMES]
        return warm or running or self.samples or [(0, 0.0)]

    @property
    def start(self) -> tuple[int, float]:
        """The first judged sample's frame, and the median MB of the first LEVEL_SAMPLES."""
        first = self._judged()[:LEVEL_SAMPLES]
        return first[0][0], statistics.median(mb for _, mb in first)

    @property
    def start_mb(self) -> float:
        return self.start[1]

    @property
    def end_mb(self) -> float:
        """The median MB of the last LEVEL_SAMPLES samples."""
        return statistics.median(mb for _, mb in self._judged()[-LEVEL_SAMPLES:])

    @property
    def max_mb(self) -> float:
        return max((mb for _, mb in self.samples), default=0.0)

    @property
    def flat(self) -> bool:
        return self.end_mb - self.start_mb <= FLAT_TOLERANCE_MB

    def summary(self) -> dict:
        return {**asdict(self), "start_frame": self.start[0], "start_mb": round(self.start_mb, 1),
                "end_mb": round(self.end_mb, 1),
                "max_mb": round(self.max_mb, 1), "flat": self.flat,
                "fps": round(self.frames / self.seconds, 2) if self.seconds else 0.0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--video", required=True, help="clip to loop (e.g. shared/datasets/videos/highway-es.mp4)")
    parser.add_argument("--frames", type=int, default=10_000, help="frames the agent must process (default 10000)")
    parser.add_argument("--sample-every", type=int, default=250, metavar="N",
                        help="sample resident memory every N frames (default 250)")
    parser.add_argument("--stream-fps", type=float, default=25.0, help="rate the stand-in camera serves at")
    parser.add_argument("--hotlist", default="6380CCS,2835BSY", help="comma-separated plates to list")
    parser.add_argument("--json", metavar="PATH", help="also write the samples and summary here")


def run(args: argparse.Namespace) -> int:
    if args.frames < 1 or args.sample_every < 1:
        print("soak: --frames and --sample-every must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    if not Path(args.video).is_file():
        print(f"soak: no such video: {args.video}", file=sys.stderr)
        return EXIT_USAGE
    result = soak(args.video, frames=args.frames, sample_every=args.sample_every,
                  stream_fps=args.stream_fps, plates=[p for p in args.hotlist.split(",") if p])
    summary = result.summary()
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))
    print(f"soak: {result.frames} frames in {result.seconds:.0f} s ({summary['fps']} fps), "
          f"{result.vehicles} vehicles, {result.hits} hits; resident memory start {summary['start_mb']} MB "
          f"(from frame {result.start[0]}), end {summary['end_mb']} MB (each the median of {LEVEL_SAMPLES} "
          f"samples), max {summary['max_mb']} MB: "
          + ("flat" if result.flat else f"GREW by more than {FLAT_TOLERANCE_MB:.0f} MB"))
    return EXIT_OK if result.flat and result.frames >= args.frames else EXIT_FAILURE


def soak(video: str, *, frames: int, sample_every: int, stream_fps: float = 25.0,
         plates: list[str] = ()) -> SoakResult:
    from ..service.agent import Agent  # loads the models; keep `--help` fast

    result = SoakResult()
    with tempfile.TemporaryDirectory(prefix="edge-agent-soak-") as tmp, LocalBroker() as broker, \
            LoopStream(encode_clip(video), fps=stream_fps) as stream:
        from .demo import CONFIG_TOML  # the demo's config and policy, pointed at the looping stream

        (Path(tmp) / "hotlist.csv").write_text("plate,category\n" + "".join(f"{p},stolen-vehicle\n" for p in plates))
        config = Path(tmp) / "agent.toml"
        config.write_text(CONFIG_TOML.format(video=stream.url, port=broker.port))
        agent = Agent(load_config(config))
        result.samples.append((0, rss_mb()))
        done = threading.Event()
        sampler = threading.Thread(target=_sample, args=(agent, result, frames, sample_every, done), daemon=True)
        started = time.monotonic()
        sampler.start()
        try:
            agent.run(drain_timeout=5)
        finally:
            done.set()
            sampler.join(timeout=5)
        result.seconds = time.monotonic() - started
        result.frames = agent.stats.frames
        result.vehicles, result.hits = agent.stats.vehicles, agent.stats.hits
        result.after_stop_mb = rss_mb()
    return result


def _sample(agent, result: SoakResult, frames: int, every: int, done: threading.Event) -> None:
    next_at = every
    while not done.wait(0.05):
        seen = agent.stats.frames
        if seen >= next_at:
            result.samples.append((seen, rss_mb()))
            print(f"soak: frame {seen}: {result.samples[-1][1]:.1f} MB", file=sys.stderr, flush=True)
            next_at += every
        if seen >= frames:
            if result.samples[-1][0] != seen:
                result.samples.append((seen, rss_mb()))
            agent.stop()
            return


def main(argv: list[str] | None = None) -> int:
    from .cli import bound_heap

    bound_heap()  # as `edge-agent run` does, so the soak measures what the unit runs
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m edge_agent.commands.soak", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
