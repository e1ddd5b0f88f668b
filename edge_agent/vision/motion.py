"""Motion gate: a stream frame in which nothing moves is not searched for plates.

An empty road at night is most of a unit's time, and detecting and reading
a frame costs tens of milliseconds where this check costs well under one.
The frame (already masked by the source, so a masked window or tree never
counts) is shrunk to a thumbnail, blurred against sensor noise, and compared
with a running average of the thumbnails before it, which follows slow
light changes (clouds, dusk) without calling them motion. Where enough of
the view differs, the frame is read, and so are the frames of the next
`motion_hold_seconds`: a vehicle that stops at a light is still read until
its track has the frames it needs, and its track closes as a stopped one.

Stills (photos from a folder) are single looks at a scene and always read.
The gate's first frame counts as motion: there is nothing to compare it
with. A reopened stream that shows another view differs from the background,
so it is read too.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..config import CameraConfig
from ..records import Frame

# Thumbnail width: a plate-bearing vehicle covers dozens of its pixels even
# far down the road.
THUMB_WIDTH = 160
# A thumbnail pixel has changed when it differs from the background by
# more than this (0-255): above JPEG/H.264 artefacts and a night sensor's
# noise after the blur, below a car's contrast with asphalt even at dusk.
PIXEL_DELTA = 20
# How fast the background follows the scene, per frame read or not: a
# parked car becomes background within seconds, a passing one does not.
BACKGROUND_RATE = 0.05


@dataclass
class MotionCounts:
    frames: int = 0
    still: int = 0  # frames not read: nothing moved


class MotionGate:
    def __init__(self, cfg: CameraConfig):
        self.enabled = cfg.motion_gate
        self.min_area = cfg.motion_min_area
        self.hold = cfg.motion_hold_seconds
        self.counts = MotionCounts()
        self._background: np.ndarray | None = None
        self._last_motion: float | None = None

    def moved(self, frame: Frame) -> bool:
        """Whether the frame should be read: it, or one of the last hold seconds, shows motion."""
        self.counts.frames += 1
        if frame.still or not self.enabled:
            return True
        thumb = _thumbnail(frame.image)
        now = frame.captured_at.timestamp()
        if self._background is None or thumb.shape != self._background.shape:
            self._background = thumb
            self._last_motion = now
            return True
        changed = float(np.count_nonzero(cv2.absdiff(thumb, self._background) > PIXEL_DELTA)) / thumb.size
        cv2.accumulateWeighted(thumb, self._background, BACKGROUND_RATE)
        if changed >= self.min_area:
            self._last_motion = now
            return True
        if self._last_motion is not None and 0 <= now - self._last_motion <= self.hold:
            return True
        self.counts.still += 1
        return False


def _thumbnail(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    size = (THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w)))
    if w >= 4 * THUMB_WIDTH:
        # Every few pixels first, then the average of each 2x2 of those:
        # averaging every pixel of a 1280x720 frame took 1.1-1.5 ms, this
        # 0.13-0.19 ms (one x86 core), on every frame of an empty road. The
        # same pixels are taken each frame, so a still scene stays still;
        # a car 60x40 px still covers 15x10 of them.
        image = cv2.resize(image, (2 * size[0], 2 * size[1]), interpolation=cv2.INTER_NEAREST)
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    return cv2.GaussianBlur(gray, (5, 5), 0).astype(np.float32)
