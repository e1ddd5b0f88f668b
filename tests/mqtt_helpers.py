"""Test-side MQTT: a subscriber that records what the broker delivers, and a
small PKI (CA, server and client certificates) for the transport tests."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    at: float = field(default=0.0, compare=False)  # time.monotonic() on arrival


class Subscriber:
    """Subscribes on construction and returns only once the broker has SUBACKed,
    so a message published afterwards cannot be missed.

    persistent=True keeps an MQTT 5 session on the broker (clean_start off, an
    hour's expiry): what arrives while this client is away is queued for it,
    as a central dispatch subscriber should be set up.
    """

    def __init__(self, host: str, port: int, topic: str, *, qos: int = 1, timeout: float = 5.0,
                 client_id: str = "", persistent: bool = False, tls: ssl.SSLContext | None = None,
                 username: str = "", password: str | None = None):
        self.topic = topic
        self.messages: list[Received] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        if persistent:
            self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
            connect_kwargs: dict = {"clean_start": False, "properties": props}
            self._client.reconnect_delay_set(0.1, 0.5)
        else:
            self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
            connect_kwargs = {}
        if tls is not None:
            self._client.tls_set_context(tls)
        if username:
            self._client.username_pw_set(username, password)
        self._client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=qos) if not rc.is_failure else None
        self._client.on_subscribe = lambda c, u, mid, rcs, p: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(host, port, keepalive=30, **connect_kwargs)
        self._client.loop_start()
        if not self._subscribed.wait(timeout):
            self.close()
            raise AssertionError(f"could not subscribe to {topic!r} on {host}:{port} within {timeout}s")

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Received(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain), time.monotonic()))
            self._cond.notify_all()

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Received]:
        """Wait until at least `n` messages arrived; fail the test otherwise."""
        return self.wait_until(lambda msgs: len(msgs) >= n, timeout, f"{n} message(s)")

    def wait_until(self, done, timeout: float = 5.0, what: str = "the expected messages") -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not done(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"got {len(self.messages)} message(s) on {self.topic!r}, "
                                         f"not {what}, in {timeout}s")
                self._cond.wait(left)
            return list(self.messages)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


# --- certificates ------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


class TestCA:
    """A certificate authority made for one test run (EC P-256, valid for a day)."""

    __test__ = False  # not a pytest test class

    def __init__(self, folder: Path, name: str):
        self.folder = folder
        self.name = name
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self._subject = subject
        self._cert = (
            self._builder(subject, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        self.cert = folder / f"{name}.crt"
        self.cert.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def _builder(self, subject: x509.Name, public_key) -> x509.CertificateBuilder:
        now = dt.datetime.now(dt.timezone.utc)
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(self._subject)
                .public_key(public_key).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1)))

    def issue(self, common_name: str, *, server_ip: str = "") -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server_ip else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            self._builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]), key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
        )
        if server_ip:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(server_ip))]), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        stem = self.folder / f"{self.name}-{common_name}"
        paths = Issued(stem.with_suffix(".crt"), stem.with_suffix(".key"))
        paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
        paths.key.chmod(0o600)
        return paths

    def client_context(self, issued: Issued | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.cert))
        if issued is not None:
            ctx.load_cert_chain(str(issued.cert), str(issued.key))
        return ctx


def publish(host: str, port: int, topic: str, payload: bytes, *, retain: bool = True,
            tls: ssl.SSLContext | None = None) -> None:
    """Publish QoS 1 as a central tool would (MQTT 3.1.1: its PUBACK does not say
    whether an ACL let the message through); returns once it is acknowledged."""
    client = paho.Client(CallbackAPIVersion.VERSION2)
    if tls is not None:
        client.tls_set_context(tls)
    client.connect(host, port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def alerts_of_a_run(config: Path, host: str, port: int, count: int,
                    timeout: float = 600) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """Run the agent to the end of its source; the hit alerts it sent, once `count` have arrived."""
    sub = Subscriber(host, port, "alpr/+/+/hit")
    try:
        proc = subprocess.run([sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
                              capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc, [json.loads(m.payload) for m in sub.wait_for(count, timeout=10)]
    finally:
        sub.close()
