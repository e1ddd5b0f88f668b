"""Capture: turn `[camera] source` into a stream of Frames.

Files and folders are read once, frame by frame. Devices and network streams
are live: a camera that drops is reopened with exponential backoff, forever,
because a unit on a pole has nobody to restart it.

While it waits to reopen, a live source calls its `heartbeat`: waiting for a
camera is healthy, and the service feeds systemd's watchdog from it. A read
that hangs inside the driver calls nothing, so the watchdog trips then.
"""

from __future__ import annotations

import functools
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..config.camera import CameraConfig
from ..errors import InputError
from .image_header import ImageRejected, load_image, to_bgr
from ..records import Frame

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
_STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s]*@")  # greedy: passwords may hold '@'
_SECRET_PARAM = re.compile(r"(?i)\b([\w.-]*(?:pass(?:wd|word)?|pwd|token|key|auth|secret))=[^&\s]*")


def redact(text: str) -> str:
    """Hide credentials in any URL inside `text` so they never reach logs or status."""
    return _SECRET_PARAM.sub(r"\1=***", _USERINFO.sub(r"\1***@", text))


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


def _now() -> datetime:
    return datetime.now(timezone.utc)


class FrameSource:
    """Base for every source; also usable as a context manager."""

    live: bool = False
    stills: bool = False  # each frame is its own scene (see Frame.still)

    def __init__(self, source: str):
        self.source = redact(source)  # Frame.source is shown and stored, so never with secrets
        self.last_error = ""  # "" when healthy; the latest fault, for status reporting
        self.faults = 0  # how many times the source dropped since it was opened
        self.heartbeat: Callable[[], None] | None = None  # called while waiting, never inside a read
        self.mask: list[tuple[int, int, int, int]] = []  # [camera] mask, (x, y, w, h) boxes
        self._stop = threading.Event()

    def _frame(self, image: np.ndarray, index: int, captured_at: datetime) -> Frame:
        image = to_bgr(image)
        # Masked pixels are zeroed here, before the frame leaves capture, so
        # detection, reading, crops and `aim` pictures never see them.
        for x, y, w, h in self.mask:
            image[y : y + h, x : x + w] = 0
        return Frame(image=image, index=index, captured_at=captured_at, source=self.source, still=self.stills)

    def frames(self) -> Iterator[Frame]:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
            yield self._frame(image, index, _now())
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
        if cap is not None:
            try:
                cap.release()
            except Exception:  # noqa: BLE001 - already broken; nothing more to do
                pass


class VideoFileSource(_CaptureSource):
    """A video file, read once. Timestamps follow the video's own clock."""

    def __init__(self, source: str, capture: Any):
        super().__init__(source, capture)
        self._opened_at = _now()
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


class LiveSource(_CaptureSource):
    """A camera device or network stream, reopened whenever it drops."""

    live = True
    max_bad_reads = 5  # consecutive failed reads before reopening
    max_blank_frames = 25  # consecutive blank frames (about 1 s) before reopening

    def __init__(self, source: str, target: int | str, cfg: CameraConfig, factory: Callable[..., Any]):
        super().__init__(source)
        self._target, self._cfg, self._factory = target, cfg, factory

    def frames(self) -> Iterator[Frame]:
        cfg = self._cfg
        delay = cfg.reconnect_min_seconds
        interval = 1.0 / cfg.max_fps if cfg.max_fps > 0 else 0.0
        next_due = 0.0
        index = bad = blank = 0
        self._running = True
        try:
            while not self._stop.is_set():
                if self._cap is None and not self._open():
                    delay = self._backoff(delay)
                    continue
                if interval and time.monotonic() < next_due:
                    # Drop by grabbing without decoding: the driver's buffer stays
                    # drained, so the frame we do keep is fresh (low latency).
                    image = None
                    bad = 0 if self._call("grab") else bad + 1
                else:
                    result = self._call("read")
                    ok, image = result if isinstance(result, tuple) else (False, None)
                    if not ok or image is None or getattr(image, "size", 0) == 0:
                        image, bad = None, bad + 1
                    else:
                        bad, blank = 0, (blank + 1 if _is_blank(image) else 0)
                if bad >= self.max_bad_reads or blank >= self.max_blank_frames:
                    self._fault("read failed" if bad else "blank frames")
                    delay = self._backoff(delay)
                    bad = blank = 0
                    continue
                if image is None or blank:
                    continue
                if self.last_error:
                    log.info("camera: %s is delivering frames again", self.source)
                    self.last_error = ""
                delay = cfg.reconnect_min_seconds
                now = time.monotonic()
                # Keep an even cadence, but start afresh after a stall rather than
                # letting through a burst to "catch up".
                next_due = next_due + interval if now - next_due < interval else now + interval
                yield self._frame(image, index, _now())
                index += 1
        finally:
            self._running = False
            self._release()

    def _open(self) -> bool:
        try:
            cap = self._factory(self._target)
            opened = bool(cap is not None and cap.isOpened())
        except Exception as exc:  # noqa: BLE001 - any backend failure means "retry later"
            self._fault(f"cannot open: {exc}")
            return False
        if not opened:
            if cap is not None:
                cap.release()
            self._fault("cannot open")
            return False
        with self._lock:
            self._cap = cap
        return True

    def _call(self, method: str) -> Any:
        try:
            return getattr(self._cap, method)()
        except Exception as exc:  # noqa: BLE001 - a broken backend is just a failed read
            log.debug("camera: %s raised %s", method, redact(str(exc)))
            return None

    def _fault(self, what: str) -> None:
        self._release()
        error = redact(f"{self.source}: {what}")
        # A camera dead for a month retries ~3000 times a day: say each new
        # fault once, the repeats only at DEBUG, so the journal keeps its history.
        log.log(logging.DEBUG if error == self.last_error else logging.WARNING, "camera: %s", error)
        if not self.last_error:
            self.faults += 1
        self.last_error = error

    def _backoff(self, delay: float) -> float:
        """Sleep about `delay` seconds (or until stop()); return the next delay."""
        wait = delay * random.uniform(0.8, 1.2)  # jitter: many units must not retry in step
        log.debug("camera: retrying %s in %.2f s", self.source, wait)
        self._pause(wait)
        return min(delay * 2.0, self._cfg.reconnect_max_seconds)

    def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            if self.heartbeat is not None:
                self.heartbeat()
            left = deadline - time.monotonic()
            if left <= 0 or self._stop.wait(min(left, 1.0)):
                return


def _is_blank(image: np.ndarray) -> bool:
    # Check a sparse grid first: a real picture almost always differs there.
    sample = image[::16, ::16]
    if sample.min() != sample.max():
        return False
    return bool(image.min() == image.max())


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
