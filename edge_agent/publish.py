"""Hit alerts to the MQTT broker, at least once, from the durable outbox.

Modelled on Frigate's comms/mqtt.py (paho, connect_async + loop_start, paho's
own reconnect back-off) with one difference: Frigate drops what it publishes
while disconnected, and a hit must never be dropped. So nothing is handed to
paho unless we are connected, the SQLite outbox is the only queue, and an
alert leaves the outbox only when the broker's PUBACK for it arrives.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from .errors import AgentError
from .store import OutboxItem, Store, rfc3339_utc

if TYPE_CHECKING:
    from .config.mqtt import MqttConfig
    from .config.unit import UnitConfig
    from .records import Hit

log = logging.getLogger(__name__)

SCHEMA = "edge-agent/hit/1"
MAX_INFLIGHT = 20

# Events the paho network thread hands to the worker. Keeping every piece of
# bookkeeping on the worker thread means no lock is ever held across a paho
# call (paho runs on_publish under its own mutex, which publish() also takes).
_UP, _DOWN, _ACK, _WAKE, _STOP = "up", "down", "ack", "wake", "stop"


def hit_topic(mqtt: MqttConfig, unit: UnitConfig) -> str:
    return f"{mqtt.topic_prefix}/{unit.site}/{unit.camera_id}/hit"


def build_alert(hit: Hit, unit: UnitConfig, *, alert_id: str, crop_jpeg: bytes) -> dict[str, Any]:
    read, entry = hit.read, hit.entry
    return {
        "schema": SCHEMA,
        "alert_id": alert_id,
        "plate": read.text,
        "confidence": round(float(read.confidence), 3),
        "captured_at": rfc3339_utc(read.captured_at),
        "site": unit.site,
        "camera_id": unit.camera_id,
        "hotlist": {"category": entry.category, "ref": entry.ref, "state": entry.state},
        "match": {"distance": int(hit.distance)},
        "frames": int(read.frames),
        "crop_jpeg": base64.b64encode(crop_jpeg).decode("ascii"),
    }


def encode_alert(alert: dict[str, Any]) -> bytes:
    """The MQTT payload: compact UTF-8 JSON."""
    return json.dumps(alert, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _read_password(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        # Name the file, never its content.
        raise AgentError(f"cannot read the MQTT password file {path}: {exc.__class__.__name__}") from None


class HitPublisher:
    def __init__(
        self,
        mqtt: MqttConfig,
        unit: UnitConfig,
        store: Store,
        *,
        reconnect_delay: tuple[int, int] = (1, 30),
        max_inflight: int = MAX_INFLIGHT,
    ):
        self._cfg = mqtt
        self._store = store
        self._max_inflight = max(1, max_inflight)
        self._where = f"{mqtt.host}:{mqtt.port}"
        self._events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._connected = threading.Event()
        self._worker: threading.Thread | None = None
        self._stopping = False
        self._unreachable_logged = False
        # Worker-thread state only: mid -> alert_id of what is on the wire.
        self._inflight: dict[int, str] = {}

        client_id = mqtt.client_id or f"edge-agent-{unit.site}-{unit.camera_id}"
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self._client.reconnect_delay_set(*reconnect_delay)
        # paho's window matches ours, so what we count as on the wire is.
        self._client.max_inflight_messages_set(self._max_inflight)
        if mqtt.tls:
            try:
                self._client.tls_set(
                    ca_certs=mqtt.ca_file or None,
                    certfile=mqtt.cert_file or None,
                    keyfile=mqtt.key_file or None,
                )
            except (OSError, ValueError) as exc:
                files = ", ".join(f for f in (mqtt.ca_file, mqtt.cert_file, mqtt.key_file) if f) or "system CA store"
                reason = getattr(exc, "strerror", None) or exc
                raise AgentError(f"cannot load the MQTT TLS files ({files}): {reason}") from None
        if mqtt.username:
            password = _read_password(mqtt.password_file) if mqtt.password_file else None
            self._client.username_pw_set(mqtt.username, password)
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        self._worker = threading.Thread(target=self._run, name="hit-publisher", daemon=True)
        self._worker.start()
        try:
            # Async: an unreachable broker is retried by paho's loop with
            # back-off; hits meanwhile wait safely in the outbox.
            self._client.connect_async(self._cfg.host, self._cfg.port, keepalive=self._cfg.keepalive_seconds)
        except (OSError, ValueError) as exc:
            raise AgentError(f"cannot connect to MQTT broker {self._where}: {exc}") from None
        self._client.loop_start()

    def notify(self) -> None:
        self._events.put((_WAKE,))

    def drain(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if self._store.outbox_depth() == 0:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def stop(self) -> None:
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()
        # FIFO: PUBACKs that arrived before the disconnect are still recorded.
        self._events.put((_STOP,))
        if self._worker is not None:
            self._worker.join(timeout=10)
            self._worker = None
        self._connected.clear()

    # -- paho callbacks (network thread) -------------------------------------

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            # Bad credentials or client id: paho keeps retrying, as we want.
            log.warning("MQTT broker %s refused the connection: %s", self._where, reason_code)
            return
        log.info("connected to MQTT broker %s", self._where)
        self._unreachable_logged = False
        self._connected.set()
        self._events.put((_UP,))

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        if not self._unreachable_logged:
            log.warning("MQTT broker %s is unreachable; retrying, hits wait in the outbox", self._where)
            self._unreachable_logged = True

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        self._events.put((_DOWN,))
        if self._stopping:
            log.info("disconnected from MQTT broker %s", self._where)
        elif was_connected:
            log.warning("lost MQTT broker %s (%s); reconnecting", self._where, reason_code)

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        self._events.put((_ACK, mid, bool(reason_code.is_failure)))

    # -- worker thread ---------------------------------------------------------

    def _run(self) -> None:
        up = False
        while True:
            try:
                event = self._events.get(timeout=1.0)
            except queue.Empty:
                event = (_WAKE,)  # periodic retry, e.g. after a failed publish
            while True:
                kind = event[0]
                if kind == _STOP:
                    return
                if kind in (_UP, _DOWN):
                    # A new connection starts with nothing in flight: what was
                    # unacknowledged on the old one is sent again (subscribers
                    # dedupe on alert_id). Late PUBACKs for forgotten mids are
                    # ignored below.
                    up = kind == _UP
                    self._inflight.clear()
                elif kind == _ACK:
                    self._acked(event[1], event[2])
                try:
                    event = self._events.get_nowait()
                except queue.Empty:
                    break
            if up:
                try:
                    self._send_pending()
                except Exception:
                    # The store or paho failed: keep the thread alive, the
                    # outbox still holds everything, retry on the next tick.
                    log.exception("sending queued hits failed; will retry")

    def _acked(self, mid: int, failed: bool) -> None:
        alert_id = self._inflight.pop(mid, None)
        if alert_id is None:
            return
        if failed:
            # MQTT 5 broker declined it: keep it queued for the next connection.
            log.warning("MQTT broker %s did not accept alert %s; kept in the outbox", self._where, alert_id)
            return
        try:
            self._store.mark_delivered(alert_id)
            log.debug("alert %s delivered", alert_id)
        except Exception:
            log.exception("could not mark alert %s delivered; it will be sent again", alert_id)

    def _send_pending(self) -> None:
        room = self._max_inflight - len(self._inflight)
        if room <= 0:
            return
        on_wire = set(self._inflight.values())
        items = self._store.pending(limit=room + len(on_wire))
        for item in items:
            if item.alert_id in on_wire:
                continue
            if not self._connected.is_set() or not self._publish(item):
                return
            room -= 1
            if room <= 0:
                return

    def _publish(self, item: OutboxItem) -> bool:
        info = self._client.publish(item.topic, item.payload, qos=1, retain=False)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            # Not connected after all, or paho's queue is full: the item stays
            # in the outbox and is tried again on the next event or tick.
            return False
        # The PUBACK is queued behind this on the same thread, so the mid is
        # known before its acknowledgement is handled.
        self._inflight[info.mid] = item.alert_id
        return True
