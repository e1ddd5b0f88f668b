"""[mqtt]: the broker that receives hit alerts and the unit's status."""

from __future__ import annotations

import re
from dataclasses import dataclass

_PREFIX = re.compile(r"^[A-Za-z0-9._/-]+$")


@dataclass(frozen=True)
class MqttConfig:
    host: str = "localhost"
    port: int = 8883
    topic_prefix: str = "edge-agent"
    client_id: str = ""  # empty: "edge-agent-<site>-<camera_id>"
    keepalive_seconds: int = 30
    # TLS is the default; plain TCP must be asked for explicitly.
    tls: bool = True
    allow_insecure: bool = False
    ca_file: str = ""  # empty: the system's CA store
    cert_file: str = ""  # client certificate for mutual TLS
    key_file: str = ""
    username: str = ""
    # The password is read from this file (for example a systemd credential),
    # never from the config file itself.
    password_file: str = ""
    # Reconnects back off exponentially between these bounds, each wait
    # randomised so a fleet does not reconnect in step after an outage.
    reconnect_min_seconds: float = 1.0
    reconnect_max_seconds: float = 60.0
    # Bytes of queued alerts beyond which new alerts are queued without their
    # plate crop (kept on the unit); a hit is never dropped.
    outbox_max_mb: float = 256.0
    # How often the retained status and <data_dir>/status.json are refreshed.
    status_interval_seconds: float = 60.0

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if not self.host:
            out.append(("host", "is required"))
        if not 1 <= self.port <= 65535:
            out.append(("port", "must be between 1 and 65535"))
        if not self.topic_prefix or not _PREFIX.match(self.topic_prefix) or self.topic_prefix.endswith("/"):
            out.append(("topic_prefix", "must be a topic without wildcards or a trailing '/'"))
        if not self.tls and not self.allow_insecure:
            out.append(("tls", "plain TCP sends alerts unencrypted; set allow_insecure = true to allow it"))
        if bool(self.cert_file) != bool(self.key_file):
            out.append(("cert_file" if not self.cert_file else "key_file", "cert_file and key_file go together"))
        if self.password_file and not self.username:
            out.append(("username", "is required with password_file"))
        if self.keepalive_seconds < 5:
            out.append(("keepalive_seconds", "must be at least 5"))
        if self.reconnect_min_seconds <= 0:
            out.append(("reconnect_min_seconds", "must be greater than 0"))
        if self.reconnect_max_seconds < self.reconnect_min_seconds:
            out.append(("reconnect_max_seconds", "must be at least reconnect_min_seconds"))
        if self.outbox_max_mb <= 0:
            out.append(("outbox_max_mb", "must be greater than 0"))
        if self.status_interval_seconds < 1:
            out.append(("status_interval_seconds", "must be at least 1"))
        return out
