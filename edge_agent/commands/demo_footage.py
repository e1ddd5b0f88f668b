"""Road footage the demo renders itself, so it needs no camera and no data set.

Cars with plates drive down a three-lane road towards the camera, as seen
from an overpass. The plates use a plain sans-serif stroke font; the scene
has sensor noise and a little blur so the detector and reader work as they
would on a real camera rather than on clean pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT, FPS = 960, 540, 10


@dataclass(frozen=True)
class DemoVehicle:
    plate: str
    lane: int  # 0..2
    enters_at: float  # seconds
    colour: tuple[int, int, int]  # BGR body colour


DEMO_VEHICLES = (
    DemoVehicle("4821KMT", 0, 0.0, (60, 60, 190)),
    DemoVehicle("7305BRX", 2, 0.4, (180, 180, 180)),
    DemoVehicle("1946HDL", 1, 2.0, (150, 90, 30)),
    DemoVehicle("5570GZP", 0, 3.2, (40, 40, 40)),
)
SECONDS = 7.0


def _road(rng: np.random.Generator) -> np.ndarray:
    road = np.full((HEIGHT, WIDTH, 3), 92, np.uint8)
    road = cv2.add(road, rng.integers(0, 12, road.shape, dtype=np.uint8))
    for x in (WIDTH // 3, 2 * WIDTH // 3):
        cv2.line(road, (x, 0), (x, HEIGHT), (220, 220, 220), 4)
    cv2.line(road, (12, 0), (12, HEIGHT), (230, 230, 230), 6)
    cv2.line(road, (WIDTH - 12, 0), (WIDTH - 12, HEIGHT), (230, 230, 230), 6)
    return road


def _draw_vehicle(frame: np.ndarray, v: DemoVehicle, y: int) -> None:
    lane_w = WIDTH // 3
    cx = lane_w * v.lane + lane_w // 2
    w, h = 250, 300
    x0, y0 = cx - w // 2, y - h
    cv2.rectangle(frame, (x0 + 8, y0 + 8), (x0 + w + 8, y0 + h + 8), (55, 55, 55), -1)  # shadow
    cv2.rectangle(frame, (x0, y0), (x0 + w, y0 + h), v.colour, -1)
    cv2.rectangle(frame, (x0 + 25, y0 + 30), (x0 + w - 25, y0 + 130), (45, 35, 30), -1)  # rear window
    for lx in (x0 + 10, x0 + w - 50):
        cv2.rectangle(frame, (lx, y0 + 160), (lx + 40, y0 + 190), (30, 30, 200), -1)  # lights
    # The plate: white, black border and characters, as on a real rear plate.
    pw, ph = 170, 40
    px, py = cx - pw // 2, y0 + 205
    cv2.rectangle(frame, (px, py), (px + pw, py + ph), (235, 235, 235), -1)
    cv2.rectangle(frame, (px, py), (px + pw, py + ph), (20, 20, 20), 2)
    text = f"{v.plate[:4]} {v.plate[4:]}"
    font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.95, 2
    (tw, th), _ = cv2.getTextSize(text, font, scale, thick)
    cv2.putText(frame, text, (px + (pw - tw) // 2, py + (ph + th) // 2), font, scale, (15, 15, 15), thick,
                cv2.LINE_AA)


def render_frames(seconds: float = SECONDS, seed: int = 7):
    """Yield the demo's frames (BGR) in order."""
    rng = np.random.default_rng(seed)
    road = _road(rng)
    speed = 150  # px per second
    for i in range(int(seconds * FPS)):
        t = i / FPS
        frame = road.copy()
        for v in DEMO_VEHICLES:
            y = int((t - v.enters_at) * speed)
            if 0 < y < HEIGHT + 300:
                _draw_vehicle(frame, v, y)
        frame = cv2.GaussianBlur(frame, (3, 3), 0.8)
        noise = rng.normal(0, 4, frame.shape)
        yield np.clip(frame.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def write_video(path: Path, seconds: float = SECONDS) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write video {path}")
    for frame in render_frames(seconds):
        writer.write(frame)
    writer.release()
    return path
