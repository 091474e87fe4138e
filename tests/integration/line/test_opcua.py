"""The station's OPC UA server with a real asyncua client: the method and event, the poll handshake, heartbeat,
statistics and recipe selection by id (mid-run)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import yaml
from asyncua import Client, ua

from inspector.integration.opcua import NAMESPACE
from inspector.station.runtime import StationRuntime

from .conftest import line_station, rows

pytestmark = pytest.mark.slow


@pytest.fixture
def station(tmp_path: Path, tiny_bundle: Path):
    config, line = line_station(tmp_path, tiny_bundle)
    runtime = StationRuntime(config, "sim", ("opcua",))
    runtime.start()
    yield runtime, line, tmp_path
    runtime.close()


async def _nodes(client: Client) -> dict:
    idx = await client.get_namespace_index(NAMESPACE)
    objects = client.nodes.objects
    found = {}
    for name in ("Trigger", "PartId", "Serial", "Lot", "Ready", "Busy", "ResultValid", "ResultPartId", "Pass", "Fail",
                 "Heartbeat", "PlcHeartbeat", "RecipeId"):
        found[name] = await objects.get_child([f"{idx}:PLC", f"{idx}:{name}"])
    vision = await objects.get_child([f"{idx}:VisionSystem"])
    found["vision"], found["idx"] = vision, idx
    for path in (("RecipeManagement", "ActiveRecipeId"), ("Statistics", "OkCount"), ("Statistics", "NgCount"),
                 ("Statistics", "CycleTimeMaxMs"), ("SystemState",)):
        found[path[-1]] = await vision.get_child([f"{idx}:{p}" for p in path])
    found["results"] = await vision.get_child([f"{idx}:ResultManagement"])
    found["stats"] = await vision.get_child([f"{idx}:Statistics"])
    found["recipes"] = await vision.get_child([f"{idx}:RecipeManagement"])
    return found


async def _until(check, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_poll_friendly_handshake_one_verdict_per_part(station) -> None:
    runtime, line, tmp_path = station

    async def plc() -> list[tuple[str, bool, bool]]:
        async with Client(line["opcua"]) as client:
            n = await _nodes(client)
            await _until(n["Ready"].read_value)
            for k in range(3):  # three parts back to back, before reading any result
                await n["PartId"].write_value(f"poll-{k}")
                await n["Serial"].write_value(f"S{k}")
                await n["Lot"].write_value("LOT-P")
                await n["Trigger"].write_value(True)
                await _until(lambda: _not(n["Trigger"]))  # cleared: the station took the part
            seen = []
            for _ in range(3):  # the results come one at a time, each until acknowledged
                await _until(n["ResultValid"].read_value)
                seen.append((await n["ResultPartId"].read_value(), await n["Pass"].read_value(),
                             await n["Fail"].read_value()))
                await n["ResultValid"].write_value(False)
            await asyncio.sleep(0.3)
            assert await n["ResultValid"].read_value() is False  # nothing more to show
            return seen

    seen = asyncio.run(plc())
    assert [part for part, _, _ in seen] == ["poll-0", "poll-1", "poll-2"]
    assert all(passed != failed for _, passed, failed in seen)
    logged = {r[4]: r for r in rows(tmp_path)}
    assert set(logged) >= {"poll-0", "poll-1", "poll-2"} and logged["poll-1"][:2] == ("S1", "LOT-P")


async def _not(node) -> bool:
    return not await node.read_value()


def test_events_statistics_heartbeat_and_state(station) -> None:
    runtime, line, _ = station

    async def plc() -> tuple[list, dict]:
        events = []

        class Handler:
            def event_notification(self, event) -> None:
                events.append(event)

        async with Client(line["opcua"]) as client:
            n = await _nodes(client)
            await _until(n["Ready"].read_value)
            etype = await client.nodes.root.get_child(["0:Types", "0:EventTypes", "0:BaseEventType",
                                                       f"{n['idx']}:ResultReadyEventType"])
            sub = await client.create_subscription(20, Handler())
            await sub.subscribe_events(n["results"], etype)
            await n["stats"].call_method(f"{n['idx']}:ResetStatistics")
            beat = await n["Heartbeat"].read_value()
            for k in range(4):
                ok = await n["results"].call_method(f"{n['idx']}:TriggerPart", f"ev-{k}", f"E{k}", "")
                assert ok is True
            await n["PlcHeartbeat"].write_value(ua.Variant(1, ua.VariantType.UInt32))
            await _until(lambda: _count(events, 4))
            await asyncio.sleep(1.2)  # one statistics tick
            stats = {"ok": await n["OkCount"].read_value(), "ng": await n["NgCount"].read_value(),
                     "cycle_max": await n["CycleTimeMaxMs"].read_value(),
                     "beating": await n["Heartbeat"].read_value() > beat}
            await asyncio.sleep(2.5)  # past heartbeat_timeout_s (2 s) with no PLC heartbeat
            stats["state"] = await n["SystemState"].read_value()
            stats["ready"] = await n["Ready"].read_value()
            await n["PlcHeartbeat"].write_value(ua.Variant(2, ua.VariantType.UInt32))
            await _until(n["Ready"].read_value)
            return events, stats

    events, stats = asyncio.run(plc())
    assert [e.PartId for e in events] == [f"ev-{k}" for k in range(4)]
    assert all(e.Verdict in ("PASS", "FAIL") and e.Pass == (e.Verdict == "PASS") and len(e.Uid) == 32 for e in events)
    assert stats["ok"] + stats["ng"] == 4 and stats["cycle_max"] > 0 and stats["beating"]
    assert stats["state"] == "holding" and stats["ready"] is False  # heartbeat lost: not ready
    assert any("PLC heartbeat lost" in text for _, text in runtime.link.recent)


async def _count(items: list, n: int) -> bool:
    return len(items) >= n


def test_a_recipe_selected_by_id_mid_run_applies_to_parts_triggered_after_it(station, tiny_bundle: Path) -> None:
    runtime, line, tmp_path = station
    second = yaml.safe_load((tmp_path / "recipe.yaml").read_text())
    second.update({"name": "tiny-washer-strict", "id": 7, "version": 9})
    (tmp_path / "strict.yaml").write_text(yaml.safe_dump(second))
    runtime.link.recipes[7] = tmp_path / "strict.yaml"

    async def plc() -> str:
        async with Client(line["opcua"]) as client:
            n = await _nodes(client)
            await _until(n["Ready"].read_value)
            call = n["results"].call_method
            for k in range(3):
                await call(f"{n['idx']}:TriggerPart", f"before-{k}", f"B{k}", "")
            error = await n["recipes"].call_method(f"{n['idx']}:SelectRecipe", ua.Variant(7, ua.VariantType.Int32))
            for k in range(3):
                await call(f"{n['idx']}:TriggerPart", f"after-{k}", f"A{k}", "")
            await _until(lambda: _active(n, 7))
            bad = await n["recipes"].call_method(f"{n['idx']}:SelectRecipe", ua.Variant(99, ua.VariantType.Int32))
            return error, bad

    error, bad = asyncio.run(plc())
    assert error == "" and "no recipe has id 99" in bad
    deadline = time.monotonic() + 30
    while len(rows(tmp_path)) < 6 and time.monotonic() < deadline:
        time.sleep(0.1)
    recipes = dict(rows(tmp_path, "select i.part_id, r.name from inspections i join recipes r on r.id = i.recipe_id"))
    assert {recipes[f"before-{k}"] for k in range(3)} == {"tiny-washer"}  # in flight: the recipe they had
    assert {recipes[f"after-{k}"] for k in range(3)} == {"tiny-washer-strict"}


async def _active(n: dict, recipe_id: int) -> bool:
    return await n["ActiveRecipeId"].read_value() == recipe_id


