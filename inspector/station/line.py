"""The station's side of the line: its adapters, the part FIFO, the statistics the PLC reads, heartbeat and state.

:class:`LineLink` belongs to the runtime. It gives the adapters a :class:`LineControl` (trigger a part, select a
recipe by id, heartbeat, statistics), hands each released verdict to every adapter, and tells them what the line
should see: ready, busy, holding (not ready) or stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from inspector.config import TRIGGERING, ConfigError, StationConfig, load_recipe
from inspector.domain.frame import Part
from inspector.domain.inspection import Inspection, ReasonCode
from inspector.domain.line import LineControl, LineIO, LineIOStatus, LineState, LineStatistics, PartVerdict
from inspector.station.errors import StartupError
from inspector.station.factory import load_models, make_line_io
from inspector.station.parts import PartTracker

if TYPE_CHECKING:
    from inspector.station.loop import Station

log = logging.getLogger(__name__)
ALARM_S = 15.0  # how long a line alarm (a resync) stays on the window after it happened


class LineUnavailable(StartupError):
    prefix = "line I/O"
    alarm_prefix = "Line I/O not available"


class _Statistics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.ok = self.ng = self.late = self.errors = 0
            self.cycles: list[float] = []
            self.cycle_min = self.cycle_max = None
            self.cycle_sum, self.cycle_n = 0.0, 0

    def count(self, verdict: PartVerdict, cycle_ms: float | None) -> None:
        with self._lock:
            self.ok += int(verdict.passed)
            self.ng += int(not verdict.passed)
            self.late += int(str(ReasonCode.LATE) in verdict.reason_codes)
            self.errors += int(any(c in verdict.reason_codes for c in (ReasonCode.MODEL_ERROR, ReasonCode.NO_RESULT,
                                                                          ReasonCode.NON_FINITE, ReasonCode.HOLD)))
            if cycle_ms is not None:
                self.cycle_min = cycle_ms if self.cycle_min is None else min(self.cycle_min, cycle_ms)
                self.cycle_max = cycle_ms if self.cycle_max is None else max(self.cycle_max, cycle_ms)
                self.cycle_sum += cycle_ms
                self.cycle_n += 1

    def snapshot(self) -> LineStatistics:
        with self._lock:
            avg = self.cycle_sum / self.cycle_n if self.cycle_n else None
            return LineStatistics(self.ok, self.ng, self.late, self.errors, self.cycle_min, avg, self.cycle_max)


class LineLink:
    """The adapters and everything they share; ``station()`` gives the running station or None."""

    def __init__(self, names: Sequence[str], station: Callable[[], Station | None],
                 select_recipe: Callable[[Path], str]) -> None:
        self.names = tuple(dict.fromkeys(names))
        self._station, self._select = station, select_recipe
        self.adapters: list[LineIO] = []
        self.statistics = _Statistics()
        self.tracker: PartTracker | None = None
        self.state = LineState.STOPPED
        self.reason: str | None = None
        self.heartbeat_timeout_s = 5.0
        self.heartbeat_at: float | None = None
        self.refused = 0  # triggers the station could not take (not ready)
        self.recipes: dict[int, Path] = {}
        self.recent: deque[tuple[float, str]] = deque(maxlen=50)  # (monotonic time, text) of line alarms
        self.control = LineControl(trigger=self._trigger, select_recipe=self._select_by_id,
                                   heartbeat=self._heartbeat, statistics=self.statistics.snapshot,
                                   reset_statistics=self.statistics.reset, deadline_ms=self._deadline,
                                   recipe_id=self._recipe_id, alarm=self.alarm)

    @property
    def triggered(self) -> bool:
        """A PLC triggers the parts (OPC UA or Modbus): frames are matched to them."""
        return any(name in TRIGGERING for name in self.names)

    def start(self, config: StationConfig) -> None:
        """The adapters, once (they outlive rebuilds of the station); a start failure is one line."""
        self.heartbeat_timeout_s = config.line.heartbeat_timeout_s
        self.recipes = recipe_ids(Path(config.recipe).parent)
        if self.triggered and self.tracker is None:
            self.tracker = PartTracker(config.line.frame_timeout_ms / 1000, on_resync=self.alarm,
                                       frame_latency_s=config.line.frame_latency_ms / 1000)
        if self.adapters or not self.names:
            return
        started: list[LineIO] = []
        for name in self.names:
            adapter = make_line_io(name, config)
            try:
                adapter.start(self.control)
            except Exception as exc:
                for other in started:
                    other.close()
                raise LineUnavailable(f"{name}: {exc}") from exc
            started.append(adapter)
        self.adapters = started

    def publish(self, inspection: Inspection) -> None:
        """A released verdict to every adapter (and into the statistics)."""
        if not self.adapters:
            return
        verdict = PartVerdict.of(inspection, time.time(), inspection.recorded)
        part = inspection.frame.part
        if part is not None:
            cycle = (time.monotonic() - part.triggered_at) * 1000 if part.triggered_at is not None else None
            self.statistics.count(verdict, cycle)
        for adapter in self.adapters:
            try:
                adapter.publish(verdict)
            except Exception as exc:  # noqa: BLE001 - one adapter's fault must not keep the verdict from others
                log.warning("line I/O %s could not publish %s: %s", adapter.name, verdict.uid, exc)

    def update(self, active: bool, hold: str | None) -> None:
        """What the line should see now; adapters hear of changes only."""
        reason = hold
        if active and reason is None and self.heartbeat_lost():
            reason = f"PLC heartbeat lost ({time.monotonic() - self.heartbeat_at:.0f} s)"
        if not active:
            state = LineState.STOPPED
        elif reason is not None:
            state = LineState.HOLDING
        elif self.tracker is not None and self.tracker.in_flight > 0:
            state = LineState.BUSY
        else:
            state = LineState.READY
        if (state, reason) == (self.state, self.reason):
            return
        if reason is not None and reason != self.reason:
            self.alarm(f"line sees the station not ready: {reason}")
        self.state, self.reason = state, reason
        for adapter in self.adapters:
            try:
                adapter.publish_state(state, reason)
            except Exception as exc:  # noqa: BLE001
                log.warning("line I/O %s could not publish the state: %s", adapter.name, exc)

    def heartbeat_lost(self) -> bool:
        return self.heartbeat_at is not None and time.monotonic() - self.heartbeat_at > self.heartbeat_timeout_s

    def alarm(self, text: str) -> None:
        log.warning("line: %s", text)
        self.recent.append((time.monotonic(), text))

    def alarms(self) -> tuple[str, ...]:
        """The line's alarms of the last ``ALARM_S`` seconds (a resync), and a lost heartbeat while it lasts."""
        now = time.monotonic()
        found = [text for at, text in self.recent if now - at <= ALARM_S and "not ready" not in text]
        if self.heartbeat_lost():
            found.insert(0, f"PLC heartbeat lost {now - self.heartbeat_at:.0f} s ago – the line sees NOT READY")
        if self.tracker is not None and self.tracker.resyncs:
            found.append(f"part FIFO resynced {self.tracker.resyncs}x ({self.tracker.expired} parts without a frame, "
                         f"{self.tracker.stray_frames} frames without a part)")
        return tuple(dict.fromkeys(found))

    def statuses(self) -> tuple[LineIOStatus, ...]:
        age = None if self.heartbeat_at is None else time.monotonic() - self.heartbeat_at
        found = []
        for adapter in self.adapters:
            status = adapter.status()
            if status.heartbeat_age_s is None and age is not None:
                status = LineIOStatus(status.name, status.connected, status.detail, status.peer, age)
            found.append(status)
        return tuple(found)

    def close(self) -> list[str]:
        steps = []
        for adapter in self.adapters:
            try:
                adapter.close()
                steps.append(f"line I/O {adapter.name} closed")
            except Exception as exc:  # noqa: BLE001 - the camera must still be closed
                steps.append(f"line I/O {adapter.name} did not close: {exc}")
        self.adapters = []
        return steps

    # ---- what the adapters ask ---------------------------------------------------------------------------------
    def _trigger(self, part: Part) -> bool:
        station = self._station()
        if station is None or station.tracker is None or self.state is LineState.STOPPED:
            self.refused += 1
            return False
        station.open_part(part)
        trigger = getattr(station.camera, "trigger", None)
        if trigger is not None and getattr(station.camera, "triggered", False):
            trigger()
        return True

    def _heartbeat(self) -> None:
        self.heartbeat_at = time.monotonic()

    def _deadline(self) -> float:
        station = self._station()
        return station.recipe.deadline_ms if station is not None else 0.0

    def _recipe_id(self) -> int:
        station = self._station()
        return station.recipe.id or 0 if station is not None else 0

    def _select_by_id(self, recipe_id: int) -> str:
        path = self.recipes.get(int(recipe_id))
        if path is None:
            return f"no recipe has id {recipe_id} (ids: {sorted(self.recipes)})"
        return self._select(path)


def recipe_ids(folder: Path) -> dict[int, Path]:
    """The recipes in ``folder`` by their ``id`` (recipes without one are not selectable from the PLC)."""
    found: dict[int, Path] = {}
    for path in sorted(folder.glob("*.y*ml")):
        try:
            config, _ = load_recipe(path)
        except ConfigError:
            continue
        if config.id is not None:
            found.setdefault(config.id, path)
    return found


def switch_recipe(station: Station, path: Path, runtime: str, device: str, threads: int | None) -> str:
    """Load and bind the recipe's models, then switch the station to it ("" when done, else why not)."""
    try:
        _, recipe = load_recipe(path)
        models = load_models(recipe, runtime, device, threads)
    except (ConfigError, StartupError) as exc:
        return str(exc)
    use_recipe = getattr(station.sink, "use_recipe", None)  # the writer: this recipe's archive policy
    if use_recipe is not None:
        use_recipe(recipe)
    previous = station.switch(recipe, models)
    log.warning("recipe switched from %s v%d (id %s) to %s v%d (id %s); parts in flight finish on the first",
                previous.recipe.name, previous.recipe.version, previous.recipe.id, recipe.name, recipe.version,
                recipe.id)
    return ""



def start_demo_plc(runtime, parts: int | None = None) -> threading.Thread:
    """The simulated PLC on a thread, against the runtime's first OPC UA or Modbus adapter, at the camera's rate:
    the demo line. Raises ``LineUnavailable`` when neither is on."""
    from inspector.integration.line_sim import simulate

    link = runtime.link
    adapter = next((a for a in (link.adapters if link else ()) if a.name in TRIGGERING), None)
    if adapter is None:
        raise LineUnavailable("the simulated PLC needs --line opcua or --line modbus")
    endpoint = adapter.endpoint if adapter.name == "opcua" else f"{adapter.host}:{adapter.port}"
    rate = runtime.config().camera.sim.fps

    def run() -> None:
        try:
            simulate(adapter.name, parts or 10**9, rate, "DEMO", endpoint, grace_s=2.0)
        except Exception as exc:  # noqa: BLE001 - the demo PLC going away must not end the station
            log.warning("demo PLC stopped: %s", exc)

    thread = threading.Thread(target=run, name="demo-plc", daemon=True)
    thread.start()
    return thread
