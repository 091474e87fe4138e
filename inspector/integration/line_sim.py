"""A PLC simulator on the client side of the same libraries: triggers parts, waits for each verdict, counts.

OPC UA: ``TriggerPart(PartId, Serial, Lot)`` per part and one ``ResultReadyEventType`` event per verdict.
Modbus: the serial into HR 0-1 and the lot into HR 2, the Trigger coil set (and waited for until the station
clears it), results read off the map while ResultValid is set, and acknowledged by clearing it.
Both send a heartbeat every second. A verdict later than the recipe's deadline (from the trigger) is late.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlparse

import numpy as np

from inspector.integration.modbus import COILS, DEFAULT_HOST, DEFAULT_PORT, HR
from inspector.integration.opcua import DEFAULT_ENDPOINT, NAMESPACE

log = logging.getLogger(__name__)
logging.getLogger("asyncua").setLevel(logging.ERROR)
PROTOCOLS = ("opcua", "modbus")


@dataclass
class SimResult:
    parts: int = 0
    triggered: dict[str, float] = field(default_factory=dict)  # part id -> monotonic trigger time
    verdicts: dict[str, tuple[bool, float]] = field(default_factory=dict)  # part id -> (pass, latency ms)
    duplicates: int = 0
    refused: int = 0
    deadline_ms: float = 0.0
    lost_connection: str | None = None  # the station went away mid-run (what it had answered is kept)

    @property
    def late(self) -> int:
        return sum(latency > self.deadline_ms for _, latency in self.verdicts.values()) if self.deadline_ms else 0

    def summary(self) -> str:
        latencies = np.array([latency for _, latency in self.verdicts.values()] or [np.nan])
        passed = sum(ok for ok, _ in self.verdicts.values())
        p50, p99 = np.nanpercentile(latencies, 50), np.nanpercentile(latencies, 99)
        return (f"parts={self.parts} verdicts={len(self.verdicts)} pass={passed} reject={len(self.verdicts) - passed}"
                f" missing={self.parts - len(self.verdicts)} late={self.late} p50_ms={p50:.1f} p99_ms={p99:.1f}")

    def record(self, part_id: str, passed: bool) -> None:
        started = self.triggered.get(part_id)
        if started is None:
            return
        if part_id in self.verdicts:
            self.duplicates += 1
            return
        self.verdicts[part_id] = (passed, (time.monotonic() - started) * 1000)


def lot_number(lot: str | None) -> int:
    return zlib.crc32(lot.encode()) % 1000 if lot else 0


def serial_of(n: int, lot: str | None) -> str:
    """Serials the simulator gives its parts: the lot's number, then the part's."""
    return f"{lot_number(lot):03d}{n:06d}"


async def _heartbeat(beat: Callable[[int], object], stop: asyncio.Event) -> None:
    n = 0
    while not stop.is_set():
        n = (n + 1) % 0x10000
        await beat(n)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


READY_TIMEOUT_S = 120.0  # a PLC triggers only once the station says it is ready


async def _until_ready(ready: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not await ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: the station did not become ready in {READY_TIMEOUT_S:.0f} s")
        await asyncio.sleep(0.1)


async def _wait_for_answers(result: SimResult, grace_s: float) -> None:
    deadline = time.monotonic() + grace_s
    while len(result.verdicts) < len(result.triggered) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


async def run_opcua(endpoint: str, parts: int, rate: float, lot: str | None, grace_s: float,
                    stop: threading.Event | None, result: SimResult) -> SimResult:
    from asyncua import Client, ua

    async with Client(endpoint, timeout=10) as client:
        idx = await client.get_namespace_index(NAMESPACE)
        vision = await client.nodes.objects.get_child([f"{idx}:VisionSystem"])
        results = await vision.get_child([f"{idx}:ResultManagement"])
        deadline = await vision.get_child([f"{idx}:RecipeManagement", f"{idx}:DeadlineMs"])
        plc_beat = await client.nodes.objects.get_child([f"{idx}:PLC", f"{idx}:PlcHeartbeat"])
        ready = await client.nodes.objects.get_child([f"{idx}:PLC", f"{idx}:Ready"])
        event_type = await client.nodes.root.get_child(["0:Types", "0:EventTypes", "0:BaseEventType",
                                                        f"{idx}:ResultReadyEventType"])

        class Handler:
            def event_notification(self, event) -> None:
                result.record(event.PartId, bool(event.Pass))

        subscription = await client.create_subscription(20, Handler())
        await subscription.subscribe_events(results, event_type, queuesize=100_000)
        stop_beat = asyncio.Event()
        beating = asyncio.ensure_future(_heartbeat(lambda n: plc_beat.write_value(ua.Variant(n, ua.VariantType.UInt32)),
                                                   stop_beat))
        await _until_ready(ready.read_value, endpoint)
        result.deadline_ms = float(await deadline.read_value())
        start = time.monotonic()
        for n in range(parts):
            if stop is not None and stop.is_set():
                break
            await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
            serial = serial_of(n, lot)
            part_id = f"{lot or 'P'}-{n:06d}"
            result.triggered[part_id] = time.monotonic()
            result.parts += 1
            accepted = await results.call_method(f"{idx}:TriggerPart", part_id, serial, lot or "")
            if not accepted:
                result.refused += 1
        await _wait_for_answers(result, grace_s)
        stop_beat.set()
        await beating
        await subscription.delete()
    return result


async def run_modbus(host: str, port: int, parts: int, rate: float, lot: str | None, grace_s: float,
                     stop: threading.Event | None, result: SimResult) -> SimResult:
    from pymodbus.client import AsyncModbusTcpClient

    client = AsyncModbusTcpClient(host, port=port, timeout=3)
    if not await client.connect():
        raise ConnectionError(f"no Modbus server on {host}:{port}")
    lock = asyncio.Lock()
    by_serial: dict[int, str] = {}
    stop_tasks = asyncio.Event()

    async def poll_results() -> None:
        while not stop_tasks.is_set():
            async with lock:
                valid = (await client.read_coils(COILS["result_valid"], count=3)).bits
                if valid[0]:
                    words = (await client.read_holding_registers(HR["result_serial"], count=2)).registers
                    serial = (words[0] << 16) | words[1]
                    result.record(by_serial.get(serial, str(serial)), bool(valid[1]))
                    await client.write_coil(COILS["result_valid"], False)
                    continue
            await asyncio.sleep(0.005)

    async def beat(n: int) -> None:
        async with lock:
            await client.write_register(HR["plc_heartbeat"], n)

    async def is_ready() -> bool:
        async with lock:
            return bool((await client.read_coils(COILS["ready"], count=1)).bits[0])

    poller = asyncio.ensure_future(poll_results())
    beating = asyncio.ensure_future(_heartbeat(beat, stop_tasks))
    await _until_ready(is_ready, f"{host}:{port}")
    async with lock:
        result.deadline_ms = float((await client.read_holding_registers(HR["deadline"], count=1)).registers[0])
    start = time.monotonic()
    for n in range(parts):
        if stop is not None and stop.is_set():
            break
        await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
        serial = int(serial_of(n, lot))
        by_serial[serial] = str(serial)
        async with lock:
            await client.write_registers(HR["serial"], [serial >> 16, serial & 0xFFFF, lot_number(lot)])
            result.triggered[str(serial)] = time.monotonic()
            result.parts += 1
            await client.write_coil(COILS["trigger"], True)
        waited = time.monotonic()
        while True:  # the station clears Trigger when it took the part
            async with lock:
                if not (await client.read_coils(COILS["trigger"], count=1)).bits[0]:
                    break
            if time.monotonic() - waited > 2.0:
                result.refused += 1
                async with lock:
                    await client.write_coil(COILS["trigger"], False)
                break
            await asyncio.sleep(0.002)
    await _wait_for_answers(result, grace_s)
    stop_tasks.set()
    await asyncio.gather(poller, beating)
    client.close()
    return result


def simulate(protocol: str, parts: int, rate: float, lot: str | None = None, endpoint: str | None = None,
             grace_s: float = 10.0, stop: threading.Event | None = None) -> SimResult:
    """Run the simulated PLC to the end; ``endpoint`` is an opc.tcp URL or host:port for Modbus.

    A station that goes away mid-run ends the run early; the result keeps what was answered before
    (``lost_connection`` says so). A station that is not there at all raises ``ConnectionError``.
    """
    result = SimResult()
    if protocol == "opcua":
        run = run_opcua(endpoint or DEFAULT_ENDPOINT, parts, rate, lot, grace_s, stop, result)
    elif protocol == "modbus":
        parsed = urlparse(endpoint if endpoint and "//" in endpoint else f"modbus://{endpoint or ''}")
        run = run_modbus(parsed.hostname or DEFAULT_HOST, parsed.port or DEFAULT_PORT, parts, rate, lot, grace_s,
                         stop, result)
    else:
        raise ValueError(f"protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    try:
        asyncio.run(run)
    except Exception as exc:  # also asyncua's and pymodbus' own errors when the peer vanishes
        if not result.parts:
            raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc
        result.lost_connection = f"{type(exc).__name__}: {exc}"
    return result
