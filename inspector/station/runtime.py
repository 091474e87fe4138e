"""The station's lifecycle, Qt-free: build, start, stop, rebuild on a change, status, and the one close sequence.

``inspector run``, the operator window (through a thin Qt adapter) and the benchmarks all drive a
:class:`StationRuntime`. States: stopped -> starting -> running (<-> holding) -> stopping -> stopped, error
after a failed start, closed after :meth:`StationRuntime.close`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from inspector.config import ConfigError, StationConfig, load_station_config
from inspector.domain.camera import CameraError
from inspector.domain.inspection import Inspection, ReasonCode
from inspector.station.counters import CounterSnapshot, StationCounters
from inspector.station.errors import CameraUnavailable, ConfigInvalid, ModelRefused, StartupError
from inspector.station.factory import StationParts, build_station
from inspector.station.loop import Station

log = logging.getLogger(__name__)


class State(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    HOLDING = "holding"
    STOPPING = "stopping"
    ERROR = "error"  # the last start failed; ``startup_error`` says why
    CLOSED = "closed"  # after close(): nothing runs, nothing can start


ACTIVE = (State.RUNNING, State.HOLDING)


@dataclass(frozen=True)
class LineIOStatus:
    """One line I/O adapter (PLC, MES) as the window's light shows it."""

    name: str
    connected: bool
    detail: str


@dataclass(frozen=True)
class StationStatus:
    """A snapshot of the station for a window or a log line: cheap attribute reads."""

    state: State
    counters: CounterSnapshot
    camera_name: str | None = None
    camera_connected: bool | None = None
    camera_reconnects: int = 0
    db_ok: bool | None = None
    journaled: int = 0
    logged: int = 0
    models: str | None = None
    model_refused: str | None = None
    line_io: tuple[LineIOStatus, ...] = ()
    alarms: tuple[str, ...] = ()
    notices: tuple[str, ...] = ()


@dataclass(frozen=True)
class CloseReport:
    """What the close sequence did, in order."""

    steps: tuple[str, ...]
    inspected: int = 0
    logged: int = 0
    journaled: int = 0
    camera_closed: bool = False

    def __str__(self) -> str:
        return "; ".join(self.steps)


Listener = Callable[[Inspection], None]


class StationRuntime:
    """Owns one station: builds it from the config (again when the config or the recipe changed), runs it and
    closes it in one order: stop acquisition, drain the pipeline, close the writer, the line I/O, the camera.

    Operations are serialized; call them from any thread (the window calls them off its UI thread).
    """

    def __init__(self, config_path: Path | str, camera: str | None = None) -> None:
        self.config_path = Path(config_path)
        self.camera_override = camera
        self.recipe_override: Path | None = None
        self.counters = StationCounters()  # run on across rebuilds until reset (a new shift or lot)
        self.parts: StationParts | None = None
        self.line_io: list = []  # line I/O adapters (none yet): closed after the writer, before the camera
        self.startup_error: StartupError | None = None
        self.last_close: CloseReport | None = None
        self._key: tuple | None = None
        self._state = State.STOPPED
        self._ops = threading.RLock()
        self._listeners: list[Listener] = []
        self._state_listeners: list[Callable[[State], None]] = []
        self._last: Inspection | None = None

    # ---- observation -------------------------------------------------------------------------------------------
    @property
    def state(self) -> State:
        return self._state

    @property
    def station(self) -> Station | None:
        return self.parts.station if self.parts else None

    @property
    def running(self) -> bool:
        station = self.station
        return station is not None and station.running

    def add_listener(self, listener: Listener) -> None:
        """``listener(inspection)`` after each inspection, on the decision thread, across rebuilds."""
        self._listeners.append(listener)

    def on_state(self, listener: Callable[[State], None]) -> None:
        """``listener(state)`` on every state change, on the thread that changed it."""
        self._state_listeners.append(listener)

    def config(self) -> StationConfig:
        """The station config (file + environment) with the recipe chosen at the station, if any."""
        try:
            config = load_station_config(self.config_path)
        except ConfigError as exc:
            raise ConfigInvalid(str(exc)) from exc
        if self.recipe_override is not None:
            config = config.model_copy(update={"recipe": self.recipe_override})
        return config

    def status(self) -> StationStatus:
        counters = self.counters.snapshot()
        error = self.startup_error
        alarms = [error.alarm] if error else []
        refused = error.detail if isinstance(error, ModelRefused) else None
        line = tuple(adapter.status() for adapter in self.line_io)
        parts = self.parts
        if parts is None:
            return StationStatus(self._state, counters, model_refused=refused, line_io=line, alarms=tuple(alarms))
        camera, writer = parts.camera, parts.writer
        active = self._state in ACTIVE
        connected = camera.stats.connected if active else None
        if connected is False:
            alarms.append("Camera lost – reconnecting…")
        if writer.db_ok is False:
            alarms.append(f"Database unreachable – inspections are journaled locally ({writer.journaled} waiting)")
        last = self._last
        if active and last is not None and ReasonCode.MODEL_ERROR in last.decision.codes:
            reason = next(r for r in last.decision.reasons if r.code is ReasonCode.MODEL_ERROR)
            alarms.append(f"Model error: {reason.text} – parts are rejected")
        models = ", ".join(m.bundle.manifest.name for m in parts.models)
        return StationStatus(self._state, counters, camera.name, connected, camera.stats.reconnects, writer.db_ok,
                             writer.journaled, writer.logged, models, refused, line, tuple(alarms),
                             tuple(camera.stats.warnings))

    # ---- control -----------------------------------------------------------------------------------------------
    def start(self, frames: int | None = None) -> None:
        """Build the station if needed and start it (``frames``: stop acquiring after that many).

        A failure leaves the state ``error`` and raises a typed :class:`StartupError`.
        """
        with self._ops:
            if self._state is State.CLOSED:
                raise RuntimeError("the station runtime is closed")
            if self._state in ACTIVE:
                return
            self._set(State.STARTING)
            try:
                parts = self._parts_for(self.config())
                try:
                    parts.station.start(frames)
                except CameraError as exc:
                    raise CameraUnavailable(str(exc)) from exc
            except StartupError as exc:
                self._failed(exc)
                raise
            except Exception as exc:  # noqa: BLE001 - whatever fails, the state and the message say so
                log.exception("station start failed")
                failure = StartupError(f"{type(exc).__name__}: {exc}")
                self._failed(failure)
                raise failure from exc
            self.startup_error = None
            self._set(State.RUNNING)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop acquisition, inspect and log what is already in the pipeline; the station stays built."""
        with self._ops:
            if self._state not in ACTIVE or self.parts is None:
                return
            self._set(State.STOPPING)
            try:
                self.parts.station.stop(timeout)
            finally:
                self._set(State.STOPPED)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a ``frames``-limited run has inspected everything it accepted."""
        station = self.station
        return station.wait(timeout) if station is not None else True

    def reset_counters(self) -> None:
        """New shift or lot: inspected, pass, fail and yield start again from zero."""
        self.counters.reset()

    def close(self, timeout: float = 30.0) -> CloseReport:
        """The one orderly close; afterwards the state is ``closed``. Idempotent."""
        with self._ops:
            if self._state is State.CLOSED and self.last_close is not None:
                return self.last_close
            self._set(State.STOPPING)
            try:
                report = self._close_parts(timeout)
            finally:
                self._set(State.CLOSED)
            return report

    # ---- internals ---------------------------------------------------------------------------------------------
    def _set(self, state: State) -> None:
        self._state = state
        for listener in list(self._state_listeners):
            try:
                listener(state)
            except Exception as exc:  # noqa: BLE001 - an observer must not break the lifecycle
                log.warning("state listener failed: %s", exc)

    def _failed(self, error: StartupError) -> None:
        self.startup_error = error
        self._set(State.ERROR)

    def _dispatch(self, inspection: Inspection) -> None:
        self._last = inspection
        for listener in list(self._listeners):
            try:
                listener(inspection)
            except Exception as exc:  # noqa: BLE001 - a faulty listener must not stop inspection
                log.warning("inspection listener failed: %s", exc)

    def _parts_for(self, config: StationConfig) -> StationParts:
        """The built station, rebuilt when the config, the camera choice or the recipe file changed."""
        recipe = Path(config.recipe)
        stat = recipe.stat() if recipe.is_file() else None
        key = (config.model_dump_json(), self.camera_override, stat and (stat.st_mtime_ns, stat.st_size))
        if self.parts is not None and key == self._key:
            return self.parts
        self._close_parts()
        parts = build_station(config, self.camera_override)
        parts.station.counters = self.counters
        parts.station.add_listener(self._dispatch)
        self.parts, self._key = parts, key
        return parts

    def _close_parts(self, timeout: float = 30.0) -> CloseReport:
        parts, self.parts, self._key = self.parts, None, None
        if parts is None:
            self.last_close = CloseReport(("nothing was running",), camera_closed=True)
            return self.last_close
        station, writer, camera = parts.station, parts.writer, parts.camera
        steps = []
        station.stop_acquisition(timeout)
        steps.append("acquisition stopped")
        drained = station.drain(timeout)
        inspected = station.counters.snapshot().inspected
        steps.append(f"pipeline drained ({inspected} inspected)" if drained else "pipeline did not drain in time")
        writer.close(timeout)
        steps.append(f"writer closed ({writer.logged} logged, {writer.journaled} journaled)")
        for adapter in self.line_io:
            try:
                adapter.close()
                steps.append(f"line I/O {adapter.name} closed")
            except Exception as exc:  # noqa: BLE001 - the camera must still be closed
                steps.append(f"line I/O {adapter.name} did not close: {exc}")
        closed = False
        try:
            camera.close()
            closed = camera.stats.closed
            steps.append(f"camera {camera.name} closed" if closed else f"camera {camera.name} still open after close")
        except Exception as exc:  # noqa: BLE001 - a camera that will not close must not stop the shutdown
            log.warning("camera did not close: %s", exc)
            steps.append(f"camera {camera.name} did not close: {exc}")
        self.last_close = CloseReport(tuple(steps), inspected, writer.logged, writer.journaled, closed)
        return self.last_close
