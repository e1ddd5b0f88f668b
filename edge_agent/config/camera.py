"""[camera]: where frames come from and how a lost source is reopened."""

from __future__ import annotations

from dataclasses import dataclass

from .tracker import TrackerConfig

# Reopening a source faster than this only loads a camera or network that is
# already failing; waiting longer than an hour leaves a unit blind for
# nothing, as a reopen costs little.
MIN_RECONNECT_SECONDS = 0.1
MAX_RECONNECT_SECONDS = 3600
# A cap above 120 never bites on a Pi-class unit; below one frame in ten
# seconds a passing vehicle is missed altogether.
MIN_FPS, MAX_FPS = 0.1, 120
# Motion gate (motion.py). A dark car far down the road (60x40 px of a
# 1280x720 view, its plate ~8 px tall) changes about a thousandth of it; half of it changed is a camera knocked or a
# light switched, which must still be read. Holding longer than a minute
# reads an empty road for nothing.
MIN_MOTION_AREA, MAX_MOTION_AREA = 0.0001, 0.5
MAX_MOTION_HOLD_SECONDS = 60


@dataclass(frozen=True)
class CameraConfig:
    # In [[cameras]]: the camera's id, a level of its MQTT topics. The
    # single [camera] is named by [unit] camera_id.
    id: str = ""
    # A device (/dev/video0 or 0), an rtsp:// or http(s):// URL, a video
    # file, or a folder of images.
    source: str = ""
    # Backoff between attempts to reopen a stream or device that dropped.
    reconnect_min_seconds: float = 1.0
    reconnect_max_seconds: float = 30.0
    # Take at most this many frames per second from a live source (0: as many
    # as the unit reads; always its newest frame). A file or folder is always
    # processed frame by frame.
    max_fps: float = 0.0
    # A network stream that sends nothing for this long is dropped and
    # reopened; it bounds how long a read may block the agent.
    stream_timeout_seconds: float = 10.0
    # Regions blacked out in every frame before detection, "x,y,w,h" in frame
    # pixels, several separated by ";": windows, gardens, a neighbour's drive.
    mask: str = ""
    # Frames of a stream in which nothing moves in the unmasked view are not
    # searched for plates (motion.py); photos from a folder always are.
    motion_gate: bool = True
    # The share of the view that must change for a frame to count as motion.
    motion_min_area: float = 0.0005
    # After motion, frames are read for this long even if nothing moves:
    # a vehicle stopped at a light is read until its track is complete.
    motion_hold_seconds: float = 2.0
    # In [[cameras]]: [cameras.tracker], this camera's own [tracker] settings
    # (a camera watching a slow gate wants other gaps than one on a highway).
    tracker: TrackerConfig | None = None

    def mask_regions(self) -> list[tuple[int, int, int, int]]:
        """The mask as (x, y, w, h) boxes; raises ValueError naming the bad region."""
        regions = []
        for part in filter(None, (p.strip() for p in self.mask.split(";"))):
            try:
                x, y, w, h = (int(v) for v in part.split(","))
            except ValueError:
                raise ValueError(f"region {part!r} is not x,y,w,h") from None
            if x < 0 or y < 0 or w <= 0 or h <= 0:
                raise ValueError(f"region {part!r} needs x, y >= 0 and w, h > 0")
            regions.append((x, y, w, h))
        return regions

    def problems(self) -> list[tuple[str, str]]:
        out = []
        try:
            self.mask_regions()
        except ValueError as exc:
            out.append(("mask", f"{exc} (regions are \"x,y,w,h; x,y,w,h\")"))
        if not self.source:
            out.append(("source", "is required"))
        if not MIN_RECONNECT_SECONDS <= self.reconnect_min_seconds <= MAX_RECONNECT_SECONDS:
            out.append(("reconnect_min_seconds",
                        f"must be between {MIN_RECONNECT_SECONDS} and {MAX_RECONNECT_SECONDS}"))
        if not self.reconnect_min_seconds <= self.reconnect_max_seconds <= MAX_RECONNECT_SECONDS:
            out.append(("reconnect_max_seconds", f"must be between reconnect_min_seconds and {MAX_RECONNECT_SECONDS}"))
        if self.max_fps != 0 and not MIN_FPS <= self.max_fps <= MAX_FPS:
            out.append(("max_fps", f"must be 0 (no cap) or between {MIN_FPS} and {MAX_FPS}"))
        if not 1 <= self.stream_timeout_seconds <= 25:
            # Above 25 s a stalled read could outlast WatchdogSec and TimeoutStopSec.
            out.append(("stream_timeout_seconds", "must be between 1 and 25"))
        if not MIN_MOTION_AREA <= self.motion_min_area <= MAX_MOTION_AREA:
            out.append(("motion_min_area", f"must be between {MIN_MOTION_AREA} and {MAX_MOTION_AREA}"))
        if not 0 <= self.motion_hold_seconds <= MAX_MOTION_HOLD_SECONDS:
            out.append(("motion_hold_seconds", f"must be between 0 and {MAX_MOTION_HOLD_SECONDS}"))
        if self.tracker is not None:
            out += [(f"tracker.{key}", message) for key, message in self.tracker.problems()]
        return out
