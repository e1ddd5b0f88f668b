"""Capture: turn `[camera] source` into a stream of Frames.

Files and folders are read once, frame by frame. Devices and network streams
are live (live.py): read as their newest frame, and reopened with backoff
whenever they drop.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import cv2

from ..config.camera import CameraConfig
from ..errors import InputError
from .frame_source import FrameSource, now, redact, release
from .image_header import ImageRejected, load_image
from .live import LiveSource
from ..records import Frame

__all__ = ["FrameSource", "ImageFolderSource", "LiveSource", "VideoFileSource", "natural_key", "open_capture",
           "open_source", "redact", "source_kind"]

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
_STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")


def natural_key(name: str) -> list[Any]:
    """Sort key so that img2 comes before img10."""
    # re.split with a group always alternates str, digits, str..., so the
    # lists compare str with str and int with int.
    parts = re.split(r"(\d+)", name.lower())
    return [int(p) if i % 2 else p for i, p in enumerate(parts)] + [name]


def source_kind(source: str) -> str:
    """Classify a source: "device" | "stream" | "video" | "folder" | "image"."""
    s = source.strip()
    if s.lower().startswith(_STREAM_SCHEMES):
        return "stream"
    if s.isdigit() or s.startswith("/dev/"):
        return "device"
    path = Path(s).expanduser()
    if path.is_dir():
        return "folder"
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return "image"
    return "video"


# FFmpeg "plays" .txt/.nfo files as ANSI art; a technician who points at one
# made a mistake, and should hear so rather than get frames of rendered text.
_TEXT_ART_CODECS = frozenset({"ansi", "bint", "xbin", "idf"})


def _fourcc(cap: Any) -> str:
    try:
        code = int(cap.get(cv2.CAP_PROP_FOURCC) or 0) & 0xFFFFFFFF
    except Exception:  # noqa: BLE001 - backends without the property
        return ""
    return code.to_bytes(4, "little", signed=False).decode("latin-1").strip("\0 ").lower()


class ImageFolderSource(FrameSource):
    """A folder of still images (or one image), each read once in natural order."""

    stills = True

    def __init__(self, source: str, files: list[Path]):
        super().__init__(source)
        self.files = files
        self.current_path: Path | None = None  # the file behind the latest frame

    def frames(self) -> Iterator[Frame]:
        index = 0
        for path in self.files:
            if self._stop.is_set():
                return
            try:
                image = load_image(path)
            except ImageRejected as exc:
                # One bad file in a batch should not cost the rest of it.
                log.warning("camera: skipping %s: %s", path.name, exc)
                continue
            self.current_path = path
            yield self._frame(image, index, now())
            index += 1


class _CaptureSource(FrameSource):
    """Owns one OpenCV capture and releases it safely."""

    def __init__(self, source: str, capture: Any = None):
        super().__init__(source)
        self._cap = capture
        self._lock = threading.Lock()
        self._running = False  # frames() is inside a read

    def close(self) -> None:
        self.stop()
        # Releasing under a read in another thread can crash OpenCV; the
        # generator releases on its way out instead.
        if not self._running:
            self._release()

    def _release(self) -> None:
        with self._lock:
            cap, self._cap = self._cap, None
        release(cap)


class VideoFileSource(_CaptureSource):
    """A video file, read once. Timestamps follow the video's own clock."""

    def __init__(self, source: str, capture: Any):
        super().__init__(source, capture)
        self._opened_at = now()
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self._fps = fps if 0 < fps < 1000 else 25.0  # some containers report 0 or junk

    def frames(self) -> Iterator[Frame]:
        if self._cap is None:
            return
        index, last_ms = 0, -1.0
        self._running = True
        try:
            while not self._stop.is_set():
                ok, image = self._cap.read()
                if not ok or image is None or image.size == 0:
                    if index == 0:
                        log.warning("camera: %s opened but gave no frames", self.source)
                    return
                # Video time, not wall time, so tracking by time works however
                # fast the file is processed.
                ms = float(self._cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0)
                if ms <= last_ms:  # backend gives no position (0) or a stuck one
                    ms = max(index * 1000.0 / self._fps, last_ms + 1000.0 / self._fps)
                last_ms = ms
                captured_at = self._opened_at + timedelta(milliseconds=ms)
                yield self._frame(image, index, captured_at)
                index += 1
        finally:
            self._running = False
            self.close()


def open_capture(target: int | str, timeout_seconds: float = 10.0) -> Any:
    """cv2.VideoCapture, with bounded waits for network streams.

    FFmpeg otherwise waits 30 s on a stream that stalls with its connection
    open; `[camera] stream_timeout_seconds` notices a dead camera sooner and
    stays inside WatchdogSec and TimeoutStopSec, so a stalled stream never
    looks like a hung agent.
    """
    if isinstance(target, str) and target.lower().startswith(_STREAM_SCHEMES):
        ms = int(timeout_seconds * 1000)
        return cv2.VideoCapture(target, cv2.CAP_FFMPEG,
                                [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])
    return cv2.VideoCapture(target)


def open_source(cfg: CameraConfig, *, capture_factory: Callable[..., Any] = open_capture) -> FrameSource:
    """Build the FrameSource for `cfg.source`; raise InputError for a bad file or folder."""
    try:
        mask = cfg.mask_regions()
    except ValueError as exc:
        raise InputError(f"camera.mask: {exc}") from None
    if capture_factory is open_capture:
        capture_factory = functools.partial(open_capture, timeout_seconds=cfg.stream_timeout_seconds)
    src = _build_source(cfg, capture_factory)
    src.mask = mask
    return src


def _build_source(cfg: CameraConfig, capture_factory: Callable[..., Any]) -> FrameSource:
    source = cfg.source.strip()
    kind = source_kind(source)
    if kind == "stream":
        return LiveSource(source, source, cfg, capture_factory)
    if kind == "device":
        return LiveSource(source, int(source) if source.isdigit() else source, cfg, capture_factory)
    path = Path(source).expanduser()
    if not path.exists():
        raise InputError(f"camera.source: no such file or folder: {path}")
    if kind == "folder":
        files = [
            p for p in path.iterdir()
            # Dotfiles include macOS "._x.jpg" resource forks, which are not images.
            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
        ]
        if not files:
            raise InputError(f"camera.source: no images in {path}")
        return ImageFolderSource(source, sorted(files, key=lambda p: natural_key(p.name)))
    if kind == "image":
        try:
            load_image(path)  # a single photo that does not decode is a mistake to say at start
        except ImageRejected as exc:
            raise InputError(f"camera.source: cannot read image {path}: {exc}") from None
        return ImageFolderSource(source, [path])
    try:
        cap = capture_factory(str(path))
        opened = bool(cap is not None and cap.isOpened())
    except Exception:  # noqa: BLE001 - reported as the user-facing error below
        cap, opened = None, False
    if opened and _fourcc(cap) in _TEXT_ART_CODECS:
        opened = False
    if not opened:
        if cap is not None:
            cap.release()
        raise InputError(f"camera.source: cannot open as video: {path}")
    return VideoFileSource(source, cap)
