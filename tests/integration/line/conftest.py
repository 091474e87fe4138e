"""A station on loopback with its line I/O on free ports, run as a subprocess or in-process."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.integration.faults.conftest import query, station_env
from tests.integration.station.conftest import write_station

SIM = {"product": "washer", "fps": 20, "size": 128, "defect_fraction": 0.3, "seed": 5}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the station ended: {proc.stdout.read() if proc.stdout else ''}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port} after {timeout:.0f} s")


def line_station(tmp_path: Path, bundle: Path, *, deadline_ms: float = 10_000, mqtt_port: int = 1883,
                 **recipe: object) -> tuple[Path, dict[str, object]]:
    """station.yaml with OPC UA, Modbus and MQTT settings on free ports; returns it and the endpoints."""
    config = write_station(tmp_path, bundle, sim=SIM)
    data = yaml.safe_load(config.read_text())
    ports = {"opcua": free_port(), "modbus": free_port()}
    endpoint = f"opc.tcp://127.0.0.1:{ports['opcua']}/inspector/"
    data["line"] = {"opcua": {"endpoint": endpoint}, "modbus": {"port": ports["modbus"]},
                    "mqtt": {"port": mqtt_port, "topic_prefix": f"test-{tmp_path.name[-12:]}"},
                    "frame_timeout_ms": 5000, "heartbeat_timeout_s": 2}
    data["pipeline"]["backpressure"] = "drop_oldest"
    config.write_text(yaml.safe_dump(data))
    recipe_path = tmp_path / "recipe.yaml"
    body = yaml.safe_load(recipe_path.read_text())
    body.update({"id": 1, "deadline_ms": deadline_ms, **recipe})
    recipe_path.write_text(yaml.safe_dump(body))
    return config, {"opcua": endpoint, "modbus": f"127.0.0.1:{ports['modbus']}", "opcua_port": ports["opcua"],
                    "modbus_port": ports["modbus"], "topic": f"{data['line']['mqtt']['topic_prefix']}/test-station"}


@contextmanager
def running_station(config: Path, *lines: str, port: int, extra: tuple[str, ...] = ()) -> Iterator[subprocess.Popen]:
    """``inspector run --headless --camera sim --line ...`` until the block ends (then SIGINT, the orderly close)."""
    args = [sys.executable, "-m", "inspector.cli", "run", "--config", str(config), "--headless", "--camera", "sim",
            *(a for line in lines for a in ("--line", line)), *extra]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=station_env(),
                            cwd=ROOT)
    try:
        wait_port(port, proc)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(2)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()


def line_sim(protocol: str, endpoint: str, parts: int, rate: float, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inspector.cli", "line-sim", "--protocol", protocol, "--parts",
                           str(parts), "--rate", str(rate), "--endpoint", endpoint, *extra], capture_output=True,
                          text=True, env=station_env(), timeout=600, cwd=ROOT)


def summary(result: subprocess.CompletedProcess) -> dict[str, float]:
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("parts=")]
    assert line, result.stdout + result.stderr
    return {k: float(v) for k, v in (item.split("=") for item in line[-1].split())}


def rows(tmp_path: Path, sql: str = "select serial, lot, verdict, reason_codes, part_id from inspections"):
    return query(f"sqlite:///{tmp_path / 'station' / 'inspector.db'}", sql)


@pytest.fixture
def mosquitto_available() -> None:
    import shutil

    from tests.conftest import skip_without

    if shutil.which("mosquitto") is None:
        skip_without("no mosquitto binary")
