"""A plate on the back of a car in a 1280x720 road frame, as the rendered test scenes draw it.

    frame, body, (cx, cy) = car(rng)                 # the frame with a car's rear in it
    box = mount(frame, plate, rng, (cx, cy), width)  # the plate on it, lightly tilted
    scene = finish(frame, rng)                       # blurred, noisy, JPEG-compressed

Deterministic for a given generator: render_br.py and render_us.py draw
their scenes with it, each seed always the same frame.
"""

from __future__ import annotations

import cv2
import numpy as np


def car(rng: np.random.Generator, body_max: int = 220) -> tuple[np.ndarray, tuple[int, ...], tuple[int, int]]:
    frame = np.full((720, 1280, 3), 95, np.uint8)
    frame = cv2.add(frame, rng.integers(0, 20, frame.shape, dtype=np.uint8))
    body = tuple(int(v) for v in rng.integers(30, body_max, 3))
    cx, cy = int(rng.integers(450, 830)), int(rng.integers(330, 430))
    cv2.rectangle(frame, (cx - 260, cy - 200), (cx + 260, cy + 120), body, -1)
    cv2.rectangle(frame, (cx - 240, cy + 60), (cx + 240, cy + 110), tuple(max(0, c - 60) for c in body), -1)
    return frame, body, (cx, cy)


def mount(frame: np.ndarray, plate: np.ndarray, rng: np.random.Generator, centre: tuple[int, int],
          width: int) -> tuple[int, int, int, int]:
    """Draw the plate centred at `centre`, `width` px wide, its corners moved a little; its box (x, y, w, h)."""
    cx, cy = centre
    ph = int(width * plate.shape[0] / plate.shape[1])
    src = np.float32([[0, 0], [plate.shape[1], 0], [plate.shape[1], plate.shape[0]], [0, plate.shape[0]]])
    skew = rng.uniform(-0.04, 0.04, (4, 2)) * [width, ph]
    x0, y0 = cx - width // 2, cy - ph // 2
    dst = np.float32([[x0, y0], [x0 + width, y0], [x0 + width, y0 + ph], [x0, y0 + ph]]) + skew.astype(np.float32)
    M = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(plate, M, (1280, 720))
    inside = cv2.warpPerspective(np.full(plate.shape[:2], 255, np.uint8), M, (1280, 720))
    frame[inside > 0] = warped[inside > 0]
    x, y = int(dst[:, 0].min()), int(dst[:, 1].min())
    return x, y, int(dst[:, 0].max()) - x, int(dst[:, 1].max()) - y


def finish(frame: np.ndarray, rng: np.random.Generator, blur_max: float = 0.9, quality_min: int = 70) -> np.ndarray:
    frame = cv2.GaussianBlur(frame, (0, 0), rng.uniform(0.4, blur_max))
    frame = np.clip(frame.astype(np.float32) + rng.normal(0, 3, frame.shape), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(quality_min, 95))])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def on_the_road(plate: np.ndarray, rng: np.random.Generator, plate_width: int
                ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A rendered plate on the back of a car in a 1280x720 frame, finished as a camera would; its box (x, y, w, h)."""
    frame, _, centre = car(rng)
    box = mount(frame, plate, rng, centre, plate_width)
    return finish(frame, rng), box
