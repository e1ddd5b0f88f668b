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

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if not self.source:
            out.append(("source", "is required"))
        if self.reconnect_min_seconds <= 0:
            out.append(("reconnect_min_seconds", "must be greater than 0"))
        if self.reconnect_max_seconds < self.reconnect_min_seconds:
            out.append(("reconnect_max_seconds", "must be at least reconnect_min_seconds"))
        if self.max_fps < 0:
            out.append(("max_fps", "must be 0 or more"))
        return out
