"""A live camera is read as its newest frame: a unit slower than its camera
skips frames whole instead of reading the camera's past, and decodes to
pixels only the frames it may take (edge_agent/vision/live.py)."""

from __future__ import annotations

import time

import numpy as np

from edge_agent.commands.loopstream import LoopStream, encode_jpeg
from edge_agent.config.camera import CameraConfig
from edge_agent.vision.capture import open_source
from test_capture import FAST, FakeCamera

LEVELS = 10  # grey levels a block of a small JPEG keeps apart


def numbered(i: int) -> np.ndarray:
    """A small frame showing its number as three blocks of grey, one per digit."""
    image = np.zeros((96, 192, 3), np.uint8)
    for k in range(3):
        image[:, 64 * k:64 * (k + 1)] = (i // LEVELS ** k % LEVELS) * 25
    return image


def number(image: np.ndarray) -> int:
    return sum(int(round(float(np.median(image[8:-8, 64 * k + 8:64 * (k + 1) - 8])) / 25)) * LEVELS ** k
               for k in range(3))


def test_a_reader_slower_than_its_camera_takes_the_newest_frame_not_the_streams_past() -> None:
    # Small frames at 50 a second: the sockets hold hundreds of them, as they
    # hold seconds of a real camera's H.264. The reader takes 0.2 s a frame.
    frames = [encode_jpeg(numbered(i), 90) for i in range(LEVELS ** 3)]
    assert all(number(numbered(i)) == i for i in (0, 7, 123, 999))
    with LoopStream(frames, fps=50) as stream:
        source = open_source(CameraConfig(source=stream.url))
        behind, taken = [], []
        started = time.monotonic()
        for frame in source.frames():
            taken.append(number(frame.image))
            behind.append(stream.sent - 1 - taken[-1])  # frames the camera sent after this one
            if time.monotonic() - started > 4.0:
                break
            time.sleep(0.2)
        sent = source.camera_fps
        source.close()
    assert sent is not None and 35 <= sent <= 65, sent  # it serves 50 a second
    assert stream.sent < len(frames)  # no frame number came round twice
    assert len(taken) >= 10
    assert taken == sorted(set(taken))  # in the camera's order, never one twice
    assert min(b - a for a, b in zip(taken, taken[1:])) >= 5  # the frames it had no time for were skipped
    # Read in order, each frame taken was 9 more behind the camera: the 21st,
    # 182 (3.6 s). Here 0-1, and a loaded machine may delay the grab thread a little.
    assert max(behind[-10:]) <= 15, f"frames behind the camera: {behind}"


def test_only_the_frames_the_reader_may_take_are_decoded() -> None:
    cam = FakeCamera(delay=0.005)  # about 200 frames a second
    source = open_source(CameraConfig(source="0", **FAST), capture_factory=cam)
    taken, counts = 0, []
    for _ in source.frames():
        taken += 1
        counts.append((cam.n_grabs, cam.n_reads))
        if taken == 20:
            source.stop()
        time.sleep(0.05)  # a reader at 20 frames a second
    # From the third frame, once the reader's pace is known:
    grabbed, decoded = counts[-1][0] - counts[2][0], counts[-1][1] - counts[2][1]
    assert grabbed >= 5 * 17  # the camera's every frame was grabbed
    assert decoded <= 3 * 17, f"{decoded} frames decoded for 17 taken ({grabbed} grabbed)"


def test_max_fps_takes_the_newest_frame_at_its_pace() -> None:
    cam = FakeCamera(delay=0.005)
    source = open_source(CameraConfig(source="0", max_fps=10, **FAST), capture_factory=cam)
    times, decoded = [], []
    for frame in source.frames():
        times.append(time.monotonic())
        decoded.append(cam.n_reads)
        if len(times) == 8:
            source.stop()
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 0.09  # 10 a second, however fast the camera
    assert decoded[-1] - decoded[2] <= 3 * 5  # once its pace is known, about a frame decoded per frame taken


def test_max_fps_lets_no_frame_through_early_after_a_late_one() -> None:
    # A reader that sometimes takes longer than the interval (here every
    # other frame, 0.14 s at 10 a second): the frame after a late one still
    # comes a whole interval later, less a little jitter, not early to keep
    # the average. Catching up let one through 0.06 s after a late one.
    cam = FakeCamera(delay=0.005)
    source = open_source(CameraConfig(source="0", max_fps=10, **FAST), capture_factory=cam)
    times = []
    for _ in source.frames():
        times.append(time.monotonic())
        if len(times) == 9:
            source.stop()
        if len(times) % 2:
            time.sleep(0.14)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 0.09 - 0.005, gaps
    assert max(gaps[2:]) <= 0.3, gaps  # and the source keeps up with the reader
