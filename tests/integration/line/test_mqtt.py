"""MQTT to the MES: every result on a private Mosquitto, valid against the schema; a broker restart mid-run loses
none; a station restart sends none twice."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest

from inspector.integration.mqtt import SCHEMA
from inspector.station.runtime import StationRuntime
from tests.conftest import skip_without

from .conftest import free_port, line_station, rows, wait_port

pytestmark = pytest.mark.slow


class Broker:
    """A private Mosquitto on a free port, persistent (it keeps sessions and queued messages over a restart)."""

    def __init__(self, folder: Path) -> None:
        if shutil.which("mosquitto") is None:
            skip_without("no mosquitto binary")
        self.port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                             f"persistence_location {folder}/\nautosave_interval 1\n")
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(20)


class Subscriber:
    """A persistent-session subscriber (QoS 1) that reconnects by itself."""

    def __init__(self, port: int, topic: str) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[dict] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-mes", clean_session=False)
        self.client.on_message = lambda c, u, msg: self.messages.append(json.loads(msg.payload))
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{topic}/results", qos=1)
        self.client.reconnect_delay_set(0.1, 1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        time.sleep(0.5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _run(config: Path, parts: int) -> StationRuntime:
    runtime = StationRuntime(config, "sim", ("mqtt",))
    runtime.start(parts)
    assert runtime.wait(120)
    return runtime


def test_results_survive_a_broker_restart_and_a_station_restart_sends_none_twice(tmp_path: Path,
                                                                                 tiny_bundle: Path) -> None:
    broker = Broker(tmp_path / "broker")
    config, line = line_station(tmp_path, tiny_bundle, mqtt_port=broker.port)
    config.write_text(config.read_text().replace("fps: 20", "fps: 10"))
    subscriber = Subscriber(broker.port, line["topic"])
    try:
        runtime = StationRuntime(config, "sim", ("mqtt",))
        runtime.start(60)
        time.sleep(2.5)
        broker.stop()  # mid-run: the station keeps inspecting, its outbox keeps the messages
        time.sleep(2.0)
        broker.start()
        assert runtime.wait(120)
        runtime.close()
        deadline = time.monotonic() + 20
        while len({m["uid"] for m in subscriber.messages}) < 60 and time.monotonic() < deadline:
            time.sleep(0.1)
        first_run = {m["uid"] for m in subscriber.messages}
        mark = len(subscriber.messages)
        second = _run(config, 10)  # a restart: it sends its own 10, nothing of the first run again
        second.close()
        deadline = time.monotonic() + 20
        while len(subscriber.messages) < 70 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        subscriber.close()
        broker.stop()
    uids = [m["uid"] for m in subscriber.messages]
    logged = {r[0] for r in rows(tmp_path, "select uid from inspections")}
    schema = json.loads(SCHEMA.read_text())
    for message in subscriber.messages:
        jsonschema.validate(message, schema)
    after_restart = [m["uid"] for m in subscriber.messages[mark:]]
    print(f"{len(uids)} results received, {len(set(uids))} distinct, {len(logged)} logged; "
          f"{len(after_restart)} after the restart")
    assert set(uids) == logged and len(logged) == 70  # the broker restart lost none
    assert len(first_run) == 60 and not set(after_restart) & first_run  # the station restart resent none
    assert len(after_restart) == len(set(after_restart)) == 10
