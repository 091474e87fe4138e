"""The station's lifecycle, Qt-free: build, start, stop, rebuild on a change, status, and the one close sequence.

``inspector run``, the operator window (through a thin Qt adapter) and the benchmarks all drive a
:class:`StationRuntime`. States: stopped -> starting -> running (<-> holding) -> stopping -> stopped, error
after a failed start, closed after :meth:`StationRuntime.close`.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from inspector.access.roles import Permission
from inspector.access.service import AccessService, UserSession
from inspector.config import ConfigError, StationConfig, load_station_config
from inspector.domain.camera import CameraError
from inspector.domain.inspection import Inspection, ReasonCode
from inspector.domain.line import LineIOStatus, LineState
from inspector.station.counters import CounterSnapshot, StationCounters
from inspector.station.errors import CameraUnavailable, ConfigInvalid, ModelRefused, StartupError
from inspector.station.factory import StationParts, build_station, inference_plan
from inspector.station.line import LineLink, switch_recipe
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
SYSTEM = object()  # who acts when the station process itself starts or stops it (not a logged-in user)


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
    hold_reason: str | None = None  # why the station holds (every part REJECT), None when it does not
    db_offline: bool = False  # the database does not answer yet: inspections are buffered in the journal
    line_sees: tuple[LineState, str | None] | None = None  # what the line sees (and why not ready), with line I/O


@dataclass(frozen=True)
class CloseReport:
    """What the close sequence did, in order."""

    steps: tuple[str, ...]
    inspected: int = 0
    logged: int = 0
    journaled: int = 0
    camera_closed: bool = False
    unrecorded: int = 0  # verdicts released REJECT without a record
    artifacts_missing: int = 0  # records kept without their images
    held: tuple[str, ...] = ()  # every reason the station held for during its run

    def __str__(self) -> str:
        return "; ".join(self.steps)


Listener = Callable[[Inspection], None]


def settle_heap() -> None:
    """Collect start-up's garbage, then exempt everything that lives on from later collections.

    With the model runtimes loaded the heap holds some 300,000 objects; a full collection walking them held the
    interpreter for 130 ms while running, longer than a frame period, and the acquisition thread lost a frame.
    Frozen objects are not walked again (``gc.freeze``); the next start unfreezes them first, so what a rebuild
    throws away is still collected.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class StationRuntime:
    """Owns one station: builds it from the config (again when the config or the recipe changed), runs it and
    closes it in one order: stop acquisition, drain the pipeline, close the writer, the line I/O, the camera.

    Operations are serialized; call them from any thread (the window calls them off its UI thread).
    """

    def __init__(self, config_path: Path | str, camera: str | None = None, lines: Sequence[str] = (),
                 access: AccessService | None = None) -> None:
        """``lines`` names line I/O adapters to run besides the config's ``line.adapters``. With ``access``,
        start, stop, counter resets and acknowledgments need a session whose role may do them (or ``SYSTEM``:
        the station process itself starting), and each is audited."""
        self.config_path = Path(config_path)
        self.camera_override = camera
        self.lines = tuple(lines)
        self.link: LineLink | None = None
        self.access = access
        self.recipe_override: Path | None = None
        self.counters = StationCounters()  # run on across rebuilds until reset (a new shift or lot)
        self.parts: StationParts | None = None
        self.startup_error: StartupError | None = None
        self.last_close: CloseReport | None = None
        self._key: tuple | None = None
        self._state = State.STOPPED
        self._ops = threading.RLock()
        self._state_lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._state_listeners: list[Callable[[State], None]] = []
        self._last: Inspection | None = None
        self.held: list[str] = []  # each distinct hold reason seen since the last start
        self._monitor: threading.Thread | None = None
        self._monitor_stop = threading.Event()

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
        link = self.link
        line = link.statuses() if link else ()
        if link:
            alarms.extend(link.alarms())
        parts = self.parts
        if parts is None:
            return StationStatus(self._state, counters, model_refused=refused, line_io=line, alarms=tuple(alarms))
        camera, writer = parts.camera, parts.writer
        active = self._state in ACTIVE
        connected = camera.stats.connected if active else None
        if connected is False:
            alarms.append("Camera lost – reconnecting…")
        hold = writer.hold_reason() if active else None
        if hold:
            alarms.insert(0, f"HOLD – every part is rejected: {hold}")
        if writer.db_ok is False:
            alarms.append(f"Database offline – {writer.journaled:,} inspections buffered in the journal")
        alarms.extend(writer.warnings())
        last = self._last
        if active and last is not None and ReasonCode.MODEL_ERROR in last.decision.codes:
            reason = next(r for r in last.decision.reasons if r.code is ReasonCode.MODEL_ERROR)
            alarms.append(f"Model error: {reason.text} – parts are rejected")
        models = ", ".join(m.bundle.manifest.name for m in parts.models)
        line_sees = None if link is None or not link.adapters else (link.state, link.reason)
        return StationStatus(self._state, counters, camera.name, connected, camera.stats.reconnects, writer.db_ok,
                             writer.journaled, writer.logged, models, refused, line, tuple(alarms),
                             (*camera.stats.warnings, *parts.notices), hold, writer.db_ok is False, line_sees)

    # ---- control -----------------------------------------------------------------------------------------------
    def start(self, frames: int | None = None, by: UserSession | object | None = SYSTEM) -> None:
        """Build the station if needed and start it (``frames``: stop acquiring after that many).

        A failure leaves the state ``error`` and raises a typed :class:`StartupError`.
        """
        self._allow(by, Permission.STATION_RUN, "station.start")
        with self._ops:
            if self._state is State.CLOSED:
                raise RuntimeError("the station runtime is closed")
            if self._state in ACTIVE:
                return
            self._set(State.STARTING)
            try:
                config = self.config()
                self._start_lines(config)
                parts = self._parts_for(config)
                settle_heap()
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
            self.held = []
            self._set(State.RUNNING)
            self._watch(parts)

    def stop(self, timeout: float = 30.0, by: UserSession | object | None = SYSTEM) -> None:
        """Stop acquisition, inspect and log what is already in the pipeline; the station stays built."""
        self._allow(by, Permission.STATION_RUN, "station.stop")
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

    def acknowledge(self, by: UserSession | object | None = SYSTEM) -> bool:
        """The operator acknowledges the alarms: a journal that refused a write is tried again (True when the
        station no longer has to hold)."""
        self._allow(by, Permission.ALARMS_ACKNOWLEDGE, "alarms.acknowledge")
        parts = self.parts
        if parts is None:
            return True
        parts.writer.retry_journal()
        return parts.writer.hold_reason() is None

    def reset_counters(self, by: UserSession | object | None = SYSTEM) -> None:
        """New shift or lot: inspected, pass, fail and yield start again from zero."""
        self._allow(by, Permission.COUNTERS_RESET, "counters.reset")
        self.counters.reset()

    def _allow(self, by: UserSession | object | None, permission: Permission, action: str) -> None:
        """Refuse (audited) unless ``by`` may; record the action by whom (the system, or a logged-in user)."""
        if self.access is None:
            return
        if by is not SYSTEM:
            self.access.require(by, permission, action)
        self._audit(action, {}, by)

    def _audit_later(self, action: str, detail: dict) -> None:
        """Audit off the hold watch: a database that is down must not slow the watch."""
        if self.access is not None:
            threading.Thread(target=self._audit, args=(action, detail), name="station-audit", daemon=True).start()

    def _audit(self, action: str, detail: dict, by: UserSession | object | None = SYSTEM) -> None:
        if self.access is None:
            return
        try:
            self.access.record(action, "station", by if isinstance(by, UserSession) else None, detail)
        except Exception as exc:  # noqa: BLE001 - an unreachable database must not stop an operator's action
            log.warning("%s not audited (database: %s)", action, exc)

    def close(self, timeout: float = 30.0) -> CloseReport:
        """The one orderly close; afterwards the state is ``closed``. Idempotent."""
        with self._ops:
            if self._state is State.CLOSED and self.last_close is not None:
                return self.last_close
            self._set(State.STOPPING)
            try:
                report = self._close_parts(timeout, final=True)
            finally:
                self._set(State.CLOSED)
            return report

    # ---- internals ---------------------------------------------------------------------------------------------
    def _swap(self, expected: State, state: State) -> bool:
        """``expected`` -> ``state``, only if nothing else changed the state meanwhile (True when it did)."""
        with self._state_lock:
            if self._state is not expected:
                return False
            self._state = state
        self._notify_state(state)
        return True

    def _set(self, state: State) -> None:
        with self._state_lock:
            self._state = state
        self._notify_state(state)

    def _notify_state(self, state: State) -> None:
        for listener in list(self._state_listeners):
            try:
                listener(state)
            except Exception as exc:  # noqa: BLE001 - an observer must not break the lifecycle
                log.warning("state listener failed: %s", exc)

    def _watch(self, parts: StationParts) -> None:
        """Follow the writer: holding while it says the records cannot be kept, running again when they can."""
        self._monitor_stop.set()
        if self._monitor is not None:
            self._monitor.join(2.0)
        self._monitor_stop = stop = threading.Event()

        def watch() -> None:
            while not stop.wait(0.1):
                reason = parts.writer.hold_reason()
                if self.link is not None:
                    self.link.update(self._state in ACTIVE, reason)
                if reason is not None and reason.split(" (")[0] not in (r.split(" (")[0] for r in self.held):
                    self.held.append(reason)
                    log.error("station on HOLD: %s", reason)
                if reason is not None and self._swap(State.RUNNING, State.HOLDING):
                    self._audit_later("station.hold", {"reason": reason})
                elif reason is None and self._swap(State.HOLDING, State.RUNNING):
                    self._audit_later("station.resume", {})

        self._monitor = threading.Thread(target=watch, name="station-hold-watch", daemon=True)
        self._monitor.start()

    def _start_lines(self, config: StationConfig) -> None:
        if self.link is None:
            names = (*config.line.adapters, *self.lines)
            if not names:
                return
            self.link = LineLink(names, lambda: self.station, self.select_recipe)
            self.add_listener(self.link.publish)
        self.link.start(config)

    def select_recipe(self, path: Path) -> str:
        """Switch the running station to the recipe at ``path`` (the PLC selects by id); "" when done, else why
        not. Parts in flight finish on the recipe they were triggered under."""
        station = self.station
        if station is None:
            return "the station is not running"
        pipeline = self.config().pipeline
        error = switch_recipe(station, path, pipeline.runtime, pipeline.device, inference_plan(pipeline)[1])
        if not error:
            self.recipe_override = path
        return error

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
        parts = build_station(config, self.camera_override, self.link.tracker if self.link else None)
        parts.station.counters = self.counters
        parts.station.add_listener(self._dispatch)
        self.parts, self._key = parts, key
        return parts

    def _close_parts(self, timeout: float = 30.0, final: bool = False) -> CloseReport:
        parts, self.parts, self._key = self.parts, None, None
        if parts is None:
            steps = ["nothing was running"]
            if self.link is not None and final:
                steps.extend(self.link.close())
            self.last_close = CloseReport(tuple(steps), camera_closed=True)
            return self.last_close
        self._monitor_stop.set()
        station, writer, camera = parts.station, parts.writer, parts.camera
        steps = []
        station.stop_acquisition(timeout)
        steps.append("acquisition stopped")
        drained = station.drain(timeout)
        inspected = station.counters.snapshot().inspected
        steps.append(f"pipeline drained ({inspected} inspected)" if drained else "pipeline did not drain in time")
        writer.close(timeout if writer.db_ok is not False else min(timeout, 3.0))  # offline: the journal keeps it
        steps.append(f"writer closed ({writer.logged} logged, {writer.journaled} journaled)")
        if self.link is not None and final:
            self.link.update(False, None)
            steps.extend(self.link.close())
        for model in parts.models:
            model.bundle.close()
        closed = False
        try:
            camera.close()
            closed = camera.stats.closed
            steps.append(f"camera {camera.name} closed" if closed else f"camera {camera.name} still open after close")
        except Exception as exc:  # noqa: BLE001 - a camera that will not close must not stop the shutdown
            log.warning("camera did not close: %s", exc)
            steps.append(f"camera {camera.name} did not close: {exc}")
        self.last_close = CloseReport(tuple(steps), inspected, writer.logged, writer.journaled, closed,
                                      station.counters.snapshot().unrecorded, writer.artifacts_missing,
                                      tuple(self.held))
        return self.last_close
