"""The station's Modbus TCP server with a real pymodbus client on its register map."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient

from inspector.integration.modbus import COILS, HR
from inspector.station.runtime import StationRuntime

from .conftest import line_station, rows

pytestmark = pytest.mark.slow


def test_register_map_trigger_result_acknowledge_counters_heartbeat(tmp_path: Path, tiny_bundle: Path) -> None:
    config, line = line_station(tmp_path, tiny_bundle)
    runtime = StationRuntime(config, "sim", ("modbus",))
    runtime.start()

    async def plc() -> dict:
        client = AsyncModbusTcpClient("127.0.0.1", port=line["modbus_port"])
        assert await client.connect()
        coil = lambda name: client.read_coils(COILS[name], count=1)  # noqa: E731
        deadline = time.monotonic() + 30
        while not (await coil("ready")).bits[0]:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        got = {}
        await client.write_coil(COILS["reset"], True)
        for serial in (70001, 70002):
            await client.write_registers(HR["serial"], [serial >> 16, serial & 0xFFFF, 12])
            await client.write_coil(COILS["trigger"], True)
            while (await coil("trigger")).bits[0]:  # the station clears it when it took the part
                await asyncio.sleep(0.01)
        await client.write_register(HR["plc_heartbeat"], 1)
        results = []
        while len(results) < 2:
            if (await coil("result_valid")).bits[0]:
                words = (await client.read_holding_registers(HR["result_serial"], count=4)).registers
                flags = (await client.read_coils(COILS["pass"], count=2)).bits[:2]
                results.append(((words[0] << 16) | words[1], words[2], flags))
                await client.write_coil(COILS["result_valid"], False)
            await asyncio.sleep(0.01)
        await asyncio.sleep(1.2)  # a tick: counters and the station's heartbeat
        regs = (await client.read_holding_registers(0, count=24)).registers
        got.update(results=results, regs=regs, reset=(await coil("reset")).bits[0])
        client.close()
        return got

    try:
        got = asyncio.run(plc())
    finally:
        runtime.close()
    assert [serial for serial, _, _ in got["results"]] == [70001, 70002]
    assert all(flags[0] != flags[1] and (reason == 0) == flags[0] for _, reason, flags in got["results"])
    regs = got["regs"]
    ok, ng = (regs[HR["ok"]] << 16) | regs[HR["ok"] + 1], (regs[HR["ng"]] << 16) | regs[HR["ng"] + 1]
    assert ok + ng == 2 and regs[HR["heartbeat"]] > 0 and regs[HR["deadline"]] == 10_000 and not got["reset"]
    assert regs[HR["recipe_active"]] == 1 and regs[HR["state"]] in (1, 2)
    logged = rows(tmp_path)
    assert {(r[0], r[1]) for r in logged} == {("70001", "12"), ("70002", "12")}
