"""[camera]: where frames come from and how a lost source is reopened."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CameraConfig:
    # A device (/dev/video0 or 0), an rtsp:// or http(s):// URL, a video
    # file, or a folder of images.
    source: str = ""
    # Backoff between attempts to reopen a stream or device that dropped.
    reconnect_min_seconds: float = 1.0
    reconnect_max_seconds: float = 30.0
    # Process at most this many frames per second from a live source (0: all).
    # A file or folder is always processed frame by frame.
    max_fps: float = 0.0
    # A network stream that sends nothing for this long is dropped and
    # reopened; it bounds how long a read may block the agent.
    stream_timeout_seconds: float = 10.0
    # Regions blacked out in every frame before detection, "x,y,w,h" in frame
    # pixels, several separated by ";": windows, gardens, a neighbour's drive.
    mask: str = ""

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
        if self.reconnect_min_seconds <= 0:
            out.append(("reconnect_min_seconds", "must be greater than 0"))
        if self.reconnect_max_seconds < self.reconnect_min_seconds:
            out.append(("reconnect_max_seconds", "must be at least reconnect_min_seconds"))
        if self.max_fps < 0:
            out.append(("max_fps", "must be 0 or more"))
        if not 1 <= self.stream_timeout_seconds <= 25:
            # Above 25 s a stalled read could outlast WatchdogSec and TimeoutStopSec.
            out.append(("stream_timeout_seconds", "must be between 1 and 25"))
        return out
