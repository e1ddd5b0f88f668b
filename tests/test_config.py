"""The config loader: typed values, relative paths, and problems with lines."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from edge_agent.config import (
    SECTIONS,
    AgentConfig,
    ConfigError,
    ConfigProblem,
    load_config,
)
from edge_agent.errors import EXIT_USAGE, InputError

EXAMPLE = Path(__file__).resolve().parent.parent / "deploy" / "agent.example.toml"

# Keys whose example value is a realistic setting rather than the default.
EXAMPLE_SPECIFIC = {
    "unit.site",
    "unit.camera_id",
    "camera.source",
    "hotlist.path",
    "mqtt.host",
    "mqtt.ca_file",
    # The usage-and-privacy policy has no defaults: each element is the agency's own.
    "policy.purposes",
    "policy.roles",
    "policy.monitoring",
    "policy.sharing_restrictions",
    "policy.recipients",
    "policy.custodian",
    "policy.accuracy",
    "policy.retention_and_destruction",
    "policy.categories",
}


# Every agent config needs a complete [policy]; it goes last so that the
# line numbers these tests expect stay those of the text they write.
POLICY = """
[policy]
purposes = ["investigation"]
monitoring = "m"
sharing_restrictions = "s"
custodian = "c"
accuracy = "a"
retention_and_destruction = "r"
roles = [{ title = "Investigator", training = "t" }]
recipients = [{ name = "default", host = "localhost" }, { name = "test", host = "broker.local" }]
"""


def write(folder: Path, text: str, name: str = "agent.toml") -> Path:
    path = folder / name
    if name == "agent.toml" and "[policy" not in text:
        text += POLICY
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [str(p) for p in caught.value.problems]


def minimal(hotlist: str = "hotlist.csv") -> str:
    return f"""\
[unit]
site = "north"
camera_id = "cam-2"

[camera]
source = "/dev/video0"

[hotlist]
path = "{hotlist}"
"""


@pytest.fixture
def hotlist(tmp_path: Path) -> Path:
    return write(tmp_path, "plate\nABC123\n", "hotlist.csv")


def test_valid_config_returns_typed_values(tmp_path: Path, hotlist: Path) -> None:
    ca = write(tmp_path, "not really a cert", "ca.crt")
    path = write(
        tmp_path,
        minimal()
        + f"""
[mqtt]
host = "broker.local"
port = 1883
tls = false
allow_insecure = true
ca_file = "{ca}"

[reader]
min_confidence = 1  # an integer is fine where a number is expected

[tracker]
max_gap_seconds = 0.5
""",
    )
    config = load_config(path)

    assert isinstance(config, AgentConfig)
    assert config.path == str(path)
    assert config.unit.site == "north" and config.unit.camera_id == "cam-2"
    assert config.mqtt.port == 1883 and config.mqtt.tls is False
    assert config.mqtt.ca_file == str(ca)
    assert config.reader.min_confidence == 1.0
    assert isinstance(config.reader.min_confidence, float)
    assert config.tracker.max_gap_seconds == 0.5
    # Sections left out keep their defaults.
    assert config.retention.non_hit_minutes == 0
    assert config.storage == SECTIONS["storage"]()


def test_relative_paths_resolve_against_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unit_dir = tmp_path / "unit"
    (unit_dir / "lists").mkdir(parents=True)
    write(unit_dir / "lists", "plate\nABC123\n", "hot.csv")
    write(unit_dir, "secret\n", "mqtt.pass")
    path = write(
        unit_dir,
        minimal("lists/hot.csv").replace("/dev/video0", "clips/road.mp4")
        + """
[mqtt]
username = "unit"
password_file = "mqtt.pass"

[storage]
data_dir = "data"
""",
    )
    # Loading from elsewhere must not change where the paths point.
    monkeypatch.chdir(tmp_path)
    config = load_config(path)

    assert config.hotlist.path == str(unit_dir / "lists" / "hot.csv")
    assert config.camera.source == str(unit_dir / "clips" / "road.mp4")
    assert config.storage.data_dir == str(unit_dir / "data")
    assert config.mqtt.password_file == str(unit_dir / "mqtt.pass")


@pytest.mark.parametrize("source", ["/dev/video0", "0", "rtsp://cam.local/stream", "https://cam/x.mjpg"])
def test_devices_and_urls_are_left_alone(tmp_path: Path, hotlist: Path, source: str) -> None:
    path = write(tmp_path, minimal().replace("/dev/video0", source))
    assert load_config(path).camera.source == source


def test_camera_source_need_not_exist(tmp_path: Path, hotlist: Path) -> None:
    path = write(tmp_path, minimal().replace("/dev/video0", "/dev/video9"))
    assert load_config(path).camera.source == "/dev/video9"


def test_planted_errors_are_reported_with_line_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
[unit]
site = "north"
camera_id = 7
prot = 1

[camera]
source = "/dev/video0"

[hotlist]
path = "missing.csv"

[mqtt]
port = 70000
tls = false

[cameras]
source = "x"
""",
    )
    found = problems_of(path)
    expected = [
        f"{path}:3: unit.camera_id: must be a string",
        f"{path}:4: unit.prot: unknown key",
        f"{path}:10: hotlist.path: no such file: {tmp_path / 'missing.csv'}",
        f"{path}:13: mqtt.port: must be between 1 and 65535",
        f"{path}:14: mqtt.tls: plain TCP",
        f"{path}:16: cameras: must be tables ([[cameras]])",
    ]
    for prefix in expected:
        assert any(p.startswith(prefix) for p in found), (prefix, found)
    # camera_id is reported once, for its type, not again as "required".
    assert sum("unit.camera_id" in p for p in found) == 1
    assert len(found) == len(expected)


def test_problems_are_collected_across_sections_in_line_order(tmp_path: Path, hotlist: Path) -> None:
    path = write(
        tmp_path,
        minimal()
        + """
[reader]
threads = 99
engine = "tesseract"
full_scan_seconds = -1

[retention]
non_hit_minutes = 5000
hit_days = 0
""",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    problems = caught.value.problems
    assert [(p.line, p.key) for p in problems] == [
        (12, "reader.threads"),
        (13, "reader.engine"),
        (14, "reader.full_scan_seconds"),
        (17, "retention.non_hit_minutes"),
        (18, "retention.hit_days"),
    ]


def test_type_rules(tmp_path: Path, hotlist: Path) -> None:
    path = write(
        tmp_path,
        minimal()
        + """
[mqtt]
port = true
keepalive_seconds = 30.5
tls = "yes"

[reader]
min_confidence = false
""",
    )
    found = problems_of(path)
    assert f"{path}:12: mqtt.port: must be an integer" in found
    assert f"{path}:13: mqtt.keepalive_seconds: must be an integer" in found
    assert f"{path}:14: mqtt.tls: must be true or false" in found
    assert f"{path}:17: reader.min_confidence: must be a number" in found


def test_missing_required_keys_point_at_section_or_line_1(tmp_path: Path, hotlist: Path) -> None:
    path = write(tmp_path, '# a unit\n\n[camera]\nmax_fps = 5\n\n[hotlist]\npath = "hotlist.csv"\n')
    found = problems_of(path)
    assert f"{path}:1: unit.site: is required" in found
    assert f"{path}:1: unit.camera_id: is required" in found
    assert f"{path}:3: camera.source: is required" in found


def test_unknown_key_suggests_closest(tmp_path: Path, hotlist: Path) -> None:
    path = write(tmp_path, minimal() + "\n[mqtt]\ntopic_prefx = \"a\"\n")
    assert f"{path}:12: mqtt.topic_prefx: unknown key (did you mean 'topic_prefix'?)" in problems_of(path)


def test_mqtt_files_must_exist(tmp_path: Path, hotlist: Path) -> None:
    path = write(
        tmp_path,
        minimal()
        + """
[mqtt]
ca_file = "ca.crt"
cert_file = "unit.crt"
key_file = "unit.key"
username = "unit"
password_file = "pass"
""",
    )
    found = problems_of(path)
    for line, key, name in [(12, "ca_file", "ca.crt"), (13, "cert_file", "unit.crt"),
                            (14, "key_file", "unit.key"), (16, "password_file", "pass")]:
        assert f"{path}:{line}: mqtt.{key}: no such file: {tmp_path / name}" in found


def test_secret_values_are_never_echoed(tmp_path: Path, hotlist: Path) -> None:
    path = write(tmp_path, minimal() + '\n[mqtt]\npassword = "hunter2-secret"\npassword_file = 12345\n')
    error = str(pytest.raises(ConfigError, load_config, path).value)
    assert "mqtt.password: unknown key" in error
    assert "mqtt.password_file: must be a string" in error
    assert "hunter2" not in error and "12345" not in error


def test_line_scanner_survives_multiline_values(tmp_path: Path, hotlist: Path) -> None:
    path = write(
        tmp_path,
        minimal()
        + '''
[mqtt]
notes = """
port = 1
[reader]
"""
extra = [
  "a", # comment ]
  "b",
]
"quoted" = 1
port = 0
''',
    )
    found = problems_of(path)
    assert found == [
        f"{path}:12: mqtt.notes: unknown key",
        f"{path}:16: mqtt.extra: unknown key",
        f"{path}:20: mqtt.quoted: unknown key",
        f"{path}:21: mqtt.port: must be between 1 and 65535",
    ]


def test_subtables_and_dotted_keys_are_unknown_keys(tmp_path: Path, hotlist: Path) -> None:
    path = write(tmp_path, minimal() + "\n[mqtt]\ntls.verify = true\n\n[mqtt.extra]\na = 1\n")
    found = problems_of(path)
    assert f"{path}:12: mqtt.tls: must be true or false" in found
    assert f"{path}:14: mqtt.extra: unknown key" in found


def test_toml_syntax_error_reports_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[unit]\nsite = "north"\ncamera_id = \n')
    found = problems_of(path)
    assert len(found) == 1
    assert found[0].startswith(f"{path}:3: toml: ")


def test_missing_file_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    assert problems_of(path) == [f"{path}:1: file: no such file"]


def test_directory_instead_of_file(tmp_path: Path) -> None:
    found = problems_of(tmp_path)
    assert len(found) == 1 and found[0].startswith(f"{tmp_path}:1: file: ")


def test_config_error_is_input_error_with_exit_code_2() -> None:
    error = ConfigError([ConfigProblem("a.toml", 3, "mqtt.port", "must be an integer"),
                         ConfigProblem("a.toml", 5, "unit.site", "is required")])
    assert isinstance(error, InputError)
    assert error.exit_code == EXIT_USAGE == 2
    assert str(error) == "a.toml:3: mqtt.port: must be an integer\na.toml:5: unit.site: is required"


# --- deploy/agent.example.toml ----------------------------------------------


def example() -> dict:
    return tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


# Keys of a [[cameras]] table only; the example shows them in its commented [[cameras]].
CAMERAS_ONLY = {"id", "tracker"}


def test_example_lists_every_key_and_nothing_else() -> None:
    data = example()
    assert set(data) == set(SECTIONS)
    for name, cls in SECTIONS.items():
        keys = {f.name for f in dataclasses.fields(cls)} - (CAMERAS_ONLY if name == "camera" else set())
        assert set(data[name]) == keys, name


def test_example_cameras_load_in_place_of_its_camera(tmp_path: Path) -> None:
    """The commented [[cameras]] of the example, uncommented in place of [camera], is a valid config."""
    text = EXAMPLE.read_text(encoding="utf-8")
    start, end = text.index("\n[camera]\n"), text.index("\n[hotlist]\n")
    cameras = re.findall(r"^# (\[\[cameras\]\]|\[cameras\.tracker\]|[a-z_]+ = .*)$", text[start:end], re.M)
    text = text[:start] + "\n" + "\n".join(cameras) + "\n" + text[end:]
    text = re.sub(r'^camera_id = .*$', "", text, flags=re.M)
    path = tmp_path / "agent.toml"
    path.write_text(text)
    cfg = load_config(path, check_files=False)
    assert [(s.id, s.camera.source, s.camera.mask, s.tracker.max_gap_seconds) for s in cfg.camera_setups()] == [
        ("lane-1", "rtsp://192.168.1.20/stream1", "", cfg.tracker.max_gap_seconds),
        ("gate", "/dev/video0", "0,0,1280,200", 3.0)]


def test_example_values_are_the_defaults() -> None:
    data = example()
    for name, cls in SECTIONS.items():
        defaults = cls()
        for key, value in data[name].items():
            if f"{name}.{key}" not in EXAMPLE_SPECIFIC:
                assert value == getattr(defaults, key), f"{name}.{key}"
                assert type(value) is type(getattr(defaults, key)), f"{name}.{key}"


def test_example_has_the_contract_values() -> None:
    data = example()
    assert data["retention"]["non_hit_minutes"] == 0
    assert data["mqtt"]["port"] == 8883 and data["mqtt"]["tls"] is True
    assert data["storage"]["data_dir"] == "/var/lib/edge-agent"


def test_example_is_valid_but_for_missing_files() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(EXAMPLE)
    assert {(p.key, p.message) for p in caught.value.problems} == {
        ("hotlist.path", "no such file: /etc/edge-agent/hotlist.csv"),
        ("mqtt.ca_file", "no such file: /etc/edge-agent/ca.crt"),
    }
