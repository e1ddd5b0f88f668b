"""Configs for tests that run the whole agent.

Every test that starts the agent builds its config here, so a section the
agent comes to require (for example [policy]) is added in one place.
"""

from __future__ import annotations

from pathlib import Path


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
    for name, body in sections.items():
        text += f"\n[{name}]\n{body}\n"
    path = folder / "agent.toml"
    path.write_text(text)
    return path
