"""Every number in agent.toml has a finite, sane range and every pattern is a
full match, so a value that would break the running unit (a nan that no
track ever closes on, a keepalive paho cannot send, a site ending in a
newline) is refused by check-config, one line naming file, line and key."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import math
import subprocess
import sys
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from agent_configs import write_config

from edge_agent.config import SECTIONS, ConfigError, load_config
from edge_agent.config.loader import _check_section
from edge_agent.commands.demo import CONFIG_TOML

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "deploy" / "agent.example.toml"

# A complete config with nothing numeric set but the policy's recipient port:
# every problem a test finds comes from the value it plants.
BASE: dict[str, dict[str, Any]] = {
    "unit": {"site": "north", "camera_id": "cam-2"},
    "camera": {"source": "/dev/video0"},
    "hotlist": {"path": "hotlist.csv"},
    "mqtt": {"host": "broker.local"},
    "policy": {
        "purposes": ["investigation"],
        "monitoring": "m",
        "sharing_restrictions": "s",
        "custodian": "c",
        "accuracy": "a",
        "retention_and_destruction": "r",
        "roles": [{"title": "Investigator", "training": "t"}],
        "recipients": [{"name": "broker", "host": "broker.local", "port": 8883}],
    },
}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes are TOML basic-string escapes
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"


def toml_text(data: dict[str, dict[str, Any]]) -> str:
    return "".join(f"[{name}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in table.items()) + "\n"
                   for name, table in data.items())


def write(tmp_path: Path, data: dict[str, dict[str, Any]]) -> tuple[Path, str]:
    text = toml_text(data)
    path = tmp_path / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path, text


def with_value(section: str, key: str, value: Any) -> dict[str, dict[str, Any]]:
    data = copy.deepcopy(BASE)
    data.setdefault(section, {})[key] = value
    return data


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, check_files=False)
    return [str(p) for p in caught.value.problems]


def line_of(text: str, line: str) -> int:
    return text.splitlines().index(line) + 1


def test_base_config_is_valid(tmp_path: Path) -> None:
    path, _ = write(tmp_path, BASE)
    load_config(path, check_files=False)


# --- nan and inf ------------------------------------------------------------


@pytest.mark.parametrize("literal", ["nan", "inf", "-inf", "+nan", "+inf"])
def test_non_finite_float_is_one_problem_with_file_line_and_key(tmp_path: Path, literal: str) -> None:
    path, text = write(tmp_path, BASE)
    text += f"[tracker]\nmin_frames = 2\nmax_gap_seconds = {literal}\n"
    path.write_text(text, encoding="utf-8")
    line = line_of(text, f"max_gap_seconds = {literal}")
    assert problems_of(path) == [f"{path}:{line}: tracker.max_gap_seconds: must be a finite number"]


def test_nan_is_not_compared_with_the_other_bound(tmp_path: Path) -> None:
    # The key keeps its default, so reconnect_max_seconds is not reported too.
    path, text = write(tmp_path, with_value("camera", "reconnect_min_seconds", math.nan))
    line = line_of(text, "reconnect_min_seconds = nan")
    assert problems_of(path) == [f"{path}:{line}: camera.reconnect_min_seconds: must be a finite number"]


def test_integer_too_big_for_a_float_is_not_finite(tmp_path: Path) -> None:
    path, text = write(tmp_path, with_value("mqtt", "outbox_max_mb", 10**400))
    line = line_of(text, f"outbox_max_mb = {10**400}")
    assert problems_of(path) == [f"{path}:{line}: mqtt.outbox_max_mb: must be a finite number"]


def test_nan_in_an_integer_key_is_a_type_problem(tmp_path: Path) -> None:
    path, text = write(tmp_path, with_value("mqtt", "keepalive_seconds", math.nan))
    line = line_of(text, "keepalive_seconds = nan")
    assert problems_of(path) == [f"{path}:{line}: mqtt.keepalive_seconds: must be an integer"]


@dataclass(frozen=True)
class _Point:
    x: float = 0.0


@dataclass(frozen=True)
class _Numbers:
    # No section holds a list or table of numbers yet; the loader's rule must
    # already cover one, and a [[table]] of them.
    weights: tuple[float, ...] = ()
    limits: dict[str, float] = field(default_factory=dict)
    points: tuple[_Point, ...] = ()

    def problems(self) -> list[tuple[str, str]]:
        return []


def test_non_finite_inside_lists_tables_and_array_tables() -> None:
    raw = tomllib.loads("weights = [1.0, nan]\nlimits = { a = 1, b = -inf }\n"
                        "[[points]]\nx = 1.5\n[[points]]\nx = inf\n")
    section, found = _check_section("numbers", _Numbers, raw, "/")
    assert found == [("weights", "must be a list of finite numbers"),
                     ("limits", "must be a table of finite numbers"),
                     ("points[2].x", "must be a finite number")]
    assert section.weights == () and section.limits == {} and section.points[0].x == 1.5

    section, found = _check_section("numbers", _Numbers, tomllib.loads("weights = [1, 2.5]\nlimits = { a = 3 }"), "/")
    assert found == [] and section.weights == (1.0, 2.5) and section.limits == {"a": 3.0}


# --- the bounds the issue named -----------------------------------------------


@pytest.mark.parametrize(("section", "key", "bad", "good", "message"), [
    ("mqtt", "keepalive_seconds", 70000, 65535, "must be between 5 and 65535"),
    ("retention", "hit_days", 999999999, 3650, "must be between 1 and 3650"),
    ("mqtt", "reconnect_max_seconds", 86400.0, 3600.0, "must be between reconnect_min_seconds and 3600"),
    ("camera", "reconnect_min_seconds", 0.001, 0.1, "must be between 0.1 and 3600"),
    ("tracker", "min_frames", 51, 50, "must be between 1 and 50"),
])
def test_named_bounds(tmp_path: Path, section: str, key: str, bad: Any, good: Any, message: str) -> None:
    path, text = write(tmp_path, with_value(section, key, bad))
    line = line_of(text, f"{key} = {toml_value(bad)}")
    assert problems_of(path) == [f"{path}:{line}: {section}.{key}: {message}"]
    path, _ = write(tmp_path, with_value(section, key, good))
    assert getattr(getattr(load_config(path, check_files=False), section), key) == good


@pytest.mark.parametrize(("section", "key", "value"), [
    ("unit", "site", "a\n"),
    ("unit", "camera_id", "cam-2\n"),
    ("mqtt", "topic_prefix", "alpr\n"),
    ("mqtt", "topic_prefix", "alpr/units\n"),
])
def test_patterns_refuse_a_trailing_newline(tmp_path: Path, section: str, key: str, value: str) -> None:
    path, text = write(tmp_path, with_value(section, key, value))
    line = line_of(text, f"{key} = {json.dumps(value)}")
    found = problems_of(path)
    assert len(found) == 1 and found[0].startswith(f"{path}:{line}: {section}.{key}: "), found
    path, _ = write(tmp_path, with_value(section, key, value.rstrip("\n")))
    assert getattr(getattr(load_config(path, check_files=False), section), key) == value.rstrip("\n")


# --- every numeric setting, found by walking the dataclasses ----------------


def numeric_settings() -> list[tuple[tuple[str | int, ...], type, str]]:
    """(path, number type, shape) of each number a config can hold; path
    indexes BASE-like data, e.g. ("policy", "recipients", 0, "port")."""
    found: list[tuple[tuple[str | int, ...], type, str]] = []

    def walk(cls: type, path: tuple[str | int, ...]) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            kind = hints[f.name]
            origin, args = typing.get_origin(kind), typing.get_args(kind)
            if kind in (int, float):
                found.append(((*path, f.name), kind, "scalar"))
            elif origin is tuple and args and dataclasses.is_dataclass(args[0]):
                walk(args[0], (*path, f.name, 0))
            elif origin is tuple and args and args[0] in (int, float):
                found.append(((*path, f.name), args[0], "list"))
            elif origin is dict and args[1] in (int, float):
                found.append(((*path, f.name), args[1], "table"))

    for name, cls in SECTIONS.items():
        walk(cls, (name,))
    return found


def key_of(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in path).replace(".0.", "[1].")


def planted(path: tuple[str | int, ...], value: Any, shape: str) -> dict[str, dict[str, Any]]:
    data: Any = copy.deepcopy(BASE)
    node = data
    for step, after in itertools.pairwise(path):
        if isinstance(step, int):  # an [[array]] table: plant in its first entry
            node = node[step]
        else:
            node = node.setdefault(step, [{}] if isinstance(after, int) else {})
    node[path[-1]] = {"list": [value], "table": {"a": value}}.get(shape, value)
    return data


CASES = [
    pytest.param(path, value, shape, id=f"{key_of(path)}={value!r}")
    for path, kind, shape in numeric_settings()
    for value in ((1e12, -1e12, math.nan, math.inf, -math.inf) if kind is float else (10**12, -(10**12)))
]


def test_the_walk_finds_the_numbers_of_every_section() -> None:
    keys = {key_of(path) for path, _, _ in numeric_settings()}
    assert {"mqtt.keepalive_seconds", "retention.hit_days", "tracker.max_gap_seconds", "reader.min_confidence",
            "camera.max_fps", "storage.crop_jpeg_quality", "policy.recipients[1].port"} <= keys


@pytest.mark.parametrize(("path", "value", "shape"), CASES)
def test_every_number_has_a_finite_bounded_range(tmp_path: Path, path: tuple, value: Any, shape: str) -> None:
    # A setting added later without both bounds in its problems() fails here.
    config, _ = write(tmp_path, planted(path, value, shape))
    key = key_of(path)
    found = [p.split(": ", 2)[1:] for p in problems_of(config)]
    assert key in [k for k, _ in found], (key, found)
    if isinstance(value, float) and not math.isfinite(value):
        assert [key, "must be a finite number"] in found


# --- configs that must keep loading -----------------------------------------


def test_shipped_example_still_loads() -> None:
    config = load_config(EXAMPLE, check_files=False)
    assert config.mqtt.keepalive_seconds == 30 and config.retention.hit_days == 30


def test_agent_test_config_and_demo_config_still_load(tmp_path: Path) -> None:
    path = write_config(tmp_path, source=tmp_path / "clip.mp4", port=1883, hotlist="plate\nABC123\n",
                        tracker="min_frames = 1\nmax_gap_seconds = 0.01")
    assert load_config(path).tracker.max_gap_seconds == 0.01
    demo = tmp_path / "demo.toml"
    demo.write_text(CONFIG_TOML.format(video=tmp_path / "clip.mp4", port=1883), encoding="utf-8")
    assert load_config(demo, check_files=False).unit.site == "demo-site"


# --- the command a technician runs ------------------------------------------


def test_check_config_prints_one_line_per_non_finite_value(tmp_path: Path) -> None:
    (tmp_path / "hotlist.csv").write_text("plate\nABC123\n", encoding="utf-8")
    data = with_value("tracker", "max_gap_seconds", math.nan)
    data["mqtt"]["status_interval_seconds"] = math.inf
    path, text = write(tmp_path, data)
    proc = subprocess.run([sys.executable, "-m", "edge_agent", "check-config", str(path)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"{path}:{line_of(text, 'status_interval_seconds = inf')}: mqtt.status_interval_seconds: must be a finite number",
        f"{path}:{line_of(text, 'max_gap_seconds = nan')}: tracker.max_gap_seconds: must be a finite number",
    ]
    assert "ok" not in proc.stdout
