"""[policy]: the usage-and-privacy policy of Civil Code 1798.90.51(b), as settings.

The seven elements the statute requires are keys here, so the unit cannot
start without them and `edge-agent policy` renders the public document from
the same settings it enforces: purposes gate every access and every hot-list
category, the recipients gate where alerts may go.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .agent import AgentConfig

# Element letter and wording of 1798.90.51(b)(2), keyed by the setting that holds it.
ELEMENTS = {
    "purposes": ("A", "the authorized purposes for using the unit and collecting its information"),
    "roles": ("B", "the job titles or roles allowed access, and the training they need"),
    "monitoring": ("C", "how use is monitored to ensure the security of the information and compliance with the law"),
    "sharing_restrictions": ("D", "the purposes of, process for and restrictions on sharing the information"),
    "recipients": ("D", "who the information may be shared with"),
    "custodian": ("E", "the title of the official custodian responsible for the system"),
    "accuracy": ("F", "how accuracy is maintained and errors are corrected"),
    "retention_and_destruction": ("G", "how long the information is kept and how it is destroyed"),
}


def missing_element(key: str) -> str:
    letter, what = ELEMENTS[key]
    return f"missing element ({letter}) of Civil Code 1798.90.51(b)(2): {what}"


@dataclass(frozen=True)
class Role:
    title: str = ""
    training: str = ""

    def problems(self) -> list[tuple[str, str]]:
        return [(key, "is required") for key in ("title", "training") if not getattr(self, key).strip()]


@dataclass(frozen=True)
class Recipient:
    name: str = ""
    # The MQTT broker alerts go to; port 0 allows any port on that host.
    host: str = ""
    port: int = 0

    def problems(self) -> list[tuple[str, str]]:
        out = [(key, "is required") for key in ("name", "host") if not getattr(self, key).strip()]
        if not 0 <= self.port <= 65535:
            out.append(("port", "must be between 0 (any) and 65535"))
        return out

    def covers(self, host: str, port: int) -> bool:
        return self.host.strip().lower() == host.strip().lower() and self.port in (0, port)


@dataclass(frozen=True)
class PolicyConfig:
    purposes: tuple[str, ...] = ()  # (A)
    roles: tuple[Role, ...] = ()  # (B)
    monitoring: str = ""  # (C)
    sharing_restrictions: str = ""  # (D)
    recipients: tuple[Recipient, ...] = ()  # (D)
    custodian: str = ""  # (E)
    accuracy: str = ""  # (F)
    retention_and_destruction: str = ""  # (G)
    # Hot-list category -> the authorized purpose it serves. A category not
    # named here is refused when a hot list loads.
    categories: dict[str, str] = field(default_factory=dict)
    # Non-hits, when kept at all, are keyed hashes; plain text needs this.
    store_non_hit_plaintext: bool = False

    def problems(self) -> list[tuple[str, str]]:
        out = [(key, missing_element(key)) for key in ELEMENTS if not self._has(key)]
        seen: set[str] = set()
        for i, purpose in enumerate(self.purposes, start=1):
            if not purpose.strip():
                out.append((f"purposes[{i}]", "is empty"))
            elif purpose.strip().lower() in seen:
                out.append((f"purposes[{i}]", f"'{purpose}' is listed twice"))
            seen.add(purpose.strip().lower())
        for name, items in (("roles", self.roles), ("recipients", self.recipients)):
            for i, item in enumerate(items, start=1):
                out += [(f"{name}[{i}].{key}", message) for key, message in item.problems()]
        for category, purpose in self.categories.items():
            if self.purpose(purpose) is None:
                out.append((f"categories.{category}", f"'{purpose}' is not one of the authorized purposes"))
        return out

    def _has(self, key: str) -> bool:
        value = getattr(self, key)
        return bool(value.strip()) if isinstance(value, str) else bool(value)

    def purpose(self, text: str | None) -> str | None:
        """The authorized purpose `text` names (case-insensitive), or None."""
        wanted = (text or "").strip().lower()
        return next((p for p in self.purposes if wanted and p.strip().lower() == wanted), None)

    def category_purpose(self, category: str) -> str | None:
        """The authorized purpose a hot-list category serves, or None if it is refused."""
        wanted = category.strip().lower()
        purpose = next((p for c, p in self.categories.items() if wanted and c.strip().lower() == wanted), None)
        return self.purpose(purpose)

    def recipient(self, host: str, port: int) -> Recipient | None:
        return next((r for r in self.recipients if r.covers(host, port)), None)


def problems_across(cfg: AgentConfig) -> list[tuple[str, str]]:
    """What the policy forbids in the other sections, keyed "section.key"."""
    policy, mqtt = cfg.policy, cfg.mqtt
    out = []
    if policy.recipients and policy.recipient(mqtt.host, mqtt.port) is None:
        out.append(("mqtt.host", f"broker {mqtt.host}:{mqtt.port} is not a recipient listed in [[policy.recipients]]"))
    if policy.store_non_hit_plaintext and cfg.retention.non_hit_minutes == 0:
        out.append(("policy.store_non_hit_plaintext", "has no effect while retention.non_hit_minutes = 0"))
    return out
