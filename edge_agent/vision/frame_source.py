"""What every frame source is: the base class, and the redaction of its name.

A source's name is shown in logs and status and stored with each hit, so it
never carries the credentials a camera URL may hold.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import numpy as np

from .image_header import to_bgr
from ..records import Frame

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s]*@")  # greedy: passwords may hold '@'
_SECRET_PARAM = re.compile(r"(?i)\b([\w.-]*(?:pass(?:wd|word)?|pwd|token|key|auth|secret))=[^&\s]*")


def redact(text: str) -> str:
    """Hide credentials in any URL inside `text` so they never reach logs or status."""
    return _SECRET_PARAM.sub(r"\1=***", _USERINFO.sub(r"\1***@", text))


def now() -> datetime:
    return datetime.now(timezone.utc)


class FrameSource:
    """Base for every source; also usable as a context manager."""

    live: bool = False
    stills: bool = False  # each frame is its own scene (see Frame.still)
    camera_fps: float | None = None  # frames a second a live camera sends; None for files

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


def release(cap: Any) -> None:
    """Release an OpenCV capture that may already be broken."""
    if cap is not None:
        try:
            cap.release()
        except Exception:  # noqa: BLE001 - already broken; nothing more to do
            pass
