"""Modbus TCP server (pymodbus) for the PLC, with the register map below (zero-based addresses, unit id any).

Coils: 0 Trigger (PLC sets it with the serial in HR 0-1; the station clears it when it took the part),
1 Ready, 2 ResultValid (the PLC clears it to acknowledge; the station then shows the next result), 3 Pass,
4 Fail, 5 Busy, 6 Holding, 7 ResetStatistics (PLC sets it; the station resets and clears it).

Holding registers (16-bit; 32-bit values high word first): 0-1 part serial (PLC), 2 lot (PLC), 3 recipe id to
select (PLC), 4 active recipe id, 5 PLC heartbeat (PLC counts up), 6 station heartbeat (counts each second),
7-8 result serial, 9 result reason (0 pass, 1 score, 2 region, 3 reject class, 4 late, 5 model error, 6 no
result, 7 non-finite, 8 not inspected, 9 hold), 10 result score x 1000, 11-12 OK count, 13-14 NG count, 15-16
late count, 17-18 error count, 19-21 cycle time min/avg/max in ms, 22 deadline in ms, 23 station state
(0 stopped, 1 ready, 2 busy, 3 holding).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from inspector.domain.frame import Part
from inspector.domain.line import LineState, PartVerdict
from inspector.integration.handshake import reason_number
from inspector.integration.loop import LoopServer

log = logging.getLogger(__name__)
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 5020
COILS = {"trigger": 0, "ready": 1, "result_valid": 2, "pass": 3, "fail": 4, "busy": 5, "holding": 6, "reset": 7}
HR = {"serial": 0, "lot": 2, "recipe_select": 3, "recipe_active": 4, "plc_heartbeat": 5, "heartbeat": 6,
      "result_serial": 7, "result_reason": 9, "result_score": 10, "ok": 11, "ng": 13, "late": 15, "errors": 17,
      "cycle_min": 19, "cycle_avg": 20, "cycle_max": 21, "deadline": 22, "state": 23}
N_COILS, N_REGISTERS = 16, 32
STATE_NUMBERS = {LineState.STOPPED: 0, LineState.READY: 1, LineState.BUSY: 2, LineState.HOLDING: 3}
READ_COILS, WRITE_COIL, WRITE_COILS = 1, 5, 15
READ_HR, WRITE_HR, WRITE_HRS = 3, 6, 16


def _u16(value: float) -> int:
    return max(0, min(0xFFFF, int(round(value))))


def _split32(value: int) -> tuple[int, int]:
    value = max(0, min(0xFFFFFFFF, int(value)))
    return value >> 16, value & 0xFFFF


class ModbusLine(LoopServer):
    """The station's Modbus TCP server; its own state is the register map, served through pymodbus' action hook."""

    name, protocol = "modbus", "Modbus"

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
        super().__init__()
        self.host, self.port = host, port
        self.coils = [0] * N_COILS
        self.registers = [0] * N_REGISTERS
        self._lock = threading.Lock()
        self._server: Any = None

    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def serving(self) -> bool:
        return self._server is not None

    # ---- the port ----------------------------------------------------------------------------------------------
    def publish(self, verdict: PartVerdict) -> None:
        if verdict.part is None:
            return
        self.sent += 1
        if self.results.push(verdict):
            self._show(verdict)

    def publish_state(self, state: LineState, reason: str | None = None) -> None:
        self.state = state
        with self._lock:
            self.coils[COILS["ready"]] = int(state in (LineState.READY, LineState.BUSY))
            self.coils[COILS["busy"]] = int(state is LineState.BUSY)
            self.coils[COILS["holding"]] = int(state is LineState.HOLDING)
            self.registers[HR["state"]] = STATE_NUMBERS[state]
            self.registers[HR["deadline"]] = _u16(self.control.deadline_ms())
            self.registers[HR["recipe_active"]] = _u16(self.control.recipe_id())

    # ---- the register map --------------------------------------------------------------------------------------
    async def _serve(self) -> None:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        bits = [SimData(0, count=N_COILS, values=False, datatype=DataType.BITS)]
        words = [SimData(0, count=N_REGISTERS, values=0, datatype=DataType.REGISTERS)]
        device = SimDevice(id=0, simdata=(bits, bits, words, words), action=self._action)
        self._server = ModbusTcpServer(context=device, address=(self.host, self.port))
        self._serving = asyncio.ensure_future(self._server.serve_forever())
        for _ in range(100):  # listening once the transport is up
            if self._server.transport is not None:
                break
            if self._serving.done():
                self._serving.result()
            await asyncio.sleep(0.02)
        self._ticker = asyncio.ensure_future(self._tick())
        log.info("Modbus TCP server listening on %s:%d", self.host, self.port)

    async def _stop(self) -> None:
        self._ticker.cancel()
        await self._server.shutdown()

    async def _action(self, function_code: int, start_address: int, address: int, count: int,
                      current_registers: list[int], set_values: list | None) -> None:
        """Every request: reads see the station's map, writes go into it (and may trigger a part).

        pymodbus hands bits packed 16 to a register (LSB first) and their writes by bit address.
        """
        bits = function_code in (READ_COILS, WRITE_COIL, WRITE_COILS)
        changed: list[tuple[int, int, int]] = []
        with self._lock:
            table = self.coils if bits else self.registers
            if set_values is not None:
                for offset, value in enumerate(set_values):
                    index = address + offset
                    if 0 <= index < len(table) and table[index] != int(value):
                        changed.append((index, table[index], int(value)))
                        table[index] = int(value)
            for i in range(len(current_registers)):
                if bits:
                    word = self.coils[16 * (start_address + i):16 * (start_address + i + 1)]
                    current_registers[i] = sum(bit << b for b, bit in enumerate(word))
                elif 0 <= start_address + i < len(table):
                    current_registers[i] = table[start_address + i]
        for index, old, new in changed:
            self._written(bits, index, old, new)

    def _written(self, coil: bool, index: int, old: int, new: int) -> None:
        if coil and index == COILS["trigger"] and new and not old:
            with self._lock:
                high, low, lot = (self.registers[HR["serial"]], self.registers[HR["serial"] + 1],
                                  self.registers[HR["lot"]])
            serial = str((high << 16) | low)
            taken = self.control.trigger(Part(serial, serial, str(lot) if lot else None))
            if taken:
                with self._lock:
                    self.coils[COILS["trigger"]] = 0
        elif coil and index == COILS["result_valid"] and old and not new:
            following = self.results.acknowledge()
            if following is not None:
                self._show(following)
        elif coil and index == COILS["reset"] and new:
            self.control.reset_statistics()
            with self._lock:
                self.coils[COILS["reset"]] = 0
        elif not coil and index == HR["plc_heartbeat"]:
            self._plc_heartbeat_at = time.monotonic()
            self.control.heartbeat()
        elif not coil and index == HR["recipe_select"]:
            threading.Thread(target=self._select, args=(new,), daemon=True).start()

    def _select(self, recipe_id: int) -> None:
        error = self.control.select_recipe(recipe_id)
        if error:
            log.warning("Modbus: recipe %d not selected: %s", recipe_id, error)

    def _show(self, verdict: PartVerdict) -> None:
        serial = verdict.part.serial if verdict.part and verdict.part.serial else (verdict.part.id if verdict.part
                                                                                   else "0")
        number = int(serial) if serial.isdigit() else 0
        with self._lock:
            self.registers[HR["result_serial"]:HR["result_serial"] + 2] = _split32(number)
            self.registers[HR["result_reason"]] = reason_number(verdict)
            self.registers[HR["result_score"]] = _u16((verdict.score or 0.0) * 1000)
            self.coils[COILS["pass"]] = int(verdict.passed)
            self.coils[COILS["fail"]] = int(not verdict.passed)
            self.coils[COILS["result_valid"]] = 1

    async def _tick(self) -> None:
        beat = 0
        while True:
            beat = (beat + 1) % 0x10000
            stats = self.control.statistics()
            with self._lock:
                self.registers[HR["heartbeat"]] = beat
                for key, value in (("ok", stats.ok), ("ng", stats.ng), ("late", stats.late),
                                   ("errors", stats.errors)):
                    self.registers[HR[key]:HR[key] + 2] = _split32(value)
                for key, value in (("cycle_min", stats.cycle_min_ms), ("cycle_avg", stats.cycle_avg_ms),
                                   ("cycle_max", stats.cycle_max_ms)):
                    self.registers[HR[key]] = _u16(value or 0)
                self.registers[HR["deadline"]] = _u16(self.control.deadline_ms())
                self.registers[HR["recipe_active"]] = _u16(self.control.recipe_id())
            await asyncio.sleep(1.0)
