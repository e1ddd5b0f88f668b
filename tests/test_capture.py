"""Capture: real files from the shared dataset, and a scripted fake for the one
thing that cannot run here, a camera device / network stream."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from datetime import timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.vision.capture import LiveSource, natural_key, open_source, redact, source_kind
from edge_agent.config.camera import CameraConfig
from edge_agent.errors import InputError

from datasets import DATASETS, HIGHWAY as VIDEO

PHOTOS = DATASETS / "openalpr-benchmarks" / "endtoend" / "us"

needs_video = pytest.mark.skipif(not VIDEO.is_file(), reason=f"shared dataset video not found at {VIDEO}")
needs_photos = pytest.mark.skipif(not PHOTOS.is_dir(), reason=f"shared dataset photos not found at {PHOTOS}")


def _noise(seed: int, shape: tuple[int, ...] = (48, 64, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# --- source kinds -----------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("0", "device"),
        ("/dev/video2", "device"),
        ("rtsp://cam.local/stream", "stream"),
        ("RTSP://cam.local/stream", "stream"),
        ("http://10.0.0.5/mjpg", "stream"),
        ("https://10.0.0.5/mjpg", "stream"),
        ("clip.mp4", "video"),
        ("plate.JPG", "image"),
        ("scan.tiff", "image"),
    ],
)
def test_source_kind(source: str, kind: str) -> None:
    assert source_kind(source) == kind


def test_source_kind_folder(tmp_path: Path) -> None:
    assert source_kind(str(tmp_path)) == "folder"


# --- video file ---------------------------------------------------------------


@needs_video
def test_real_video_yields_all_frames_on_the_video_clock() -> None:
    src = open_source(CameraConfig(source=str(VIDEO)))
    assert src.live is False
    frames = list(src.frames())
    assert len(frames) == 120
    assert [f.index for f in frames] == list(range(120))
    assert all(f.image.shape == (720, 1280, 3) and f.image.dtype == np.uint8 for f in frames)
    times = [f.captured_at for f in frames]
    assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in times)
    assert all(b > a for a, b in zip(times, times[1:]))
    span = (times[-1] - times[0]).total_seconds()
    assert 4.5 < span < 5.5
    assert all(f.source == str(VIDEO) for f in frames)
    assert not any(f.still for f in frames)  # the tracker sees each vehicle again
    assert list(src.frames()) == []  # processed once


@needs_video
def test_stop_ends_a_video_early() -> None:
    src = open_source(CameraConfig(source=str(VIDEO)))
    got = []
    for frame in src.frames():
        got.append(frame.index)
        if len(got) == 3:
            src.stop()
    assert got == [0, 1, 2]
    src.close()


class _FakeVideo:
    """A video backend that reports no position, like some containers do."""

    def __init__(self, n: int):
        self.left = n

    def isOpened(self) -> bool:
        return True

    def get(self, prop: int) -> float:
        return 10.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self) -> tuple[bool, np.ndarray | None]:
        self.left -= 1
        return (True, _noise(self.left, (8, 8))) if self.left >= 0 else (False, None)

    def release(self) -> None:
        pass


def test_video_without_position_falls_back_to_index_over_fps(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not really a video; the fake backend reads it")
    src = open_source(CameraConfig(source=str(clip)), capture_factory=lambda _: _FakeVideo(4))
    frames = list(src.frames())
    assert len(frames) == 4
    gaps = [(b.captured_at - a.captured_at).total_seconds() for a, b in zip(frames, frames[1:])]
    assert gaps == pytest.approx([0.1, 0.1, 0.1])
    assert all(f.image.shape == (8, 8, 3) for f in frames)  # grayscale became BGR


# --- folders and single images ------------------------------------------------


@needs_photos
def test_real_photo_folder_yields_every_jpg_in_sorted_order() -> None:
    jpgs = [p for p in PHOTOS.iterdir() if p.suffix.lower() == ".jpg"]
    src = open_source(CameraConfig(source=str(PHOTOS)))
    assert src.live is False
    seen = []
    for frame in src.frames():
        assert frame.image.ndim == 3 and frame.image.shape[2] == 3 and frame.image.dtype == np.uint8
        assert frame.captured_at.tzinfo == timezone.utc
        assert frame.still  # one look per scene: the reader takes four heights
        seen.append(src.current_path.name)
        assert frame.index == len(seen) - 1
    assert len(seen) == len(jpgs) > 0
    assert seen == sorted((p.name for p in jpgs), key=natural_key)


@needs_photos
def test_single_real_image_is_one_frame() -> None:
    photo = sorted(PHOTOS.glob("*.jpg"))[0]
    src = open_source(CameraConfig(source=str(photo)))
    frames = list(src.frames())
    assert len(frames) == 1
    assert frames[0].image.shape == cv2.imread(str(photo)).shape


def test_folder_natural_order_extensions_and_channels(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "img10.png"), _noise(1))
    cv2.imwrite(str(tmp_path / "img2.png"), _noise(2)[:, :, 0])  # grayscale
    bgra = np.dstack([_noise(3), np.full((48, 64), 255, np.uint8)])
    cv2.imwrite(str(tmp_path / "img1.png"), bgra)  # with alpha
    cv2.imwrite(str(tmp_path / "IMG3.JPEG"), _noise(4))
    (tmp_path / "img4.txt").write_text("plate: ABC123")
    (tmp_path / "._img0.jpg").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")
    src = open_source(CameraConfig(source=str(tmp_path)))
    names = []
    for frame in src.frames():
        assert frame.image.shape == (48, 64, 3) and frame.image.dtype == np.uint8
        names.append(src.current_path.name)
    assert names == ["img1.png", "img2.png", "IMG3.JPEG", "img10.png"]


def test_corrupt_image_is_logged_by_name_and_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cv2.imwrite(str(tmp_path / "a.jpg"), _noise(1))
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    cv2.imwrite(str(tmp_path / "c.png"), _noise(2))
    caplog.set_level(logging.WARNING, logger="edge_agent.vision.capture")
    frames = list(open_source(CameraConfig(source=str(tmp_path))).frames())
    assert [f.index for f in frames] == [0, 1]
    assert "b.jpg" in caplog.text
    assert str(tmp_path) not in caplog.text  # name only


# --- bad input ------------------------------------------------------------------


def _input_error(source: str) -> InputError:
    with pytest.raises(InputError) as info:
        open_source(CameraConfig(source=source))
    assert info.value.exit_code == 2
    assert source in str(info.value)
    return info.value


def test_missing_file_or_folder(tmp_path: Path) -> None:
    for missing in (tmp_path / "nope.mp4", tmp_path / "nope", tmp_path / "nope.jpg"):
        err = _input_error(str(missing))
        assert str(err) == f"camera.source: no such file or folder: {missing}"


def test_empty_folder_and_folder_without_images(tmp_path: Path) -> None:
    assert "no images in" in str(_input_error(str(tmp_path)))
    (tmp_path / "readme.txt").write_text("no pictures here")
    assert "no images in" in str(_input_error(str(tmp_path)))


def test_file_opencv_cannot_open(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("this is not a video\n" * 50)
    _input_error(str(notes))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    _input_error(str(broken))


# --- live sources (fake device / stream) ----------------------------------------


class FakeCamera:
    """Stands in for cv2.VideoCapture on a device, following a script.

    `opens`: outcome of each open attempt (True once the list runs out).
    `reads`: "ok" | "fail" | "none" | "blank" for each frame grabbed (ok once it runs out):
    "fail" a failed grab, "none" a frame that does not decode.
    """

    def __init__(self, opens: list[bool | Exception] = (), reads: list[str] = (), delay: float = 0.0):
        self.opens = deque(opens)
        self.reads = deque(reads)
        self.delay = delay
        self.targets: list[object] = []
        self.n_reads = self.n_grabs = self.n_released = 0
        self.first_grab_at = float("inf")

    def __call__(self, target: object) -> "_FakeCapture":
        self.targets.append(target)
        outcome = self.opens.popleft() if self.opens else True
        if isinstance(outcome, Exception):
            raise outcome
        return _FakeCapture(self, outcome)


class _FakeCapture:
    def __init__(self, cam: FakeCamera, opened: bool):
        self.cam, self.opened = cam, opened
        self.step = ""

    def isOpened(self) -> bool:
        return self.opened

    def grab(self) -> bool:
        cam = self.cam
        cam.n_grabs += 1
        cam.first_grab_at = min(cam.first_grab_at, time.monotonic())
        time.sleep(cam.delay)
        self.step = cam.reads.popleft() if cam.reads else "ok"
        return self.step != "fail"

    def retrieve(self) -> tuple[bool, np.ndarray | None]:
        cam = self.cam
        cam.n_reads += 1
        if self.step == "none":
            return True, None
        if self.step == "blank":
            return True, np.full((48, 64, 3), 128, np.uint8)
        return True, _noise(cam.n_reads)

    def release(self) -> None:
        self.cam.n_released += 1


def _record_pauses(src: LiveSource) -> list[tuple[float, str]]:
    """Wrap the backoff sleep to see each wait and the error shown during it."""
    pauses: list[tuple[float, str]] = []
    original = src._pause

    def pause(seconds: float) -> None:
        pauses.append((seconds, src.last_error))
        original(seconds)

    src._pause = pause  # type: ignore[method-assign]
    return pauses


FAST = dict(reconnect_min_seconds=0.01, reconnect_max_seconds=0.05)


def test_device_reconnects_with_growing_backoff_and_keeps_counting() -> None:
    n = LiveSource.max_bad_reads
    cam = FakeCamera(
        # open, drop, two failed reopens, reopen, drop again, reopen
        opens=[True, False, False, True, True],
        reads=["ok"] * 3 + ["fail"] * n + ["ok"] * 3 + ["none"] * n,
    )
    src = open_source(CameraConfig(source="0", **FAST), capture_factory=cam)
    assert src.live is True
    pauses = _record_pauses(src)
    frames, errors_after = [], []
    for frame in src.frames():
        frames.append(frame)
        errors_after.append(src.last_error)
        if len(frames) == 9:
            src.stop()
    assert [f.index for f in frames] == list(range(9))
    assert cam.targets == [0] * 5  # a bare integer goes to OpenCV as an int
    assert all(f.source == "0" and f.image.shape == (48, 64, 3) for f in frames)
    # Four waits: read failures, two failed opens, then the second drop.
    waits = [w for w, _ in pauses]
    assert len(waits) == 4
    assert waits[0] < waits[1] < waits[2]  # exponential
    assert all(0.008 <= w <= 0.06 for w in waits)  # min 0.01 .. max 0.05, +-20 %
    assert waits[3] < 0.0125  # reset after the good frames
    assert all(err for _, err in pauses)  # the fault is visible while waiting
    assert "read failed" in pauses[0][1] and "cannot open" in pauses[1][1]
    # and cleared once good frames come again (a frame taken may be a moment
    # older than a fault the grab thread has just met, so not at every frame)
    assert errors_after[-1] == "" and src.last_error == ""
    assert cam.n_released >= 4


def test_blank_frames_count_as_a_fault() -> None:
    cam = FakeCamera(reads=["ok"] * 2 + ["blank"] * 3 + ["ok"] * 2)
    src = open_source(CameraConfig(source="/dev/video2", **FAST), capture_factory=cam)
    src.max_blank_frames = 3
    pauses = _record_pauses(src)
    frames = []
    for frame in src.frames():
        frames.append(frame)
        if len(frames) == 4:
            src.stop()
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert len(pauses) == 1 and "blank" in pauses[0][1]
    assert cam.targets == ["/dev/video2", "/dev/video2"]
    assert src.last_error == ""


def test_stop_interrupts_a_long_backoff() -> None:
    cam = FakeCamera(opens=[False] * 100)
    src = open_source(
        CameraConfig(source="rtsp://cam.local/live", reconnect_min_seconds=30, reconnect_max_seconds=60),
        capture_factory=cam,
    )
    got: list = []
    worker = threading.Thread(target=lambda: got.extend(src.frames()))
    worker.start()
    deadline = time.monotonic() + 2
    while not src.last_error and time.monotonic() < deadline:
        time.sleep(0.005)
    assert src.last_error  # now inside the 30 s wait
    time.sleep(0.05)
    started = time.monotonic()
    src.stop()
    worker.join(timeout=2)
    assert not worker.is_alive()
    assert time.monotonic() - started < 0.5
    assert got == []
    src.close()


def test_max_fps_drops_frames_instead_of_queueing() -> None:
    cam = FakeCamera(delay=0.002)  # a camera that delivers ~500 fps
    src = open_source(CameraConfig(source="0", max_fps=20, **FAST), capture_factory=cam)
    frames = []
    started = time.monotonic()
    for frame in src.frames():
        frames.append(frame)
        if len(frames) == 5:
            src.stop()
    elapsed = time.monotonic() - started
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert elapsed >= 0.18  # 4 intervals of 50 ms
    assert cam.n_grabs > 0  # surplus frames were grabbed and dropped


def test_credentials_never_reach_last_error_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    url = "rtsp://admin:s3cr3t-pw@10.0.0.5:554/Streaming/Channels/101"
    cam = FakeCamera(
        opens=[RuntimeError(f"could not connect to {url}"), False, True],
        reads=["fail"] * LiveSource.max_bad_reads,
    )
    caplog.set_level(logging.DEBUG, logger="edge_agent.vision.capture")
    src = open_source(CameraConfig(source=url, **FAST), capture_factory=cam)
    pauses = _record_pauses(src)
    frames = []
    for frame in src.frames():
        frames.append(frame)
        src.stop()
    assert cam.targets == [url] * 4  # the real URL still goes to OpenCV
    assert len(pauses) == 3
    shown = [err for _, err in pauses] + [caplog.text] + [f.source for f in frames]
    assert all("s3cr3t-pw" not in text and "admin" not in text for text in shown)
    assert all("10.0.0.5" in err for _, err in pauses)  # still says which camera


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rtsp://admin:pw@cam/x", "rtsp://***@cam/x"),
        ("open rtsp://u:p@ss@10.0.0.1:554/a failed", "open rtsp://***@10.0.0.1:554/a failed"),
        ("http://cam/snap.cgi?user=admin&password=hunter2", "http://cam/snap.cgi?user=admin&password=***"),
        ("http://cam/snap?api_key=abc&x=1", "http://cam/snap?api_key=***&x=1"),
        ("rtsp://cam.local/live", "rtsp://cam.local/live"),
        ("/dev/video0", "/dev/video0"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


# --- privacy mask and watchdog heartbeat -------------------------------------------


def test_mask_blacks_out_regions_before_frames_leave_capture(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.full((48, 64, 3), 200, np.uint8))
    src = open_source(CameraConfig(source=str(tmp_path), mask="0,0,10,5; 60,40,100,100"))
    image = next(iter(src.frames())).image
    assert (image[0:5, 0:10] == 0).all() and (image[40:, 60:] == 0).all()  # clipped at the edge
    assert (image[5:40, 10:60] == 200).all()
    assert int((image == 0).all(axis=2).sum()) == 10 * 5 + 8 * 4


@pytest.mark.parametrize("mask", ["1,2,3", "a,b,c,d", "0,0,0,5", "-1,0,5,5"])
def test_bad_mask_is_reported_by_key(mask: str, tmp_path: Path) -> None:
    assert any(key == "mask" for key, _ in CameraConfig(source="0", mask=mask).problems())
    with pytest.raises(InputError, match=r"^camera\.mask: region"):
        open_source(CameraConfig(source="0", mask=mask))


def test_heartbeat_while_waiting_for_the_camera_never_inside_a_read() -> None:
    cam = FakeCamera(opens=[False] * 3, delay=0.0)
    src = open_source(CameraConfig(source="0", reconnect_min_seconds=0.3, reconnect_max_seconds=2.5), capture_factory=cam)
    beats: list[float] = []
    src.heartbeat = lambda: beats.append(time.monotonic())
    started = time.monotonic()
    for _ in src.frames():
        src.stop()
    # Three failed opens: waits of ~0.3, 0.6 and 1.2 s, each fed at least once a second.
    assert time.monotonic() - started >= 1.6
    times = [started] + beats
    assert max(b - a for a, b in zip(times, times[1:])) < 1.3
    # All for the waits before the first grab (relayed to the reader's thread
    # within a wait_step): none while grabbing.
    assert max(beats) < cam.first_grab_at + LiveSource.wait_step + 0.05
    assert src.faults == 1  # one outage, however many retries
