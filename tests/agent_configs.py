"""Configs for tests that run the whole agent.

Every test that starts the agent builds its config here, so a section the
agent comes to require (for example [policy]) is added in one place.
"""

from __future__ import annotations

from pathlib import Path

# A complete usage-and-privacy policy: the agent refuses to start without one.
# Tests that exercise the policy itself pass their own `policy=` section.
POLICY = """\
purposes = ["stolen vehicle recovery", "AMBER alert", "investigation"]
monitoring = "Access log reviewed monthly by the custodian."
sharing_restrictions = "Alerts to the test broker only."
custodian = "Test custodian"
accuracy = "Officers confirm each alert by sight before acting."
retention_and_destruction = "Hits are destroyed when retention ends."

[policy.categories]
stolen-vehicle = "stolen vehicle recovery"
stolen-plate = "stolen vehicle recovery"
amber-alert = "AMBER alert"

[[policy.roles]]
title = "Investigator"
training = "ALPR course"

[[policy.recipients]]
name = "test broker"
host = "127.0.0.1"
port = {port}
"""


def write_config(folder: Path, *, source: Path, port: int, hotlist: str, **sections: str) -> Path:
    (folder / "hotlist.csv").write_text(hotlist)
    text = f"""
[unit]
site = "test-site"
camera_id = "cam-7"

[camera]
source = "{source}"

[hotlist]
path = "hotlist.csv"

[mqtt]
host = "127.0.0.1"
port = {port}
topic_prefix = "alpr"
tls = false
allow_insecure = true

[storage]
data_dir = "data"
"""
    sections.setdefault("policy", POLICY.format(port=port))
    for name, body in sections.items():
        text += f"\n[{name}]\n{body}\n"
    path = folder / "agent.toml"
    path.write_text(text)
    return path


def write_cameras_config(folder: Path, *, cameras: str, port: int, hotlist: str, **sections: str) -> Path:
    """A config with several cameras: `cameras` is the [[cameras]] tables, in place of [camera]."""
    path = write_config(folder, source=Path("unused"), port=port, hotlist=hotlist, **sections)
    text = path.read_text().replace('camera_id = "cam-7"\n', "")
    text = text.replace('[camera]\nsource = "unused"\n', cameras)
    path.write_text(text)
    return path
