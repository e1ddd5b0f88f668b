"""The records that flow through the pipeline, one stage to the next.

capture -> Frame -> detect -> PlateCandidate -> read -> PlateRead
        -> track -> VehicleRead -> match -> Hit -> store/publish

Each stage takes the previous stage's record and returns its own, so a stage
can be tested (or replaced) without the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np

from .plates import letters_only


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in frame pixels."""

    x: int
    y: int
    w: int
    h: int

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.w / 2.0, self.y + self.h / 2.0)

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]

    def iou(self, other: "Box") -> float:
        x1, y1 = max(self.x, other.x), max(self.y, other.y)
        x2 = min(self.x + self.w, other.x + other.w)
        y2 = min(self.y + self.h, other.y + other.h)
        inter = max(0, x2 - x1) * max(0, y2 - y1)
        union = self.w * self.h + other.w * other.h - inter
        return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Frame:
    """One picture from the camera source."""

    image: np.ndarray  # BGR, uint8, HxWx3
    index: int  # 0-based position in the source since it was opened
    captured_at: datetime  # timezone-aware, UTC
    source: str  # what the technician configured (path, URL or device)
    # A single look at its scene (a photo from a folder), not one frame of a
    # stream in which the same vehicle is seen again.
    still: bool = False


@dataclass(frozen=True)
class PlateCandidate:
    """A region of a frame that looks like a plate, before it is read."""

    box: Box
    score: float
    # 4x2 float32 corner points (clockwise from top-left) of the possibly
    # rotated text region; the reader rectifies along them.
    quad: np.ndarray
    # Which of a still's looks (detect.STILL_LOOKS) found it; 0 on a stream.
    look: int = 0


@dataclass(frozen=True)
class PlateRead:
    """What the reader made of one plate in one frame."""

    text: str  # normalised: A-Z and 0-9 only
    confidence: float  # 0..1
    box: Box
    frame_index: int
    captured_at: datetime
    crop: np.ndarray = field(repr=False)  # BGR image of the plate
    # Not read in this frame: a plate settled in the frames before, passed
    # on at its new position with its settled text (settle.py). The tracker
    # follows a vehicle by it; the vote counts only reads.
    carried: bool = False
    # Whose text it is where two recognizers read the plate (consensus.py):
    # "both", "row" (the engine's), "plate" (the plate recognizer's) or
    # "formats" (neither's own, their likeliest by the region's formats);
    # "" where the engine read it alone.
    reader: str = ""
    # Each recognizer's own read of the row: (reader, text, confidence), for benches.
    readers: tuple[tuple[str, str, float], ...] = ()
    # Where the plate's region writes a round glyph as 0 whatever it is (consensus.round_glyph_is_zero).
    zero_for_o: bool = False


@dataclass(frozen=True)
class VehicleRead:
    """One vehicle's passage: the reads of several frames merged by vote."""

    text: str
    confidence: float  # share-weighted confidence of the winning text
    captured_at: datetime  # time of the best frame
    first_seen: datetime
    last_seen: datetime
    frames: int  # how many frames contributed a read
    box: Box  # box in the best frame
    crop: np.ndarray = field(repr=False)  # plate crop from the best frame

    @property
    def letters_only(self) -> bool:
        return letters_only(self.text)


@dataclass(frozen=True)
class HotListEntry:
    """One plate wanted by a hot list. Only these fields are ever kept."""

    plate: str  # normalised
    state: str = ""
    category: str = ""
    ref: str = ""
    expires: date | None = None
    source: str = ""  # the agency or system that listed the plate
    list_version: str = ""  # the version of the list the entry came from


@dataclass(frozen=True)
class Hit:
    """A vehicle read that matched a hot-list entry."""

    read: VehicleRead
    entry: HotListEntry
    distance: int  # 0 for an exact match, else OCR-confusion substitutions
