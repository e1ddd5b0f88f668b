"""Shared fixtures: a real Mosquitto broker per test and MQTT subscribers."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Let plain `pytest` (not only `python -m pytest`) import the package from
# the checkout without installing it.
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from edge_agent.commands.broker import LocalBroker  # noqa: E402
from edge_agent.errors import AgentError  # noqa: E402

try:
    from mqtt_helpers import Subscriber
except ImportError:  # tests/ imported as a package
    from tests.mqtt_helpers import Subscriber


@pytest.fixture
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A broker on 127.0.0.1 that the test may stop, pause, kill and restart on the same port."""
    try:
        broker = LocalBroker(workdir=tmp_path_factory.mktemp("mosquitto")).start()
    except AgentError as exc:
        # Fail, not skip: the project's setup installs mosquitto, so its absence is a broken setup.
        pytest.fail(f"{exc} (install the Debian package `mosquitto`)")
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture
def subscriber_factory() -> Iterator[Callable[..., Subscriber]]:
    """subscriber_factory(host, port, topic) -> a connected Subscriber, closed at teardown."""
    made: list[Subscriber] = []

    def make(host: str, port: int, topic: str, **kwargs: object) -> Subscriber:
        sub = Subscriber(host, port, topic, **kwargs)  # type: ignore[arg-type]
        made.append(sub)
        return sub

    yield make
    for sub in made:
        sub.close()
