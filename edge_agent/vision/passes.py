"""A vehicle's pass, made from one photo, read as the agent reads a stream.

A photo is one look at a vehicle; a camera sees it in many frames as it
drives by, and the agent reports the vote of its track, not each frame's
reads. `drive_away` turns a photo into such frames: the first is the photo
itself, then the scene shrinks about the labelled plate to `END_SCALE` of
its size while the plate moves up the frame, as a vehicle does driving
away from a camera that looks down the road at rear plates (the highway
clip in ../shared/datasets/videos is filmed so). `read_pass` runs the
frames through the same detector, reader and tracker the agent runs
(whole-frame scans every `full_scan_seconds`, rows followed and settled
between), so a benchmark can count what the agent would report, per frame
and per vehicle: `bench accuracy --passes` and `bench false-reads --passes`.

The motion is made up (only the pictures are real), and how many frames
a pass lasts sets how many passes fit in 1000 frames; both are printed
beside the figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterator

import cv2
import numpy as np

from .detect import PlateDetector
from .read import PlateReader, read_frame
from ..records import Box, Frame, PlateRead, VehicleRead
from .track import Tracker

# The vehicle's last frame shows it at this fraction of its size in the
# photo; the first frame is the photo itself.
END_SCALE = 0.6
# The plate ends this fraction of the frame's height above where it starts.
RISE = 0.15
# Camera frames per second of a pass (the highway clip is 24.2).
PASS_FPS = 25.0
# Passes are this far apart, so no track of one is open at the next.
PASS_GAP_SECONDS = 10.0


def drive_away(image: np.ndarray, plate: Box, frames: int) -> Iterator[np.ndarray]:
    """`frames` pictures of the photo's vehicle driving away, the first one the photo itself."""
    h, w = image.shape[:2]
    px, py = plate.center
    for k in range(frames):
        t = k / (frames - 1) if frames > 1 else 0.0
        scale = 1.0 - (1.0 - END_SCALE) * t
        # Scale about the plate, then put the plate where it is at this moment.
        qx, qy = px, py - RISE * h * t
        m = np.float32([[scale, 0, qx - scale * px], [0, scale, qy - scale * py]])
        # Replicated edges: a border of stretched pixels holds no text to read.
        yield cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@dataclass
class PassResult:
    frames: int
    frame_reads: list[PlateRead]  # every frame's reads (not carried ones): what the tracker was given
    vehicles: list[VehicleRead]  # what the agent reports


def read_pass(image: np.ndarray, plate: Box, frames: int, start: datetime, source: str,
              detector: PlateDetector, reader: PlateReader, tracker: Tracker) -> PassResult:
    """One pass through detector, reader and tracker; the tracker is flushed at its end."""
    frame_reads: list[PlateRead] = []
    vehicles: list[VehicleRead] = []
    for k, picture in enumerate(drive_away(image, plate, frames)):
        frame = Frame(picture, k, start + timedelta(seconds=k / PASS_FPS), source)
        reads = read_frame(frame, detector, reader)
        frame_reads += [r for r in reads if not r.carried]
        vehicles += tracker.update(reads, frame.captured_at)
    vehicles += tracker.flush()
    return PassResult(frames, frame_reads, vehicles)
