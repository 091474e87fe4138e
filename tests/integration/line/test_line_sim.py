"""The acceptance runs: ``inspector run --line ...`` with ``inspector line-sim`` on loopback, both real processes."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import jsonschema
import pytest

from inspector.integration.line_sim import serial_of
from inspector.integration.mqtt import SCHEMA

from .conftest import line_sim, line_station, rows, running_station, summary

pytestmark = pytest.mark.slow


class Subscriber:
    """A plain paho subscriber on the local Mosquitto, collecting every result."""

    def __init__(self, topic: str, port: int = 1883) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[dict] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = lambda c, u, msg: self.messages.append(json.loads(msg.payload))
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"{topic}/results", qos=1)
        self.client.loop_start()
        time.sleep(0.3)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.mark.parametrize("protocol", ["opcua", "modbus"])
def test_200_parts_at_10_per_second_all_answered_logged_and_published(protocol: str, tmp_path: Path,
                                                                      tiny_bundle: Path) -> None:
    config, line = line_station(tmp_path, tiny_bundle)
    subscriber = Subscriber(line["topic"])
    try:
        with running_station(config, protocol, "mqtt", port=line[f"{protocol}_port"]):
            result = line_sim(protocol, line[protocol], 200, 10, "--lot", "L42")
            deadline = time.monotonic() + 30
            while len(subscriber.messages) < 200 and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        subscriber.close()
    counts = summary(result)
    print(protocol, result.stdout.strip())
    assert result.returncode == 0 and counts["missing"] == 0 and counts["verdicts"] == 200, result.stdout
    logged = rows(tmp_path)
    expected = {serial_of(n, "L42") for n in range(200)}
    assert len(logged) == 200 and {r[0] for r in logged} == expected
    if protocol == "opcua":
        assert {r[1] for r in logged} == {"L42"}
    schema = json.loads(SCHEMA.read_text())
    assert len(subscriber.messages) == 200 and len({m["uid"] for m in subscriber.messages}) == 200
    for message in subscriber.messages:
        jsonschema.validate(message, schema)
    assert {m["serial"] for m in subscriber.messages} == expected


@pytest.mark.parametrize("protocol", ["opcua", "modbus"])
def test_a_1_ms_deadline_rejects_every_part_on_the_wire_and_misses_none(protocol: str, tmp_path: Path,
                                                                        tiny_bundle: Path) -> None:
    config, line = line_station(tmp_path, tiny_bundle, deadline_ms=1)
    with running_station(config, protocol, port=line[f"{protocol}_port"]):
        result = line_sim(protocol, line[protocol], 40, 10)
    counts = summary(result)
    assert counts["missing"] == 0 and counts["verdicts"] == 40 and counts["pass"] == 0, result.stdout
    assert counts["late"] == 40
    assert all("late" in json.loads(r[3]) for r in rows(tmp_path)) and len(rows(tmp_path)) == 40


def test_triggers_above_capacity_are_all_answered_the_excess_rejected_with_its_code(tmp_path: Path,
                                                                                   tiny_bundle: Path) -> None:
    config, line = line_station(tmp_path, tiny_bundle, deadline_ms=150)
    config.write_text(config.read_text().replace("queue_size: 4", "queue_size: 1"))
    with running_station(config, "opcua", port=line["opcua_port"]):
        result = line_sim("opcua", line["opcua"], 150, 150)
    counts = summary(result)
    print(result.stdout.strip())
    assert counts["missing"] == 0 and counts["verdicts"] == 150, result.stdout
    logged = rows(tmp_path)
    codes = [json.loads(r[3]) for r in logged]
    rejected_for_load = [c for c in codes if "not_inspected" in c or "late" in c]
    assert len(logged) == 150 and rejected_for_load  # more than the station takes: each one answered, with why
    assert all(r[2] == "FAIL" for r, c in zip(logged, codes, strict=True) if c in rejected_for_load)


def test_kill_9_mid_run_then_restart_every_verdict_the_plc_got_is_logged(tmp_path: Path, tiny_bundle: Path) -> None:
    from inspector.integration.line_sim import simulate

    config, line = line_station(tmp_path, tiny_bundle)
    outcome: dict = {}
    with running_station(config, "opcua", port=line["opcua_port"]) as proc:
        sim = threading.Thread(target=lambda: outcome.update(r=simulate("opcua", 120, 10, "K9", line["opcua"],
                                                                         grace_s=3)))
        sim.start()
        time.sleep(6)
        proc.kill()  # SIGKILL: no close, nothing flushed
        proc.wait(30)
        sim.join(120)
    received = outcome["r"].verdicts
    assert received, "the PLC got no verdict before the kill"
    with running_station(config, "opcua", port=line["opcua_port"], extra=("--frames", "1")) as restarted:
        line_sim("opcua", line["opcua"], 1, 1, "--lot", "after")
        restarted.wait(120)
    logged = {r[4] for r in rows(tmp_path)}
    missing = set(received) - logged
    print(f"the PLC received {len(received)} verdicts before the kill; {len(missing)} of them are not logged")
    assert missing == set()
