"""[mqtt]: the broker that receives hit alerts and the unit's status."""

from __future__ import annotations

import re
from dataclasses import dataclass

# fullmatch, not match with "$": "$" also matches before a final newline.
_PREFIX = re.compile(r"[A-Za-z0-9._/-]+")
# The protocol gives keepalive 16 bits: above 65535 paho raises inside the
# link's thread (mqtt_link), which dies, and the unit never connects again.
MIN_KEEPALIVE, MAX_KEEPALIVE = 5, 65535
# As for the camera: faster only hammers a broker that is coming back, and
# after an hour's wait alerts are held back for nothing.
MIN_RECONNECT_SECONDS = 0.1
MAX_RECONNECT_SECONDS = 3600
# Far more than a unit's SD card gives the outbox; a larger figure only
# means "never withhold crops", which the card cannot keep.
MAX_OUTBOX_MB = 102400
# Past an hour, `edge-agent status` and a fleet's dashboard cannot tell a
# stuck unit from a quiet one for hours.
MAX_STATUS_INTERVAL_SECONDS = 3600


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
        if not self.topic_prefix or not _PREFIX.fullmatch(self.topic_prefix) or self.topic_prefix.endswith("/"):
            out.append(("topic_prefix", "must be a topic without wildcards or a trailing '/'"))
        if not self.tls and not self.allow_insecure:
            out.append(("tls", "plain TCP sends alerts unencrypted; set allow_insecure = true to allow it"))
        if bool(self.cert_file) != bool(self.key_file):
            out.append(("cert_file" if not self.cert_file else "key_file", "cert_file and key_file go together"))
        if self.password_file and not self.username:
            out.append(("username", "is required with password_file"))
        if not MIN_KEEPALIVE <= self.keepalive_seconds <= MAX_KEEPALIVE:
            out.append(("keepalive_seconds", f"must be between {MIN_KEEPALIVE} and {MAX_KEEPALIVE}"))
        if not MIN_RECONNECT_SECONDS <= self.reconnect_min_seconds <= MAX_RECONNECT_SECONDS:
            out.append(("reconnect_min_seconds",
                        f"must be between {MIN_RECONNECT_SECONDS} and {MAX_RECONNECT_SECONDS}"))
        if not self.reconnect_min_seconds <= self.reconnect_max_seconds <= MAX_RECONNECT_SECONDS:
            out.append(("reconnect_max_seconds", f"must be between reconnect_min_seconds and {MAX_RECONNECT_SECONDS}"))
        if not 0 < self.outbox_max_mb <= MAX_OUTBOX_MB:
            out.append(("outbox_max_mb", f"must be above 0 and at most {MAX_OUTBOX_MB}"))
        if not 1 <= self.status_interval_seconds <= MAX_STATUS_INTERVAL_SECONDS:
            out.append(("status_interval_seconds", f"must be between 1 and {MAX_STATUS_INTERVAL_SECONDS}"))
        return out
