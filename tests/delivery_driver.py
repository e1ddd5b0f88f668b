"""A unit that only makes hits, for the delivery chaos test.

The real Store, HitPublisher and StatusReporter, fed synthetic hits at a
steady rate instead of the vision pipeline, so the test can make hundreds
of hits in seconds, SIGKILL this process and start it again. A restart
resumes from the durable store: hits already made are not made again, and
the alerts still queued go out first.

Prints `made <n> <alert_id>` once each hit is committed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_agent.transport.alerts import hit_topic  # noqa: E402
from edge_agent.config.mqtt import MqttConfig  # noqa: E402
from edge_agent.config.retention import RetentionConfig  # noqa: E402
from edge_agent.config.unit import UnitConfig  # noqa: E402
from edge_agent.transport.publish import HitPublisher  # noqa: E402
from edge_agent.records import Box, HotListEntry, Hit, VehicleRead  # noqa: E402
from edge_agent.transport.status import StatusReporter  # noqa: E402
from edge_agent.privacy.store import Store  # noqa: E402

UNIT = UnitConfig(site="chaos-site", camera_id="cam-1")


class Stats:
    frames = reads = vehicles = hits = 0


def synthetic_hit(n: int) -> tuple[Hit, bytes]:
    now = datetime.now(timezone.utc)
    crop = np.random.default_rng(n).integers(0, 256, (16, 64, 3), dtype=np.uint8)
    read = VehicleRead(text=f"CH{n:04d}X", confidence=0.9, captured_at=now, first_seen=now, last_seen=now,
                       frames=3, box=Box(0, 0, 64, 16), crop=crop)
    hit = Hit(read, HotListEntry(plate=read.text, state="CA", category="stolen-vehicle", ref=f"R-{n}"), 0)
    return hit, cv2.imencode(".jpg", crop)[1].tobytes()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--rate", type=float, default=10.0, help="hits per second")
    parser.add_argument("--drain", type=float, default=60.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    mqtt = MqttConfig(host="127.0.0.1", port=args.port, topic_prefix="alpr", tls=False, allow_insecure=True,
                      reconnect_min_seconds=0.25, reconnect_max_seconds=1.0, status_interval_seconds=1.0)
    store = Store(args.data_dir, RetentionConfig())
    stats = Stats()
    publisher = HitPublisher(mqtt, UNIT, store)
    status = StatusReporter(UNIT, mqtt, args.data_dir, publisher=publisher, store=store, stats=stats)
    publisher.start()
    status.start()
    topic = hit_topic(mqtt, UNIT)
    made = len(store.hits())
    print(f"resumed {made} {store.outbox_depth()}", flush=True)
    start = time.monotonic()
    for n in range(made, args.count):
        time.sleep(max(0.0, start + (n - made) / args.rate - time.monotonic()))
        hit, crop = synthetic_hit(n)
        alert_id = str(uuid.uuid4())
        payload = publisher.alert_payload(hit, alert_id=alert_id, crop_jpeg=crop)
        store.add_hit(hit, alert_id=alert_id, topic=topic, payload=payload, crop_jpeg=crop)
        stats.hits += 1
        print(f"made {n} {alert_id}", flush=True)
        publisher.notify()
    drained = publisher.drain(args.drain)
    status.stop()
    publisher.stop()
    store.close()
    print("drained" if drained else "not drained", flush=True)
    return 0 if drained else 1


if __name__ == "__main__":
    sys.exit(main())
