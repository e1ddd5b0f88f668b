"""Delivery under chaos: hits keep coming while the broker is stopped and
started three times and the unit is SIGKILLed once and restarted; a central
subscriber with a persistent session must receive every alert at least once.

The unit is tests/delivery_driver.py (real Store, HitPublisher and
StatusReporter, synthetic hits) so 240 hits take seconds, not a road clip.
The broker keeps sessions across restarts (persistence), as a central
broker serving dispatch does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import jsonschema

from edge_agent.commands.broker import LocalBroker
from edge_agent.config.retention import RetentionConfig
from edge_agent.privacy.store import Store
from mqtt_helpers import Subscriber

ROOT = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).resolve().parent / "delivery_driver.py"
HIT_SCHEMA = json.loads((ROOT / "deploy" / "schemas" / "hit.schema.json").read_text())
STATUS_SCHEMA = json.loads((ROOT / "deploy" / "schemas" / "status.schema.json").read_text())
COUNT = 240
RATE = 10.0  # hits per second: 24 s of traffic
OUTAGE_SECONDS = 2.0


class Driver:
    """The unit as a process; `made` maps each alert_id to when it was committed."""

    def __init__(self, data_dir: Path, port: int, made: dict[str, float], log: Path):
        with open(log, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(DRIVER), "--data-dir", str(data_dir), "--port", str(port),
                 "--count", str(COUNT), "--rate", str(RATE)],
                stdout=subprocess.PIPE, stderr=err, text=True)
        self.made = made
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            parts = line.split()
            if parts and parts[0] == "made":
                self.made[parts[2]] = time.monotonic()

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL: no goodbye, no flush, no clean disconnect
        self.proc.wait(5)
        self.reader.join(5)

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self.reader.join(5)
        return code


def test_every_alert_arrives_through_broker_restarts_and_a_killed_unit(tmp_path, capsys):
    data_dir, log = tmp_path / "unit", tmp_path / "unit.log"
    (tmp_path / "broker").mkdir()
    broker = LocalBroker(workdir=tmp_path / "broker", persistent=True,
                         extra_conf="max_queued_messages 100000\n").start()
    made: dict[str, float] = {}
    comebacks: list[float] = []  # when the broker accepted connections again
    driver = None
    sub = None
    try:
        sub = Subscriber(broker.host, broker.port, "alpr/#", client_id="dispatch-chaos", persistent=True)
        driver = Driver(data_dir, broker.port, made, log)

        def outage() -> None:
            broker.stop()
            time.sleep(OUTAGE_SECONDS)
            broker.start()
            comebacks.append(time.monotonic())

        time.sleep(3.0)
        outage()
        time.sleep(3.0)
        outage()
        time.sleep(2.5)
        driver.kill()
        killed_at = time.monotonic()
        time.sleep(1.0)
        driver = Driver(data_dir, broker.port, made, log)
        restarted_at = time.monotonic()
        time.sleep(3.0)
        outage()
        assert driver.wait(90) == 0, log.read_text()[-3000:]

        store = Store(data_dir, RetentionConfig())
        sent = [h["alert_id"] for h in sorted(store.hits(), key=lambda h: h["captured_at"])]
        store.close()
        messages = sub.wait_until(lambda ms: set(sent) <= {json.loads(m.payload)["alert_id"]
                                                           for m in ms if m.topic.endswith("/hit")},
                                  30, f"all {len(sent)} alerts")
    finally:
        if driver is not None and driver.proc.poll() is None:
            driver.kill()
        if sub is not None:
            sub.close()
        broker.close()

    hits = [m for m in messages if m.topic.endswith("/hit")]
    first: dict[str, float] = {}
    for m in hits:
        alert = json.loads(m.payload)
        jsonschema.validate(alert, HIT_SCHEMA)
        first.setdefault(alert["alert_id"], m.at)
    statuses = [json.loads(m.payload) for m in messages if m.topic.endswith("/status")]
    for doc in statuses:
        jsonschema.validate(doc, STATUS_SCHEMA)

    assert len(sent) == COUNT and set(first) == set(sent)  # every hit made arrived, and nothing else
    assert list(first) == sent, "first deliveries out of capture order"
    # The broker published the killed unit's will.
    assert any(d["state"] == "offline" and d["reason"] == "connection lost" for d in statuses)

    def delay_after(moment: float) -> float:
        # Alerts made before `moment` that had not reached dispatch by then.
        waiting = [first[a] - moment for a, t in made.items() if t < moment and first[a] > moment]
        return max(waiting, default=0.0)

    figures = {
        "hits sent": len(sent),
        "messages received": len(hits),
        "unique alert_ids received": len(first),
        "duplicates": len(hits) - len(first),
        "longest delay after the broker came back (s)": round(max(delay_after(t) for t in comebacks), 2),
        "per broker comeback (s)": [round(delay_after(t), 2) for t in comebacks],
        "delay after the unit was restarted (s)": round(delay_after(restarted_at), 2),
        "unit down (s)": round(restarted_at - killed_at, 2),
        "status messages": len(statuses),
    }
    (tmp_path / "figures.json").write_text(json.dumps(figures, indent=1))
    with capsys.disabled():
        print("\ndelivery chaos: " + json.dumps(figures))
    assert figures["longest delay after the broker came back (s)"] < 10.0
