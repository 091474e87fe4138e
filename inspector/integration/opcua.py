"""OPC UA server (asyncua) for the PLC: OPC 40100-1 (Machine Vision) where it fits, and a poll-friendly folder.

Objects (namespace ``urn:inspector:station``):

* ``VisionSystem`` - ``SystemState``, ``StateReason``; ``RecipeManagement`` (``SelectRecipe(RecipeId)``,
  ``ActiveRecipeId``, ``DeadlineMs``); ``ResultManagement`` (``TriggerPart(PartId, Serial, Lot)``, the last
  result, and a ``ResultReadyEventType`` event per verdict); ``Statistics`` (counts, cycle times,
  ``ResetStatistics()``). Errors (HOLD, a resync, a lost heartbeat) are ``BaseEventType`` events.
* ``PLC`` - plain variables for PLCs that only read and write: ``Trigger``, ``PartId``, ``Serial``, ``Lot``,
  ``Ready``, ``Busy``, ``ResultValid``, ``ResultPartId``, ``Pass``, ``Fail``, ``Heartbeat``, ``PlcHeartbeat``,
  ``RecipeId``. The README's node map describes the handshakes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from inspector.domain.frame import Part
from inspector.domain.line import LineState, PartVerdict
from inspector.integration.loop import LoopServer

log = logging.getLogger(__name__)
logging.getLogger("asyncua").setLevel(logging.ERROR)  # its notices about revised timeouts are not the operator's
NAMESPACE = "urn:inspector:station"
DEFAULT_ENDPOINT = "opc.tcp://127.0.0.1:4840/inspector/"
RESULT_FIELDS = (("PartId", "String"), ("Serial", "String"), ("Lot", "String"), ("Verdict", "String"),
                 ("Pass", "Boolean"), ("ReasonCodes", "String"), ("Score", "Double"), ("Uid", "String"),
                 ("AcquiredAt", "DateTime"), ("ReleasedAt", "DateTime"))


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class OpcUaLine(LoopServer):
    """The station's OPC UA server; ``publish`` and ``publish_state`` may be called from any thread."""

    name, protocol = "opcua", "OPC UA"
    start_timeout_s = 60.0

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, station: str = "station-1") -> None:
        super().__init__()
        self.endpoint = endpoint
        self.station = station
        self._nodes: dict[str, Any] = {}

    def where(self) -> str:
        return self.endpoint

    def serving(self) -> bool:
        return bool(self._nodes)

    # ---- the port ----------------------------------------------------------------------------------------------
    def publish(self, verdict: PartVerdict) -> None:
        if self._loop is not None:
            self._loop.run(self._publish(verdict))

    def publish_state(self, state: LineState, reason: str | None = None) -> None:
        self.state = state
        if self._loop is not None:
            self._loop.run(self._state(state, reason))

    async def _stop(self) -> None:
        self._ticker.cancel()
        await self._server.stop()

    # ---- the address space -------------------------------------------------------------------------------------
    async def _serve(self) -> None:
        from asyncua import Server, ua

        self._ua = ua
        server = self._server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name(f"Inspector {self.station}")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = self._idx = await server.register_namespace(NAMESPACE)
        objects = server.nodes.objects
        vision = await objects.add_object(idx, "VisionSystem")
        n = self._nodes
        n["SystemState"] = await vision.add_variable(idx, "SystemState", str(LineState.STOPPED))
        n["StateReason"] = await vision.add_variable(idx, "StateReason", "")
        recipes = await vision.add_object(idx, "RecipeManagement")
        n["ActiveRecipeId"] = await recipes.add_variable(idx, "ActiveRecipeId", 0, ua.VariantType.Int32)
        n["DeadlineMs"] = await recipes.add_variable(idx, "DeadlineMs", 0.0)
        await recipes.add_method(idx, "SelectRecipe", self._select_recipe, [ua.VariantType.Int32],
                                 [ua.VariantType.String])
        results = await vision.add_object(idx, "ResultManagement")
        await results.add_method(idx, "TriggerPart", self._trigger_part,
                                 [ua.VariantType.String, ua.VariantType.String, ua.VariantType.String],
                                 [ua.VariantType.Boolean])
        last = await results.add_object(idx, "LastResult")
        for field, kind in RESULT_FIELDS:
            default = {"String": "", "Boolean": False, "Double": 0.0, "DateTime": datetime.now(UTC)}[kind]
            n[f"Last{field}"] = await last.add_variable(idx, field, default, getattr(ua.VariantType, kind))
        event_type = await server.create_custom_event_type(
            idx, "ResultReadyEventType", ua.ObjectIds.BaseEventType,
            [(field, getattr(ua.VariantType, kind)) for field, kind in RESULT_FIELDS])
        self._result_events = await server.get_event_generator(event_type, results)
        self._error_events = await server.get_event_generator(ua.ObjectIds.BaseEventType, vision)
        stats = await vision.add_object(idx, "Statistics")
        for name in ("OkCount", "NgCount", "LateCount", "ErrorCount"):
            n[name] = await stats.add_variable(idx, name, 0, ua.VariantType.UInt32)
        for name in ("CycleTimeMinMs", "CycleTimeAvgMs", "CycleTimeMaxMs"):
            n[name] = await stats.add_variable(idx, name, 0.0)
        await stats.add_method(idx, "ResetStatistics", self._reset_statistics, [], [])

        plc = await objects.add_object(idx, "PLC")
        for name, value, kind, writable in (
                ("Trigger", False, ua.VariantType.Boolean, True), ("PartId", "", ua.VariantType.String, True),
                ("Serial", "", ua.VariantType.String, True), ("Lot", "", ua.VariantType.String, True),
                ("Ready", False, ua.VariantType.Boolean, False), ("Busy", False, ua.VariantType.Boolean, False),
                ("ResultValid", False, ua.VariantType.Boolean, True),
                ("ResultPartId", "", ua.VariantType.String, False), ("Pass", False, ua.VariantType.Boolean, False),
                ("Fail", False, ua.VariantType.Boolean, False), ("Heartbeat", 0, ua.VariantType.UInt32, False),
                ("PlcHeartbeat", 0, ua.VariantType.UInt32, True), ("RecipeId", 0, ua.VariantType.Int32, True)):
            node = await plc.add_variable(idx, name, value, kind)
            if writable:
                await node.set_writable()
            n[f"PLC.{name}"] = node
        server.set_attribute_value_setter(n["PLC.Trigger"].nodeid, self._on_trigger)
        server.set_attribute_value_setter(n["PLC.ResultValid"].nodeid, self._on_result_ack)
        server.set_attribute_value_setter(n["PLC.PlcHeartbeat"].nodeid, self._on_heartbeat)
        server.set_attribute_value_setter(n["PLC.RecipeId"].nodeid, self._on_recipe_id)
        await server.start()
        self._ticker = asyncio.ensure_future(self._tick())
        log.info("OPC UA server listening on %s", self.endpoint)

    def _value(self, name: str) -> Any:
        return self._server.read_attribute_value(self._nodes[name].nodeid).Value.Value

    def _store(self, node_data: Any, attr: Any, value: Any, kind: Any) -> None:
        ua = self._ua
        node_data.attributes[attr].value = ua.DataValue(ua.Variant(value, kind), SourceTimestamp=datetime.now(UTC),
                                                        ServerTimestamp=datetime.now(UTC))

    async def _write(self, name: str, value: Any, kind: Any = None) -> None:
        ua = self._ua
        variant = ua.Variant(value, kind) if kind is not None else ua.Variant(value)
        await self._server.write_attribute_value(self._nodes[name].nodeid, ua.DataValue(variant))

    # ---- what the PLC does -------------------------------------------------------------------------------------
    def _open(self, part_id: str, serial: str, lot: str) -> bool:
        part = Part(part_id or serial, serial or None, lot or None)
        return bool(part.id) and self.control.trigger(part)

    async def _trigger_part(self, parent: Any, part_id: Any, serial: Any, lot: Any) -> list:
        ok = self._open(*(getattr(v, "Value", v) or "" for v in (part_id, serial, lot)))
        return [self._ua.Variant(ok, self._ua.VariantType.Boolean)]

    def _on_trigger(self, node_data: Any, attr: Any, dv: Any) -> None:
        """Trigger written True: take the part named in PartId/Serial/Lot and clear Trigger (the acknowledgment);
        a station that is not ready leaves it set."""
        raised = bool(dv.Value.Value)
        taken = raised and self._open(self._value("PLC.PartId"), self._value("PLC.Serial"), self._value("PLC.Lot"))
        self._store(node_data, attr, raised and not taken, self._ua.VariantType.Boolean)

    def _on_result_ack(self, node_data: Any, attr: Any, dv: Any) -> None:
        """ResultValid written False by the PLC: it has the shown result; show the next."""
        self._store(node_data, attr, bool(dv.Value.Value), self._ua.VariantType.Boolean)
        if not dv.Value.Value:
            following = self.results.acknowledge()
            if following is not None:
                asyncio.ensure_future(self._show(following))

    def _on_heartbeat(self, node_data: Any, attr: Any, dv: Any) -> None:
        self._store(node_data, attr, dv.Value.Value, self._ua.VariantType.UInt32)
        self._plc_heartbeat_at = time.monotonic()
        self.control.heartbeat()

    def _on_recipe_id(self, node_data: Any, attr: Any, dv: Any) -> None:
        self._store(node_data, attr, dv.Value.Value, self._ua.VariantType.Int32)
        asyncio.ensure_future(self._select_recipe(None, int(dv.Value.Value)))

    async def _select_recipe(self, parent: Any, recipe_id: Any) -> list:
        loop = asyncio.get_running_loop()
        error = await loop.run_in_executor(None, self.control.select_recipe, int(getattr(recipe_id, "Value",
                                                                                         recipe_id)))
        if error:
            await self._error(f"recipe {recipe_id} not selected: {error}")
        return [self._ua.Variant(error, self._ua.VariantType.String)]

    async def _reset_statistics(self, parent: Any) -> list:
        self.control.reset_statistics()
        return []

    # ---- what the station says ---------------------------------------------------------------------------------
    async def _publish(self, verdict: PartVerdict) -> None:
        if verdict.part is None:
            return  # a frame no part was waiting for: there is nobody on the line to tell
        ev = self._result_events.event
        values = self._result_values(verdict)
        for field, value in values.items():
            setattr(ev, field, value)
            await self._write(f"Last{field}", value, getattr(self._ua.VariantType, dict(RESULT_FIELDS)[field]))
        await self._result_events.trigger(message=f"{verdict.verdict} {verdict.part.id}")
        self.sent += 1
        if self.results.push(verdict):
            await self._show(verdict)

    @staticmethod
    def _result_values(verdict: PartVerdict) -> dict[str, Any]:
        part = verdict.part
        return {"PartId": part.id if part else "", "Serial": (part and part.serial) or "",
                "Lot": (part and part.lot) or "", "Verdict": str(verdict.verdict), "Pass": verdict.passed,
                "ReasonCodes": ",".join(verdict.reason_codes),
                "Score": float(verdict.score) if verdict.score is not None else float("nan"),
                "Uid": verdict.uid, "AcquiredAt": _when(verdict.acquired_at), "ReleasedAt": _when(verdict.released_at)}

    async def _show(self, verdict: PartVerdict) -> None:
        ua = self._ua
        await self._write("PLC.ResultPartId", verdict.part.id if verdict.part else "", ua.VariantType.String)
        await self._write("PLC.Pass", verdict.passed, ua.VariantType.Boolean)
        await self._write("PLC.Fail", not verdict.passed, ua.VariantType.Boolean)
        await self._write("PLC.ResultValid", True, ua.VariantType.Boolean)

    async def _state(self, state: LineState, reason: str | None) -> None:
        ua = self._ua
        await self._write("SystemState", str(state), ua.VariantType.String)
        await self._write("StateReason", reason or "", ua.VariantType.String)
        await self._write("DeadlineMs", float(self.control.deadline_ms()), ua.VariantType.Double)
        await self._write("PLC.Ready", state in (LineState.READY, LineState.BUSY), ua.VariantType.Boolean)
        await self._write("PLC.Busy", state is LineState.BUSY, ua.VariantType.Boolean)
        await self._write("ActiveRecipeId", int(self.control.recipe_id()), ua.VariantType.Int32)
        if state is LineState.HOLDING:
            await self._error(f"station not ready: {reason or 'holding'}")

    async def _error(self, text: str) -> None:
        self._error_events.event.Severity = 800
        await self._error_events.trigger(message=text)

    async def _tick(self) -> None:
        """Once a second: the station's heartbeat, the statistics, the active recipe."""
        ua = self._ua
        beat = 0
        while True:
            beat = (beat + 1) % 2**32
            try:
                await self._write("PLC.Heartbeat", beat, ua.VariantType.UInt32)
                stats = self.control.statistics()
                for name, value in (("OkCount", stats.ok), ("NgCount", stats.ng), ("LateCount", stats.late),
                                    ("ErrorCount", stats.errors)):
                    await self._write(name, value, ua.VariantType.UInt32)
                for name, value in (("CycleTimeMinMs", stats.cycle_min_ms), ("CycleTimeAvgMs", stats.cycle_avg_ms),
                                    ("CycleTimeMaxMs", stats.cycle_max_ms)):
                    await self._write(name, float(value or 0.0), ua.VariantType.Double)
                await self._write("ActiveRecipeId", int(self.control.recipe_id()), ua.VariantType.Int32)
                await self._write("DeadlineMs", float(self.control.deadline_ms()), ua.VariantType.Double)
                self.error = None
            except Exception as exc:  # noqa: BLE001 - the server keeps serving; the light says why
                self.error = f"OPC UA: {exc}"
                log.warning("OPC UA tick failed: %s", exc)
            await asyncio.sleep(1.0)
