"""Where the shared test data lives; tests read it in place, never copy it."""

from __future__ import annotations

from pathlib import Path

import pytest

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
HIGHWAY = DATASETS / "videos" / "highway-es.mp4"
# The eight plates of highway-es.mp4, as listed in its README.
HIGHWAY_PLATES = ("6380CCS", "8589BXT", "0752GJR", "2835BSY", "MA4844CC", "9079GCH", "5553DNM", "3693FSG")


def highway_frames(count: int) -> list:
    """The first `count` frames of the highway clip (BGR arrays); skips the test without it."""
    import cv2

    cap = cv2.VideoCapture(str(require(HIGHWAY)))
    frames = []
    ok, image = cap.read()
    while ok and len(frames) < count:
        frames.append(image)
        ok, image = cap.read()
    cap.release()
    assert len(frames) == count, f"{HIGHWAY} has {len(frames)} frames, fewer than {count}"
    return frames


def require(path: Path) -> Path:
    """Skip the calling test, with the reason, when the shared data is absent."""
    if not path.exists():
        pytest.skip(f"shared dataset not found at {path} (see shared/README.md)")
    return path
