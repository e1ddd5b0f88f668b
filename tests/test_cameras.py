"""Several cameras in one agent ([[cameras]]): each camera's hits on its own
topic, its own status and tracking, shared models, and one camera's fault
never stopping the others. A real Mosquitto, real road video."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from pathlib import Path

import cv2
import jsonschema
import pytest

from agent_configs import write_cameras_config
from datasets import HIGHWAY, HIGHWAY_PLATES, highway_frames, require
from edge_agent.commands.broker import LocalBroker
from edge_agent.config import load_config
from edge_agent.service.agent import Agent
from mqtt_helpers import Subscriber
from test_agent import HIT_SCHEMA, STATUS_SCHEMA, run_agent

HOTLIST = "plate,category,ref\n" + "".join(f"{p},stolen-vehicle,R-{i}\n" for i, p in enumerate(HIGHWAY_PLATES))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_cameras_each_alert_on_their_own_topic_and_a_missing_one_stops_neither(tmp_path: Path) -> None:
    require(HIGHWAY)
    cameras = f"""
[[cameras]]
id = "north"
source = "{HIGHWAY}"

[[cameras]]
id = "gone"
source = "{tmp_path / 'unplugged.mp4'}"

[[cameras]]
id = "south"
source = "{HIGHWAY}"

[cameras.tracker]
min_frames = 3
"""
    with LocalBroker() as broker:
        config = write_cameras_config(tmp_path, cameras=cameras, port=broker.port, hotlist=HOTLIST)
        sub = Subscriber(broker.host, broker.port, "alpr/#")
        try:
            proc = run_agent(config)
            assert proc.returncode == 0, proc.stderr[-2000:]
            sub.wait_until(lambda ms: sum(m.topic.endswith("/hit") for m in ms) >= 2 * len(HIGHWAY_PLATES), 10)
            messages = list(sub.messages)
        finally:
            sub.close()
    assert "Traceback" not in proc.stderr
    # The camera whose file is gone is said once, naming it; the others read the whole clip.
    assert re.search(r"camera gone: camera.source: no such file or folder: .*unplugged.mp4", proc.stderr)
    for camera in ("north", "south"):
        alerts = [json.loads(m.payload) for m in messages if m.topic == f"alpr/test-site/{camera}/hit"]
        assert sorted(a["plate"] for a in alerts) == sorted(HIGHWAY_PLATES), camera
        for alert in alerts:
            assert alert["camera_id"] == camera
            jsonschema.validate(alert, HIT_SCHEMA)
        # Each camera is tracked on its own: eight vehicles each, not sixteen merged or split.
        assert f"camera {camera}: stopped after 120 frames" in proc.stderr
        assert re.search(rf"camera {camera}: stopped after 120 frames .* 8 vehicles, 8 hits", proc.stderr)
    # Each camera has its status topic, the missing one with its fault.
    for camera in ("north", "gone", "south"):
        docs = [json.loads(m.payload) for m in messages if m.topic == f"alpr/test-site/{camera}/status"]
        assert docs and docs[-1]["state"] == "offline", camera
        for doc in docs:
            jsonschema.validate(doc, STATUS_SCHEMA)
            assert doc["camera_id"] == camera
    gone = [json.loads(m.payload) for m in messages if m.topic == "alpr/test-site/gone/status"]
    assert any("camera_error" in d.get("alarms", ()) for d in gone if d["state"] == "online") or \
        "unplugged.mp4" in json.dumps(gone)
    assert (tmp_path / "data" / "status.north.json").exists()
    assert (tmp_path / "data" / "status.south.json").exists()


def test_every_camera_missing_fails_the_run_with_its_error(tmp_path: Path) -> None:
    cameras = f"""
[[cameras]]
id = "a"
source = "{tmp_path / 'a.mp4'}"

[[cameras]]
id = "b"
source = "{tmp_path / 'b.mp4'}"
"""
    config = write_cameras_config(tmp_path, cameras=cameras, port=closed_port(), hotlist=HOTLIST)
    proc = run_agent(config, "--drain-timeout", "1")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "no such file or folder" in proc.stderr.strip().splitlines()[-1]


def test_a_stream_down_never_stops_the_camera_beside_it(tmp_path: Path) -> None:
    """One camera's RTSP stream is down the whole time: the other alerts, and the
    status of the one down says so, each on its own topic with its own will."""
    require(HIGHWAY)
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, frame in enumerate(highway_frames(4)):
        cv2.imwrite(str(frames / f"frame{i:03d}.png"), frame)
    cameras = f"""
[[cameras]]
id = "road"
source = "{frames}"

[[cameras]]
id = "down"
source = "rtsp://127.0.0.1:{closed_port()}/stream"
reconnect_min_seconds = 0.2
reconnect_max_seconds = 0.5
stream_timeout_seconds = 2
"""
    with LocalBroker() as broker:
        config = write_cameras_config(tmp_path, cameras=cameras, port=broker.port, hotlist=HOTLIST)
        config.write_text(config.read_text().replace("allow_insecure = true", "allow_insecure = true\n"
                                                     "status_interval_seconds = 1"))
        sub = Subscriber(broker.host, broker.port, "alpr/#")
        agent = Agent(load_config(config))
        runner = threading.Thread(target=agent.run, daemon=True)
        try:
            runner.start()
            hits = sub.wait_until(lambda ms: any(m.topic == "alpr/test-site/road/hit" for m in ms), 120)
            sub.wait_until(lambda ms: any(m.topic == "alpr/test-site/down/status" and
                                          "camera_error" in json.loads(m.payload).get("alarms", ()) for m in ms), 20)
            assert runner.is_alive(), "the agent stopped with one camera down"
            # The camera down is waited for, not hung: the agent is still fed to the watchdog.
            assert not agent._stalled
        finally:
            agent.stop()
            runner.join(30)
            sub.close()
    assert not runner.is_alive()
    alerts = [json.loads(m.payload) for m in hits if m.topic == "alpr/test-site/road/hit"]
    assert [a["plate"] for a in alerts] == ["8589BXT"] and alerts[0]["camera_id"] == "road"
    down = [json.loads(m.payload) for m in sub.messages if m.topic == "alpr/test-site/down/status"]
    assert down[-1]["state"] == "offline" and down[-1]["camera_id"] == "down"
    assert all(doc["frames"] == 0 for doc in down if doc["state"] == "online")


@pytest.mark.parametrize("cameras, problem", [
    ('[[cameras]]\nid = "a"\nsource = "x.mp4"\n\n[[cameras]]\nid = "a"\nsource = "y.mp4"\n',
     "cameras[2].id: 'a' is already the id of cameras[1]"),
    ('[[cameras]]\nsource = "x.mp4"\n', "cameras[1].id: is required"),
    ('[[cameras]]\nid = "a/b"\nsource = "x.mp4"\n', "cameras[1].id: may hold only letters"),
    ('[[cameras]]\nid = "a"\n', "cameras[1].source: is required"),
    ('[[cameras]]\nid = "a"\nsource = "x.mp4"\n\n[cameras.tracker]\nmin_frames = 0\n',
     "cameras[1].tracker.min_frames: must be between"),
    ('[[cameras]]\nid = "a"\nsource = "x.mp4"\nfps = 3\n', "cameras[1].fps: unknown key (did you mean 'max_fps'?)"),
    ('[camera]\nsource = "x.mp4"\nid = "a"\n', "camera.id: the single [camera] is named by [unit] camera_id"),
])
def test_camera_problems_name_their_line_and_key(tmp_path: Path, cameras: str, problem: str) -> None:
    from edge_agent.config import ConfigError

    config = write_cameras_config(tmp_path, cameras=cameras, port=1883, hotlist=HOTLIST)
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    found = [f"{p.key}: {p.message}" for p in caught.value.problems]
    assert any(f.startswith(problem) for f in found), found
    text = config.read_text().split("\n")
    hit = next(p for p in caught.value.problems if f"{p.key}: {p.message}".startswith(problem))
    # The line named is the camera's own table or key, not line 1.
    assert hit.line > 1 and text[hit.line - 1].strip(), (hit, text)


def test_cameras_and_camera_together_and_camera_id_with_cameras_are_refused(tmp_path: Path) -> None:
    from edge_agent.config import ConfigError

    config = write_cameras_config(tmp_path, cameras='[camera]\nsource = "x.mp4"\n\n[[cameras]]\nid = "a"\n'
                                  'source = "y.mp4"\n', port=1883, hotlist=HOTLIST)
    config.write_text(config.read_text().replace('site = "test-site"', 'site = "test-site"\ncamera_id = "c"'))
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    found = {f"{p.key}: {p.message}" for p in caught.value.problems}
    assert "camera: use either [camera] or [[cameras]], not both" in found
    assert "unit.camera_id: leave it out with [[cameras]]: each camera has its own id" in found


def test_a_hung_camera_read_starves_the_watchdog_while_the_other_camera_reads_on(tmp_path, monkeypatch):
    """Several cameras: the agent's thread feeds the watchdog only while every
    camera delivers or waits; one hung in a read (a stream stalled with its
    connection open) stops the feeding, and the other camera reads on."""
    from edge_agent.service import agent as service
    from edge_agent.commands.loopstream import LoopStream, encode_clip
    from test_systemd import FakeSystemd

    require(HIGHWAY)
    monkeypatch.setattr(service, "STALLED_SECONDS", 2.0)  # 40 s on a unit; the rule is the same
    clip = encode_clip(HIGHWAY, limit=20, quality=70)
    systemd = FakeSystemd(tmp_path / "notify")
    monkeypatch.setenv("NOTIFY_SOCKET", str(systemd.path))
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    with LoopStream(clip, fps=5) as stalls, LoopStream(clip, fps=5) as steady:
        cameras = "".join(f'[[cameras]]\nid = "{name}"\nsource = "{stream.url}"\nstream_timeout_seconds = 8\n'
                          f"reconnect_min_seconds = 0.2\nreconnect_max_seconds = 0.5\n\n"
                          for name, stream in (("stalls", stalls), ("steady", steady)))
        config = write_cameras_config(tmp_path, cameras=cameras, port=closed_port(), hotlist=HOTLIST)
        agent = Agent(load_config(config))
        steady_camera = next(c for c in agent.cameras if c.id == "steady")
        runner = threading.Thread(target=agent.run, daemon=True)
        runner.start()
        try:
            systemd.wait_for("WATCHDOG=1", timeout=60)
            stalls.stall()
            # The camera's grab hangs from the stall (for 8 s, the stream
            # timeout); the agent calls it hung STALLED_SECONDS later.
            deadline = time.monotonic() + 30
            while agent._stalled != {"stalls"} and time.monotonic() < deadline:
                time.sleep(0.05)
            hung_at = time.monotonic()
            frames_then = steady_camera.stats.frames
            time.sleep(3.0)  # hung 2-3 s before this, so still under the 8 s stream timeout
            hung = agent._stalled
            frames_now = steady_camera.stats.frames
            stalls.resume()
            fed_again = systemd.wait_for("WATCHDOG=1", after=time.monotonic(), timeout=30)
        finally:
            agent.stop()
            runner.join(30)
            systemd.close()
    assert hung == {"stalls"}
    assert not systemd.pings(hung_at + 0.5, hung_at + 3.0), "a hung camera read fed the watchdog"
    assert frames_now > frames_then + 2, "the other camera stopped while one hung"
    assert fed_again


def two_camera_config(tmp_path: Path, north_extra: str = "", south_extra: str = "") -> Path:
    return write_cameras_config(tmp_path, port=1883, hotlist=HOTLIST, cameras=f"""
[[cameras]]
id = "north"
source = "{tmp_path / 'north'}"
{north_extra}
[[cameras]]
id = "south"
source = "{tmp_path / 'south'}"
{south_extra}""")


def test_a_reload_changes_each_cameras_mask_and_tracker_and_names_what_waits_for_a_restart(tmp_path, caplog):
    import logging

    from edge_agent.service.reload import reload_agent

    caplog.set_level(logging.INFO, logger="edge_agent")
    config = two_camera_config(tmp_path)
    agent = Agent(load_config(config), detector=lambda f: [], reader=lambda f, c: [])
    north, south = agent.cameras
    try:
        two_camera_config(tmp_path, north_extra="\n[cameras.tracker]\nmin_frames = 4\n",
                          south_extra='mask = "0,0,50,50"\n')
        config.write_text(config.read_text().replace(f"{tmp_path / 'south'}", f"{tmp_path / 'elsewhere'}"))
        assert reload_agent(agent) is None  # loading, off the frame thread
        for _ in range(600):
            if agent._reload_requested.is_set():
                break
            time.sleep(0.05)
        assert reload_agent(agent) is True
    finally:
        agent.store.close()
        agent.instance.release()
    assert north._retrack is not None and north._retrack.min_frames == 4 and south._retrack is None
    assert south.setup.camera.mask == "0,0,50,50" and north.setup.camera.mask == ""
    assert [c.mask for c in agent.cfg.cameras] == ["", "0,0,50,50"]
    # The source changed too: that waits for a restart, and the log says so.
    assert agent.cfg.cameras[1].source == str(tmp_path / "south")
    assert "[[cameras]] changed; takes effect at the next restart" in caplog.text
    assert "privacy mask of camera south now 0,0,50,50" in caplog.text


def test_cameras_share_the_models_and_nothing_else(tmp_path: Path) -> None:
    from edge_agent.config import CameraConfig
    from edge_agent.vision.pipeline import Pipeline

    cfg = load_config(two_camera_config(tmp_path), check_files=False)
    first = Pipeline.build(cfg.reader, cfg.cameras[0], 1)
    other = first.sharing_models(cfg.cameras[1])
    assert other.detector.text_detector is first.detector.text_detector
    assert other.reader.recognizer is first.reader.recognizer
    assert other.reader.plate_recognizer is first.reader.plate_recognizer
    assert other.detector.follower is not first.detector.follower
    assert other.reader._settled is not first.reader._settled
    assert other.motion is not first.motion
    assert isinstance(cfg.cameras[1], CameraConfig)


def test_status_reports_each_camera_and_fails_if_one_is_down(tmp_path: Path) -> None:
    from test_status_cli import ONLINE, status

    config = two_camera_config(tmp_path)
    (tmp_path / "agent.toml").write_text(config.read_text())
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "status.north.json").write_text(json.dumps(dict(ONLINE, camera_id="north")))
    (tmp_path / "data" / "status.south.json").write_text(json.dumps(
        {"schema": "edge-agent/status/1", "state": "offline", "site": "test-site", "camera_id": "south",
         "reason": "stopped", "at": "2026-12-06T08:00:00Z"}))
    proc = status(tmp_path)
    assert proc.returncode == 1
    assert "camera north: edge-agent is running" in proc.stdout and "310 reads, 41 vehicles" in proc.stdout
    assert proc.stderr.strip() == ("camera south: edge-agent is not running: "
                                   "it stopped at 2026-12-06T08:00:00Z (stopped)")
    proc = status(tmp_path, "--json")
    assert set(json.loads(proc.stdout)) == {"north", "south"}


def test_aim_asks_which_camera_and_aims_the_one_named(tmp_path: Path) -> None:
    import subprocess
    import sys

    require(HIGHWAY)
    config = two_camera_config(tmp_path)
    for name in ("north", "south"):
        (tmp_path / name).mkdir()
    cv2.imwrite(str(tmp_path / "south" / "frame.png"), highway_frames(4)[3])

    def aim(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "edge_agent", "aim", "--config", str(config),
                               "--out", str(tmp_path / "aim.jpg"), *extra], capture_output=True, text=True, timeout=300)

    asked = aim()
    assert asked.returncode == 2 and "Traceback" not in asked.stderr
    assert asked.stderr.strip().endswith(f"--camera: name one of the cameras in {config}: north, south")
    assert aim("--camera", "east").stderr.strip().endswith(f"--camera: no camera 'east' of the cameras in {config}: "
                                                           "north, south")
    south = aim("--camera", "south")
    assert south.returncode == 0, south.stderr[-2000:]
    assert f"from {tmp_path / 'south'}" in south.stdout and "8589BXT" in south.stdout


def test_the_policy_names_the_cameras_and_their_own_tracking(tmp_path: Path) -> None:
    from edge_agent.privacy.policy import render

    cfg = load_config(two_camera_config(tmp_path, south_extra="\n[cameras.tracker]\nmin_frames = 3\n"),
                      check_files=False)
    text = render(cfg)
    assert text.splitlines()[0] == "# ALPR usage and privacy policy: unit test-site, cameras north, south"
    assert "agree over 2 frames (camera south: 3)" in text
