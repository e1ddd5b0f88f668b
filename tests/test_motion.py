"""The motion gate: a still scene is not searched for plates, anything that moves is,
and no vehicle of the real road clip is lost to it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
import pytest
from agent_configs import write_config
from datasets import HIGHWAY, HIGHWAY_PLATES, highway_frames, require

from edge_agent.commands.bench_idle import road_vehicles
from edge_agent.config import CameraConfig, ReaderConfig, load_config
from edge_agent.vision.motion import MotionGate
from edge_agent.records import Frame
from edge_agent.service.agent import Agent

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=timezone.utc)
FPS = 10


def frame(image: np.ndarray, i: int, still: bool = False) -> Frame:
    return Frame(image, i, T0 + timedelta(seconds=i / FPS), "test", still=still)


@pytest.fixture(scope="module")
def road():
    return highway_frames(3)[0]


def test_a_still_scene_is_read_while_the_gate_learns_it_then_not_at_all(road):
    gate = MotionGate(CameraConfig(source="x"))
    read = [gate.moved(frame(road.copy(), i)) for i in range(60)]
    hold = int(CameraConfig.motion_hold_seconds * FPS)
    assert all(read[:hold + 1]) and not any(read[hold + 1:])
    assert gate.counts.still == 60 - hold - 1


def test_sensor_noise_and_slow_light_changes_are_not_motion(road):
    gate = MotionGate(CameraConfig(source="x", motion_hold_seconds=0))
    rng = np.random.default_rng(1)
    read = []
    for i in range(100):
        noisy = road.astype(np.float32) * (1 + 0.002 * i) + rng.normal(0, 6, road.shape)  # dusk, night noise
        read.append(gate.moved(frame(np.clip(noisy, 0, 255).astype(np.uint8), i)))
    assert read[0] and not any(read[1:])


def test_a_car_sized_object_far_down_the_road_is_motion(road):
    gate = MotionGate(CameraConfig(source="x", motion_hold_seconds=0))
    for i in range(20):
        assert gate.moved(frame(road.copy(), i)) == (i == 0)
    # 60x40 px, a car whose plate is ~8 px tall, driving 12 px a frame.
    for i in range(20, 30):
        image = road.copy()
        x = 300 + 12 * (i - 20)
        image[200:240, x:x + 60] = (30, 30, 30)
        assert gate.moved(frame(image, i)), i


def test_masked_regions_never_count_as_motion(road):
    # The source zeroes masked pixels before the gate sees the frame, so a
    # tree swaying in a masked corner stays black and still.
    gate = MotionGate(CameraConfig(source="x", motion_hold_seconds=0))
    for i in range(30):
        image = road.copy()
        image[0:200, 0:400] = 0  # the mask, as capture applies it
        assert gate.moved(frame(image, i)) == (i == 0)


def test_stills_and_a_gate_switched_off_read_every_frame(road):
    for gate, still in ((MotionGate(CameraConfig(source="x")), True),
                        (MotionGate(CameraConfig(source="x", motion_gate=False)), False)):
        assert all(gate.moved(frame(road.copy(), i, still=still)) for i in range(50))
        assert gate.counts.still == 0


def test_every_plate_of_the_road_clip_is_read_with_the_gate():
    texts, frames, not_read = road_vehicles(require(HIGHWAY), True, ReaderConfig())
    assert frames == 120 and not_read == 0  # traffic moves in every frame
    assert set(HIGHWAY_PLATES) <= set(texts)


def test_the_agent_reads_no_frame_of_a_still_scene_after_the_hold(tmp_path, road):
    video = tmp_path / "still.avi"
    out = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (road.shape[1], road.shape[0]))
    for _ in range(60):
        out.write(road)
    out.release()

    class CountingDetector:
        frames = 0

        def __call__(self, frame):
            CountingDetector.frames += 1
            return []

        def closer_looks(self, frame):
            return []

    class NoReads:
        def __call__(self, frame, candidates):
            return []

        def rank_still(self, frame, candidates):
            return []

    config = write_config(tmp_path, source=video, port=1, hotlist="plate\nABC123\n")
    agent = Agent(load_config(config), detector=CountingDetector(), reader=NoReads())
    agent.run(drain_timeout=0)
    hold = int(CameraConfig.motion_hold_seconds * FPS)
    assert CountingDetector.frames == hold + 1
    assert agent.motion.counts.still == 60 - hold - 1
