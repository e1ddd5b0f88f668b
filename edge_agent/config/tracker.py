"""[tracker]: how reads of one vehicle across frames become one read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrackerConfig:
    # A track with no new read for this long, and none in the last
    # processed frame, is closed and voted on (track.SLOW_FRAME_GAP_FACTOR).
    max_gap_seconds: float = 1.0
    # A vehicle needs this many frames agreeing before it counts: frames
    # whose read is its voted text, or all of it but one character
    # (track.agrees). 1 lets a single frame through, for photos.
    min_frames: int = 2
    # Largest jump of a plate's centre between two reads of the same track,
    # in plate widths.
    max_jump_plate_widths: float = 3.0

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if self.max_gap_seconds <= 0:
            out.append(("max_gap_seconds", "must be greater than 0"))
        if self.min_frames < 1:
            out.append(("min_frames", "must be at least 1"))
        if self.max_jump_plate_widths <= 0:
            out.append(("max_jump_plate_widths", "must be greater than 0"))
        return out
