"""mqtt_link.MqttLink: the unit's one connection, written to by one thread only."""

from __future__ import annotations

import threading

from edge_agent.config.mqtt import MqttConfig
from edge_agent.transport.mqtt_link import ACK, MqttLink

from test_publish import wait_until


def test_messages_published_from_other_threads_are_written_by_the_network_thread(mosquitto):
    # Under TLS, a write from the publishing thread while the network thread
    # reads would use one SSL connection from two threads at once; the
    # broker then drops the unit (mqtt_link._new_client).
    link = MqttLink(MqttConfig(host=mosquitto.host, port=mosquitto.port, tls=False, allow_insecure=True),
                    "one-writer-test")
    acks: list[tuple] = []
    link.add_listener(lambda event: event[0] == ACK and acks.append(event))
    link.start()
    try:
        assert wait_until(lambda: link.connected)
        client = link._current[1]
        writers: set[str] = set()
        loop_write = client.loop_write

        def recording_loop_write():
            writers.add(threading.current_thread().name)
            return loop_write()

        client.loop_write = recording_loop_write
        for n in range(20):
            assert link.publish("test/one-writer", b"hit %d" % n) is not None
        assert wait_until(lambda: len(acks) == 20)
        assert writers == {"mqtt-link"}
    finally:
        link.stop()
