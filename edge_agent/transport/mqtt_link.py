"""The unit's one MQTT connection: TLS, credentials, will, subscriptions and
reconnects with jittered exponential back-off.

Every connection attempt gets a fresh paho client. A reused client re-sends
its own copies of unacknowledged messages after a reconnect, while the
outbox re-sends them too; a fresh client leaves the outbox the only queue.
Each connection has a generation number that travels with its events, so
an acknowledgement from an old connection is never credited to a message
id the new one reuses.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from ..errors import AgentError

if TYPE_CHECKING:
    from ..config.mqtt import MqttConfig

log = logging.getLogger(__name__)

# A broker that accepts TCP but never answers (paused, overloaded) must not
# hold the unit forever: give up on the attempt and back off.
CONNECT_TIMEOUT = 10.0

# Events handed to listeners, each a tuple starting with one of these and the
# connection's generation: ("up", gen), ("down", gen), ("ack", gen, mid, refusal).
UP, DOWN, ACK = "up", "down", "ack"

Listener = Callable[[tuple], None]


def tls_context(cfg: MqttConfig) -> ssl.SSLContext:
    """Verify the broker against ca_file (else the system store); present the unit's certificate if set."""
    files = ", ".join(f for f in (cfg.ca_file, cfg.cert_file, cfg.key_file) if f) or "system CA store"
    try:
        # Certificate and host name checks are on in a default context.
        ctx = ssl.create_default_context(cafile=cfg.ca_file or None)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if cfg.cert_file:
            ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
        raise AgentError(f"cannot load the MQTT TLS files ({files}): {reason}") from None
    return ctx


def read_password(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        # Name the file, never its content.
        raise AgentError(f"cannot read the MQTT password file {path}: {exc.__class__.__name__}") from None


def backoff(attempt: int, low: float, high: float) -> float:
    """Exponential in `attempt`, capped at `high`, randomised between half and all of it."""
    return min(high, low * 2 ** min(attempt, 30)) * random.uniform(0.5, 1.0)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: certificate verify failed ({exc.verify_message or exc.reason})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


class MqttLink:
    def __init__(self, cfg: MqttConfig, client_id: str, *, reconnect_delay: tuple[float, float] | None = None,
                 max_inflight: int = 20):
        self.cfg = cfg
        self.where = f"{cfg.host}:{cfg.port}"
        self._client_id = client_id
        self._delay = reconnect_delay or (cfg.reconnect_min_seconds, cfg.reconnect_max_seconds)
        self._max_inflight = max_inflight
        self._tls = tls_context(cfg) if cfg.tls else None
        self._password = read_password(cfg.password_file) if cfg.password_file else None
        self._will: tuple[str, bytes] | None = None
        self._subscriptions: dict[str, Callable[[bytes], None]] = {}
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._current: tuple[int, paho.Client] | None = None  # the connection being made or in use
        self._up_generation: int | None = None
        self._generation = 0
        self._accepted = 0  # the last generation the broker accepted
        self._failed_generation = 0  # the last one whose failure was reported
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._paho_error = ""
        self.last_error = ""  # "" while connected; else why not, for the status
        self.connects = 0

    # -- set up before start() ----------------------------------------------

    def set_will(self, topic: str, payload: bytes) -> None:
        """Retained message the broker publishes if the unit vanishes without saying goodbye."""
        self._will = (topic, payload)

    def subscribe(self, topic: str, handler: Callable[[bytes], None]) -> None:
        """Call handler(payload) on the network thread for each message on `topic`."""
        self._subscriptions[topic] = handler

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    # -- use -------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._up_generation is not None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mqtt-link", daemon=True)
        self._thread.start()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> tuple[int, paho.MQTTMessageInfo] | None:
        """QoS 1; (generation, info), or None when not connected (nothing was queued)."""
        with self._lock:
            current, up = self._current, self._up_generation
        if current is None or up != current[0]:
            return None
        info = current[1].publish(topic, payload, qos=1, retain=retain)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            return None
        return current[0], info

    def stop(self, timeout: float = 5.0) -> None:
        """Disconnect cleanly (the broker then does not publish the will)."""
        self._stopping.set()
        with self._lock:
            current = self._current
        if current is not None:
            current[1].disconnect()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    # -- network thread --------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            if self._session():
                attempt = 0  # a connection that worked: start the back-off over
            if self._stopping.is_set():
                break
            wait = backoff(attempt, *self._delay)
            attempt += 1
            log.debug("MQTT: next attempt to reach %s in %.2f s", self.where, wait)
            self._stopping.wait(wait)

    def _session(self) -> bool:
        """One connection from attempt to loss; True if the broker accepted it."""
        self._generation += 1
        gen = self._generation
        client = self._new_client(gen)
        with self._lock:
            self._current = (gen, client)
        self._paho_error = ""
        try:
            client.connect(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_seconds, clean_start=True)
            deadline = time.monotonic() + CONNECT_TIMEOUT
            while client.loop(timeout=0.5) == paho.MQTT_ERR_SUCCESS:
                if self._accepted != gen and time.monotonic() > deadline:
                    self._failed(gen, f"no answer within {CONNECT_TIMEOUT:.0f} s")
                    break
            if self._accepted != gen and not self._stopping.is_set():
                # The server ended it during the handshake (a refused client
                # certificate, say): paho only logged why.
                self._failed(gen, self._paho_error or "connection closed by the broker")
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            self._failed(gen, _describe(exc))
        finally:
            with self._lock:
                self._current = None
            sock = client.socket()
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
            self._went_down(gen, "")
        return self._accepted == gen

    def _new_client(self, gen: int) -> paho.Client:
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self._client_id, protocol=paho.MQTTv5)
        client.connect_timeout = CONNECT_TIMEOUT
        # paho's window matches the publisher's, so what it counts as on the wire is.
        client.max_inflight_messages_set(self._max_inflight)
        if self._tls is not None:
            client.tls_set_context(self._tls)
        if self.cfg.username:
            client.username_pw_set(self.cfg.username, self._password)
        if self._will is not None:
            client.will_set(self._will[0], self._will[1], qos=1, retain=True)
        client.on_connect = lambda c, u, flags, rc, props: self._on_connect(gen, c, rc)
        client.on_disconnect = lambda c, u, flags, rc, props: self._went_down(gen, str(rc))
        client.on_publish = lambda c, u, mid, rc, props: self._emit(
            (ACK, gen, mid, str(rc) if rc.is_failure else ""))
        client.on_message = self._on_message
        client.on_log = self._on_log
        # Without an event loop registered, paho writes a message at once
        # from the thread that publishes it (the outbox's, the status
        # reporter's) while this thread may be reading the same socket. Under
        # TLS that is two threads in one SSL connection at once, which OpenSSL
        # does not allow: the broker got garbled records and dropped the unit
        # (test_tls failed 4 runs in 20), and each reconnect re-sent the hit. A
        # no-op registration leaves every write to this thread's loop(), which
        # paho wakes through its socket pair.
        client.on_socket_register_write = lambda c, u, sock: None
        return client

    def _on_log(self, client: paho.Client, userdata: Any, level: int, text: str) -> None:
        # paho reports why a socket died only in its log (a TLS alert, say).
        if level == paho.MQTT_LOG_ERR:
            self._paho_error = text

    def _on_connect(self, gen: int, client: paho.Client, reason: Any) -> None:
        if reason.is_failure:
            # Bad credentials or a client id the broker will not have.
            self._failed(gen, f"refused the connection: {reason}")
            return
        with self._lock:
            self._up_generation = self._accepted = gen
        self.connects += 1
        self.last_error = self._paho_error = ""
        log.info("connected to MQTT broker %s", self.where)
        for topic in self._subscriptions:
            client.subscribe(topic, options=SubscribeOptions(qos=1))
        self._emit((UP, gen))

    def _went_down(self, gen: int, reason: str) -> None:
        with self._lock:
            if self._up_generation != gen:
                return
            self._up_generation = None
        if self._stopping.is_set():
            log.info("disconnected from MQTT broker %s", self.where)
        else:
            self.last_error = f"lost MQTT broker {self.where}" + (f" ({reason})" if reason else "")
            log.warning("%s; reconnecting", self.last_error)
        self._emit((DOWN, gen))

    def _failed(self, gen: int, reason: str) -> None:
        if self._failed_generation == gen:
            return  # the first reason given for an attempt is the real one
        self._failed_generation = gen
        error = f"cannot connect to MQTT broker {self.where}: {reason}"
        # Once per outage (and when the reason changes), not at every retry.
        if error != self.last_error:
            log.warning("%s; retrying, hits wait in the outbox", error)
        else:
            log.debug("%s", error)
        self.last_error = error

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        handler = self._subscriptions.get(message.topic)
        if handler is None:
            return
        try:
            handler(bytes(message.payload))
        except Exception:  # a handler's bug must not take the connection down
            log.exception("handling a message on %s failed", message.topic)

    def _emit(self, event: tuple) -> None:
        for listener in self._listeners:
            listener(event)
