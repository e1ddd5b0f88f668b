"""Reading agent.toml: every problem at once, each naming file, line and key.

A technician fixing a unit over a slow link wants all the mistakes in one
pass, each with a line to jump to. tomllib forgets where values were, so a
small scanner over the raw text recovers the line of each header and key.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import tomllib
import typing
from types import UnionType
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..errors import InputError
from .agent import SECTIONS, AgentConfig
from .camera import CameraConfig


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    line: int
    key: str  # dotted: "mqtt.port"
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.key}: {self.message}"


class ConfigError(InputError):
    """The config cannot be used; `problems` holds every reason found."""

    def __init__(self, problems: Iterable[ConfigProblem]):
        self.problems: list[ConfigProblem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


# Relative paths are taken from the config file's folder so that a config and
# its hot list can be copied to a unit together.
_PATH_KEYS = {
    "camera": ("source",),
    "hotlist": ("path", "public_key_file"),
    "storage": ("data_dir",),
    "mqtt": ("ca_file", "cert_file", "key_file", "password_file"),
}
# Files the agent cannot start without; the camera is left out on purpose: a
# device may be plugged in after start, and capture reports it then.
_MUST_EXIST = {
    "hotlist": ("path", "public_key_file"),
    "mqtt": ("ca_file", "cert_file", "key_file", "password_file"),
}
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def load_config(path: str | os.PathLike[str], *, check_files: bool = True) -> AgentConfig:
    """Read and validate the config; raise ConfigError listing every problem.

    check_files=False skips checking that referenced files exist, for
    commands (such as rendering the policy) that never open them.
    """
    file = str(path)
    text = _read(file)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(file, text, exc)]) from None

    lines = _scan_lines(text)

    def line_of(key: str) -> int:
        # A key that is absent (say, a required one) points at the nearest
        # table that is there: its [[array]] entry, its section, or line 1.
        parts = key.split(".")
        return next((lines[k] for i in range(len(parts), 0, -1) if (k := ".".join(parts[:i])) in lines), 1)

    problems: list[ConfigProblem] = []
    several = "cameras" in data
    for name, value in data.items():
        if name == "cameras":
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                problems.append(ConfigProblem(file, line_of(name), name, "must be tables ([[cameras]])"))
                several = False
        elif name not in SECTIONS:
            kind = "section" if isinstance(value, dict) else "key"
            problems.append(ConfigProblem(file, line_of(name), name, _unknown(kind, name, [*SECTIONS, "cameras"])))
        elif not isinstance(value, dict):
            problems.append(ConfigProblem(file, line_of(name), name, "must be a [section]"))
    if several and "camera" in data:
        problems.append(ConfigProblem(file, line_of("camera"), "camera",
                                      "use either [camera] or [[cameras]], not both"))

    base = os.path.dirname(os.path.abspath(file))
    sections: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        if name == "camera" and several:
            continue  # [[cameras]] stand in its place
        raw = data.get(name)
        section, found = _check_section(name, cls, raw if isinstance(raw, dict) else {}, base, check_files)
        sections[name] = section
        problems += [ConfigProblem(file, line_of(f"{name}.{k}"), f"{name}.{k}", m) for k, m in found]
    cameras = []
    for i, raw in enumerate(data["cameras"] if several else (), start=1):
        # Each [[cameras]] table is a [camera] section of its own.
        camera, found = _check_section("camera", CameraConfig, raw, base, check_files)
        cameras.append(camera)
        problems += [ConfigProblem(file, line_of(f"cameras[{i}].{k}"), f"cameras[{i}].{k}", m) for k, m in found]

    config = AgentConfig(**sections, cameras=tuple(cameras), path=file)
    # Rules between sections (say, the broker must be a policy recipient);
    # a key already reported within its section is not reported again.
    reported = {p.key for p in problems}
    problems += [ConfigProblem(file, line_of(k), k, m) for k, m in config.problems() if k not in reported]
    if problems:
        raise ConfigError(sorted(problems, key=lambda p: p.line))
    return config


def _read(file: str) -> str:
    try:
        return Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        reason = "no such file"
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
    except UnicodeDecodeError:
        reason = "is not UTF-8 text"
    raise ConfigError([ConfigProblem(file, 1, "file", reason)])


def _syntax_problem(file: str, text: str, exc: tomllib.TOMLDecodeError) -> ConfigProblem:
    message = str(exc)
    where = re.search(r"\s*\(at line (\d+), column (\d+)\)", message)
    if where:
        line = int(where[1])
        message = f"{message[: where.start()]} (column {where[2]})"
    else:  # "(at end of document)"
        line = text.count("\n") + 1
        message = re.sub(r"\s*\(at end of document\)", " (at end of file)", message)
    return ConfigProblem(file, line, "toml", message[:1].lower() + message[1:])


def _check_section(
    name: str, cls: type, raw: dict[str, Any], base: str, check_files: bool = True
) -> tuple[Any, list[tuple[str, str]]]:
    """Build one section from its table; return it and its (key, message) problems."""
    types = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    values: dict[str, Any] = {}
    found: list[tuple[str, str]] = []
    for key, value in raw.items():
        if key not in known:
            found.append((key, _unknown("key", key, known)))
        elif inner_cls := _subtable_type(types[key]):
            # [section.key]: a table of settings inside the section ([cameras.tracker]).
            if not isinstance(value, dict):
                found.append((key, f"must be a table ([{name or 'section'}.{key}])"))
                continue
            typed, inner = _check_section("", inner_cls, value, base)
            values[key] = typed
            found += [(f"{key}.{k}", m) for k, m in inner]
        elif table := _table_type(types[key]):
            # [[section.key]]: each table is checked like a section of its own.
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                found.append((key, f"must be tables ([[{name}.{key}]])"))
                continue
            items = []
            for i, item in enumerate(value, start=1):
                typed, inner = _check_section("", table, item, base)
                items.append(typed)
                found += [(f"{key}[{i}].{k}", m) for k, m in inner]
            values[key] = tuple(items)
        elif (typed := _as_type(value, types[key])) is None:
            found.append((key, f"must be {_type_name(types[key])}"))
        elif not _finite(typed):
            # TOML allows nan and inf, and every comparison with nan is false,
            # so a nan would slip past each range check in problems().
            found.append((key, f"must be {_type_name(types[key]).replace('number', 'finite number')}"))
        else:
            values[key] = typed

    section = _resolve_paths(name, cls(**values), base)
    # A key already reported for its type was left at its default, which
    # problems() might then flag again ("is required"); once is enough.
    reported = {key for key, _ in found}
    # A table inside a [[array]] is checked by its section's problems().
    later = section.problems() if name else []
    later += _missing_files(name, section) if check_files else []
    found += [(key, message) for key, message in later if key not in reported]
    return section, found


def _table_type(kind: Any) -> type | None:
    """The dataclass of a tuple[SomeTable, ...] setting, else None."""
    args = typing.get_args(kind)
    if typing.get_origin(kind) is tuple and args and dataclasses.is_dataclass(args[0]):
        return args[0]
    return None


def _subtable_type(kind: Any) -> type | None:
    """The dataclass of a `SomeTable | None` setting, else None."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) in (typing.Union, UnionType) and len(args) == 1 and dataclasses.is_dataclass(args[0]):
        return args[0]
    return None


def _type_name(kind: Any) -> str:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is tuple:
        return f"a list of {_TYPE_NAMES[args[0]].split(' ', 1)[1]}s"
    if origin is dict:
        return f"a table of {_TYPE_NAMES[args[1]].split(' ', 1)[1]}s"
    return _TYPE_NAMES[kind]


def _as_type(value: Any, kind: Any) -> Any:
    """The value as `kind`, or None if TOML gave something else."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is tuple:  # tuple[X, ...]: a TOML array
        items = [_as_type(v, args[0]) for v in value] if isinstance(value, list) else [None]
        return None if any(v is None for v in items) else tuple(items)
    if origin is dict:  # dict[str, X]: a TOML table
        items = {k: _as_type(v, args[1]) for k, v in value.items()} if isinstance(value, dict) else {"": None}
        return None if any(v is None for v in items.values()) else items
    if kind is bool:
        return value if isinstance(value, bool) else None
    if isinstance(value, bool):  # bool is an int in Python, but not in TOML
        return None
    if kind is float and isinstance(value, int):
        # tomllib reads integers of any size; one too big for a float is as
        # unusable as inf and is reported the same way.
        try:
            return float(value)
        except OverflowError:
            return math.inf
    return value if isinstance(value, kind) else None


def _finite(value: Any) -> bool:
    """False if a float in the value, or in its list or table, is nan or infinite."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, tuple):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return True


def _unknown(kind: str, name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"unknown {kind}" + (f" (did you mean '{close[0]}'?)" if close else "")


def _is_device_or_url(source: str) -> bool:
    return "://" in source or source.startswith("/dev/video") or source.isdigit()


def _resolve_paths(name: str, section: Any, base: str) -> Any:
    changes = {}
    for key in _PATH_KEYS.get(name, ()):
        value = getattr(section, key)
        if not value or os.path.isabs(value) or (key == "source" and _is_device_or_url(value)):
            continue
        changes[key] = os.path.normpath(os.path.join(base, value))
    return dataclasses.replace(section, **changes) if changes else section


def _missing_files(name: str, section: Any) -> list[tuple[str, str]]:
    found = []
    for key in _MUST_EXIST.get(name, ()):
        value = getattr(section, key)
        if not value:
            continue  # empty means "not used" or is reported as required
        if not os.path.exists(value):
            found.append((key, f"no such file: {value}"))
        elif not os.path.isfile(value):
            found.append((key, f"not a file: {value}"))
    return found


# --- where each header and key is -------------------------------------------

_KEY_PART = r"""(?:"(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)"""
_PART = re.compile(_KEY_PART)
_HEADER = re.compile(rf"\[\[?\s*(?P<name>{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(rf"(?P<key>{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*=")


def _dotted(text: str) -> list[str]:
    return [part.strip("\"'") for part in _PART.findall(text)]


def _scan_lines(text: str) -> dict[str, int]:
    """Map "section" to its header line and "section.key" to its key line."""
    lines: dict[str, int] = {}
    arrays: dict[str, int] = {}
    table: list[str] = []
    depth, open_string = 0, None  # inside a multi-line array or string
    # TOML counts only "\n" as a line break; str.splitlines() counts more.
    for number, raw in enumerate(text.split("\n"), start=1):
        rest = raw.strip()
        if open_string:
            end = raw.find(open_string)
            if end < 0:
                continue
            rest, open_string = raw[end + 3 :], None
        elif depth == 0:
            if header := _HEADER.match(rest):
                parts = _dotted(header["name"])
                lines.setdefault(".".join(parts), number)
                if rest.startswith("[["):
                    name = ".".join(parts)
                    arrays[name] = arrays.get(name, 0) + 1
                # The n-th [[a.b]] is "a.b[n]" (from 1), as problems name it,
                # and a [a.b.c] after it is a table of that "a.b[n]".
                table = [part + (f"[{arrays[name]}]" if (name := ".".join(parts[: i + 1])) in arrays else "")
                         for i, part in enumerate(parts)]
                lines.setdefault(".".join(table), number)
                continue
            if key := _KEY.match(rest):
                parts = table + _dotted(key["key"])
                # A dotted key (a.b = 1) also places its parent, "a".
                for i in range(len(table) + 1, len(parts) + 1):
                    lines.setdefault(".".join(parts[:i]), number)
                rest = rest[key.end() :]
        depth, open_string = _skip_value(rest, depth)
    return lines


def _skip_value(text: str, depth: int) -> tuple[int, str | None]:
    """Walk past a value; return the bracket depth and any unclosed triple quote."""
    i = 0
    while i < len(text):
        c = text[i]
        if c == "#":
            break
        if text.startswith(('"""', "'''"), i):
            end = text.find(text[i : i + 3], i + 3)
            if end < 0:
                return depth, text[i : i + 3]
            i = end + 3
            continue
        if c in "\"'":
            i += 1
            while i < len(text) and text[i] != c:
                i += 2 if c == '"' and text[i] == "\\" else 1
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth = max(depth - 1, 0)
        i += 1
    return depth, None
