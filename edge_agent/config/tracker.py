"""[tracker]: how reads of one vehicle across frames become one read."""

from __future__ import annotations

from dataclasses import dataclass

# track.MAX_TRACK_SECONDS (60) votes every track at that age anyway, so a
# longer gap means nothing; at 0.01 s (under one frame time at 60 fps) a
# track already closes at the first frame it is missing from.
MIN_GAP_SECONDS, MAX_GAP_SECONDS = 0.01, 60
# A track keeps at most track.MAX_READS_PER_TRACK (50) reads, so a larger
# min_frames could never be met: the unit would report no vehicle at all.
MAX_MIN_FRAMES = 50
# Beyond a hundred plate widths a jump spans any frame a unit sees a plate
# in; below a tenth, the detector's own jitter from frame to frame would
# split one vehicle into many tracks.
MIN_JUMP, MAX_JUMP = 0.1, 100


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
        if not MIN_GAP_SECONDS <= self.max_gap_seconds <= MAX_GAP_SECONDS:
            out.append(("max_gap_seconds", f"must be between {MIN_GAP_SECONDS} and {MAX_GAP_SECONDS}"))
        if not 1 <= self.min_frames <= MAX_MIN_FRAMES:
            out.append(("min_frames", f"must be between 1 and {MAX_MIN_FRAMES}"))
        if not MIN_JUMP <= self.max_jump_plate_widths <= MAX_JUMP:
            out.append(("max_jump_plate_widths", f"must be between {MIN_JUMP} and {MAX_JUMP}"))
        return out
