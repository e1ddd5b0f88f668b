"""`edge-agent demo`: the whole chain on footage the project renders itself.

It renders a short road clip, writes a hot list that names two of its
plates (plus columns a unit must never keep, to show them dropped), starts a
private Mosquitto on a free loopback port, runs the real agent on the clip,
and prints the hit alerts as a central subscriber receives them.
"""

from __future__ import annotations

import base64
import json
import logging
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from .broker import LocalBroker
from ..config import load_config
from .demo_footage import DEMO_VEHICLES, write_video
from ..service.agent import Agent

log = logging.getLogger(__name__)

# Two of the four demo cars are wanted. The owner and birth-date columns are
# what an agency's export often carries; the unit drops them at load.
HOTLIST_CSV = (
    "plate,state,category,ref,expires,owner_name,date_of_birth\n"
    f"{DEMO_VEHICLES[1].plate},ES,stolen-vehicle,CASE-2026-0142,,Demo Person,1970-01-01\n"
    f"{DEMO_VEHICLES[3].plate},ES,amber-alert,AA-77,,Another Person,1980-02-03\n"
    "9999ZZZ,ES,stolen-plate,CASE-2026-0007,,Nobody Here,1990-03-04\n"
)

CONFIG_TOML = """\
[unit]
site = "demo-site"
camera_id = "cam-1"

[camera]
source = "{video}"

[hotlist]
path = "hotlist.csv"

[mqtt]
host = "127.0.0.1"
port = {port}
topic_prefix = "edge-agent"
# The demo broker listens on loopback only; a real unit uses TLS.
tls = false
allow_insecure = true

[storage]
data_dir = "data"

[retention]
non_hit_minutes = 0
hit_days = 30

[policy]
purposes = ["stolen vehicle recovery", "AMBER alert"]
monitoring = "Every access at the unit is recorded in its hash-chained log."
sharing_restrictions = "Alerts go only to the demo's own dispatch subscriber."
custodian = "Demo custodian"
accuracy = "An alert is a lead: confirm plate and state by sight before acting."
retention_and_destruction = "Hits are destroyed when retention ends; non-hits are never kept."

[policy.categories]
stolen-vehicle = "stolen vehicle recovery"
stolen-plate = "stolen vehicle recovery"
amber-alert = "AMBER alert"

[[policy.roles]]
title = "Demo operator"
training = "Reads this policy"

[[policy.recipients]]
name = "demo dispatch"
host = "127.0.0.1"
port = {port}
"""


class AlertCollector:
    """A central-side subscriber: prints each hit alert as it arrives."""

    def __init__(self, host: str, port: int, topic: str, crops_dir: Path | None):
        self.alerts: list[dict] = []
        self.crops_dir = crops_dir
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="demo-dispatch")
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        self._subscribed.wait(10)

    def _on_message(self, client, userdata, message) -> None:
        alert = json.loads(message.payload)
        self.alerts.append(alert)
        crop = base64.b64decode(alert["crop_jpeg"])
        where = ""
        if self.crops_dir is not None:
            crop_path = self.crops_dir / f"{alert['alert_id']}.jpg"
            crop_path.write_bytes(crop)
            where = f", saved to {crop_path}"
        shown = dict(alert, crop_jpeg=f"<base64 of {len(crop)} bytes of JPEG{where}>")
        print(f"\nALERT on {message.topic}\n{json.dumps(shown, indent=2)}", flush=True)

    def wait_for(self, count: int, timeout: float) -> None:
        # The agent stops once the broker has acknowledged each hit; the
        # broker's delivery to this subscriber can trail that slightly.
        deadline = time.monotonic() + timeout
        while len(self.alerts) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def demo_config(video: Path, port: int, cameras: int = 1) -> str:
    """The demo's agent.toml; with several cameras, each reads the clip under its own id (cam-1, cam-2, ...)."""
    text = CONFIG_TOML.format(video=video, port=port)
    if cameras <= 1:
        return text
    tables = "".join(f'[[cameras]]\nid = "cam-{i}"\nsource = "{video}"\n\n' for i in range(1, cameras + 1))
    return text.replace('camera_id = "cam-1"\n', "").replace(f'[camera]\nsource = "{video}"\n\n', tables)


def run_demo(workdir: str | None = None, cameras: int = 1) -> int:
    tmp = None if workdir else tempfile.TemporaryDirectory(prefix="edge-agent-demo-")
    root = Path(workdir or tmp.name)
    root.mkdir(parents=True, exist_ok=True)
    try:
        video = write_video(root / "demo-road.mp4")
        (root / "hotlist.csv").write_text(HOTLIST_CSV)
        # Crops are only worth saving where the user asked to keep the files.
        crops = None
        if workdir:
            crops = root / "alert-crops"
            crops.mkdir(exist_ok=True)
        print(f"demo: rendered {video} ({len(DEMO_VEHICLES)} cars); hot list names 2 of them", flush=True)
        with LocalBroker() as broker:
            config_path = root / "agent.toml"
            config_path.write_text(demo_config(video, broker.port, cameras))
            cfg = load_config(config_path)
            print(f"demo: broker on {broker.host}:{broker.port}; subscribing to edge-agent/+/+/hit", flush=True)
            collector = AlertCollector(broker.host, broker.port, "edge-agent/+/+/hit", crops)
            try:
                agent = Agent(cfg)
                queued = agent.run(drain_timeout=15)
                collector.wait_for(agent.stats.hits, timeout=5)
            finally:
                collector.close()
        ids = [s.id for s in cfg.camera_setups()]
        wanted = {(camera, DEMO_VEHICLES[i].plate) for camera in ids for i in (1, 3)}
        got = {(a["camera_id"], a["plate"]) for a in collector.alerts}
        print(f"\ndemo: {agent.stats.frames} frames, {agent.stats.vehicles} vehicles read, "
              f"{agent.stats.hits} hits, {len(collector.alerts)} alerts received, {queued} left in outbox; "
              f"{agent.stats.vehicles - agent.stats.hits} non-hit reads compared in memory and discarded")
        if got == wanted and len(collector.alerts) == len(wanted):
            print("demo: OK - one alert per wanted car" + (f" on each of {len(ids)} cameras" if len(ids) > 1 else "")
                  + ", none for the others")
            if not workdir:
                print("demo: rerun with --workdir DIR to keep the clip, hot list, config and alert crops")
            return 0
        print(f"demo: FAILED - expected alerts for {sorted(wanted)}, got {sorted(got)}")
        return 1
    finally:
        if tmp is not None:
            tmp.cleanup()
