"""Hit alerts to the MQTT broker, at least once, in order, from the durable outbox.

Nothing is handed to paho unless the link is up, the SQLite outbox is the
only queue, and an alert leaves the outbox only when the broker's PUBACK for
it arrives. A restart, a broker outage or a lost acknowledgement makes the
unit send an alert again, never skip it: subscribers deduplicate on alert_id.

The outbox is bounded in bytes (`[mqtt] outbox_max_mb`). Past the bound a
new alert is still queued, without its plate crop, which stays in the
unit's hit store: the picture is what fills a card, and a hit must not be
lost for want of room. The status reports it as the outbox_full alarm.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from .alerts import ListState, build_alert, encode_alert, hit_topic
from .mqtt_link import ACK, DOWN, UP, MqttLink, read_password
from ..privacy.store import OutboxItem, Store

if TYPE_CHECKING:
    from ..config.mqtt import MqttConfig
    from ..config.unit import UnitConfig
    from ..records import Hit

__all__ = ["HitPublisher", "build_alert", "encode_alert", "hit_topic", "read_password"]

log = logging.getLogger(__name__)

MAX_INFLIGHT = 20
# A broker that refuses an alert (MQTT 5 PUBACK with a failure code, e.g. an
# ACL) refuses the ones behind it too: pause, then retry from the head so
# the order holds, backing off while refusals continue.
REFUSED_PAUSE = (5.0, 60.0)
_WAKE, _STOP = "wake", "stop"


class HitPublisher:
    def __init__(
        self,
        mqtt: MqttConfig,
        unit: UnitConfig,
        store: Store,
        *,
        reconnect_delay: tuple[float, float] | None = None,
        max_inflight: int = MAX_INFLIGHT,
        on_delivered: Callable[[OutboxItem], None] | None = None,
    ):
        self._cfg = mqtt
        self._unit = unit
        self._store = store
        self._max_inflight = max(1, max_inflight)
        # Called on the worker thread once an alert is acknowledged and marked
        # delivered (the disclosure log hangs off it).
        self._on_delivered = on_delivered
        self.max_outbox_bytes = int(mqtt.outbox_max_mb * 1024 * 1024)
        self.link = MqttLink(mqtt, mqtt.client_id or f"edge-agent-{unit.site}-{unit.camera_id}",
                             reconnect_delay=reconnect_delay, max_inflight=self._max_inflight)
        self.link.add_listener(self._events_put)
        self._events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._worker: threading.Thread | None = None
        # Worker-thread state only: mid -> what is on the wire on connection `_gen`.
        self._inflight: dict[int, OutboxItem] = {}
        self._gen: int | None = None
        self._paused_until = 0.0
        self._refusals = 0
        self._refused: set[str] = set()  # alert ids the broker refused and has not yet taken
        self.refusal = ""  # why the broker last refused an alert; "" once it accepts again
        self.delivered = 0
        self.crops_withheld = 0
        self._full = False

    @property
    def connected(self) -> bool:
        return self.link.connected

    @property
    def last_error(self) -> str:
        return self.refusal or self.link.last_error

    # -- the pipeline's side -----------------------------------------------------

    def alert_payload(self, hit: Hit, *, alert_id: str, crop_jpeg: bytes | None,
                      list_state: ListState | None = None, withheld: str = "", unit: UnitConfig | None = None) -> bytes:
        """The alert to queue for `hit`: with its crop while the outbox has room, else without.

        withheld="disk_full" builds it without the crop, for a hit the full card keeps in memory.
        `unit`: the unit as the camera that read it names it (several cameras), else the publisher's.
        """
        unit = unit or self._unit
        if withheld:
            return encode_alert(build_alert(hit, unit, alert_id=alert_id, crop_jpeg=None,
                                            list_state=list_state, crop_withheld=withheld))
        payload = encode_alert(build_alert(hit, unit, alert_id=alert_id, crop_jpeg=crop_jpeg,
                                           list_state=list_state))
        queued = self._store.outbox_bytes()
        if queued + len(payload) <= self.max_outbox_bytes:
            self._full = False
            return payload
        self._full = True
        self.crops_withheld += 1
        log.warning("outbox full (%.1f of %.1f MB queued): alert %s is queued without its plate crop, "
                    "which stays in the hit store", queued / 2**20, self.max_outbox_bytes / 2**20, alert_id)
        return encode_alert(build_alert(hit, unit, alert_id=alert_id, crop_jpeg=None,
                                        list_state=list_state, crop_withheld="outbox_full"))

    def outbox_full(self, queued_bytes: int | None = None) -> bool:
        queued = self._store.outbox_bytes() if queued_bytes is None else queued_bytes
        return self._full or queued >= self.max_outbox_bytes

    def start(self) -> None:
        self._worker = threading.Thread(target=self._run, name="hit-publisher", daemon=True)
        self._worker.start()
        # An unreachable broker is retried with back-off; hits meanwhile wait in the outbox.
        self.link.start()

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
        self.link.stop()
        # FIFO: PUBACKs that arrived before the disconnect are still recorded.
        self._events.put((_STOP,))
        if self._worker is not None:
            self._worker.join(timeout=10)
            self._worker = None

    # -- worker thread ---------------------------------------------------------

    def _events_put(self, event: tuple) -> None:
        self._events.put(event)

    def _run(self) -> None:
        while True:
            try:
                event = self._events.get(timeout=1.0)
            except queue.Empty:
                event = (_WAKE,)  # periodic retry, e.g. after a refusal pause
            while True:
                kind = event[0]
                if kind == _STOP:
                    return
                if kind == UP:
                    # A new connection starts with nothing in flight: what was
                    # unacknowledged on the old one is sent again.
                    self._gen = event[1]
                    self._inflight.clear()
                elif kind == DOWN and event[1] == self._gen:
                    self._gen = None
                    self._inflight.clear()
                elif kind == ACK and event[1] == self._gen:
                    self._acked(event[2], event[3])
                try:
                    event = self._events.get_nowait()
                except queue.Empty:
                    break
            if self._gen is not None and time.monotonic() >= self._paused_until:
                try:
                    self._send_pending()
                except Exception:
                    # The store or paho failed: keep the thread alive, the
                    # outbox still holds everything, retry on the next tick.
                    log.exception("sending queued hits failed; will retry")

    def _acked(self, mid: int, refusal: str) -> None:
        item = self._inflight.pop(mid, None)
        if item is None:
            return  # a status message, or an alert of a connection already gone
        if refusal:
            self._refused.add(item.alert_id)
            self._refusals += 1
            pause = min(REFUSED_PAUSE[1], REFUSED_PAUSE[0] * 2 ** (self._refusals - 1))
            if time.monotonic() >= self._paused_until:
                why = f"MQTT broker {self.link.where} refused alert {item.alert_id} ({refusal})"
                log.warning("%s; kept in the outbox, retrying in %.0f s", why, pause)
                self.refusal = why
            self._paused_until = time.monotonic() + pause
            return
        self._refused.discard(item.alert_id)
        if not self._refused:
            # Only once every refused alert got through is the fault over.
            self._refusals = 0
            self.refusal = ""
        try:
            self._store.mark_delivered(item.alert_id)
            log.debug("alert %s delivered", item.alert_id)
        except Exception:
            log.exception("could not mark alert %s delivered; it will be sent again", item.alert_id)
            return
        self.delivered += 1
        if self._on_delivered is not None:
            try:
                self._on_delivered(item)
            except Exception:
                log.exception("on_delivered failed for alert %s", item.alert_id)

    def _send_pending(self) -> None:
        room = self._max_inflight - len(self._inflight)
        if room <= 0:
            return
        on_wire = {i.alert_id for i in self._inflight.values()}
        for item in self._store.pending(limit=room + len(on_wire)):
            if item.alert_id in on_wire:
                continue
            sent = self.link.publish(item.topic, item.payload)
            if sent is None or sent[0] != self._gen:
                # Not connected after all, or already on a newer connection
                # whose UP event is on its way: the item stays queued.
                return
            # The PUBACK is queued behind this on the same thread, so the mid
            # is known before its acknowledgement is handled.
            self._inflight[sent[1].mid] = item
            room -= 1
            if room <= 0:
                return
