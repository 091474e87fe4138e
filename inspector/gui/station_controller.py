"""The bridge between the station threads and the operator window.

Start and stop run on worker threads (``build_station`` opens bundles and the database). The station's
listener only drops the newest inspection into a one-slot mailbox; a render thread composes the overlay
(numpy/cv2) at display size and emits it, at most one frame in flight, so stale frames are dropped, never queued.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from inspector.config import ConfigError, StationConfig, load_station_config
from inspector.domain.camera import CameraError
from inspector.domain.inspection import Inspection
from inspector.gui.qt_frames import DisplayFrame, QtFrameComposer
from inspector.station.counters import CounterSnapshot, StationCounters
from inspector.station.factory import StartupError, StationParts, build_station
from inspector.station.loop import Station

log = logging.getLogger(__name__)

STOPPED, STARTING, RUNNING, STOPPING, CLOSED = "stopped", "starting", "running", "stopping", "closed"


@dataclass(frozen=True)
class StationStatus:
    """What the window shows besides the image: cheap attribute reads, polled at about 4 Hz."""

    state: str
    counters: CounterSnapshot
    camera_name: str | None = None
    camera_connected: bool | None = None
    camera_reconnects: int = 0
    db_ok: bool | None = None
    journaled: int = 0
    logged: int = 0
    models: str | None = None
    model_refused: str | None = None
    alarms: tuple[str, ...] = ()


def plain_alarm(exc: BaseException) -> str:
    """A startup failure in words an operator can act on."""
    text = str(exc)
    if text.startswith("model bundle refused: "):
        return "Model refused: " + text.removeprefix("model bundle refused: ")
    if text.startswith("database unreachable"):
        return "Database unreachable – station not started: " + text.removeprefix("database unreachable: ")
    if text.startswith("camera"):
        return "Camera not available: " + text
    if isinstance(exc, ConfigError) or isinstance(exc.__cause__, ConfigError):
        return "Configuration invalid: " + text
    return f"Station did not start: {text}"


class StationController(QObject):
    """Owns the station for the window: start/stop/shutdown off the UI thread, the display pipeline, status."""

    frameReady = Signal(object)  # DisplayFrame (the newest; older ones were dropped)
    stateChanged = Signal(str)
    startFailed = Signal(str)

    def __init__(self, config_path: Path | str, camera: str | None = None, recent: int = 10,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.config_path = Path(config_path)
        self.camera_override = camera
        self.recipe_override: Path | None = None
        self.parts: StationParts | None = None
        self.counters = StationCounters()
        self.heatmap, self.opacity = True, 0.5
        self.display_size: tuple[int, int] | None = None
        self.startup_alarm: str | None = None
        self.left_journaled = 0  # inspections still journaled (not in the database) when the writer closed
        self._model_refused: str | None = None
        self._key: tuple | None = None
        self._state = STOPPED
        self._state_lock = threading.Lock()
        self._op_lock = threading.Lock()
        self._cond = threading.Condition()
        self._pending: Inspection | None = None
        self._last: Inspection | None = None
        self._recent: deque[Inspection] = deque(maxlen=recent)
        self._composer = QtFrameComposer(recent)
        self._ready: DisplayFrame | None = None
        self._in_flight = False
        self._closing = False
        self._shutdown: threading.Thread | None = None
        self._renderer = threading.Thread(target=self._render_loop, name="gui-render", daemon=True)
        self._renderer.start()

    # ---- state and control (called on the UI thread; the work runs on worker threads) ----------------------
    @property
    def state(self) -> str:
        return self._state

    @property
    def station(self) -> Station | None:
        return self.parts.station if self.parts else None

    def config(self) -> StationConfig:
        """The station config (file + environment) with the recipe the operator picked."""
        config = load_station_config(self.config_path)
        if self.recipe_override is not None:
            config = config.model_copy(update={"recipe": self.recipe_override})
        return config

    def start(self) -> bool:
        """Build the station if needed (config or recipe changed) and start it; False when not possible now."""
        return self._launch(STARTING, self._do_start, allowed=(STOPPED,))

    def stop(self) -> bool:
        """Stop acquisition, finish and log what is in the pipeline; False when not running."""
        return self._launch(STOPPING, self._do_stop, allowed=(RUNNING,))

    def shutdown(self, wait: bool = False, timeout: float = 60.0) -> None:
        """Stop the station, close the writer and camera, end the render thread; then state is ``closed``."""
        with self._state_lock:
            if self._shutdown is None:
                self._closing = True
                self._shutdown = threading.Thread(target=self._do_shutdown, name="station-shutdown", daemon=True)
                self._shutdown.start()
        if wait:
            self._shutdown.join(timeout)

    def reset_counters(self) -> None:
        """New shift or lot: inspected, pass, fail and yield start again from zero."""
        self.counters.reset()

    def rerender(self) -> None:
        """Compose the last inspection again (heatmap toggled, opacity or display size changed)."""
        with self._cond:
            if self._last is not None:
                self._pending = self._last
                self._cond.notify()

    def take_latest(self) -> DisplayFrame | None:
        """The newest composed frame; the UI calls this when it handles ``frameReady``."""
        with self._cond:
            frame, self._ready, self._in_flight = self._ready, None, False
        return frame

    def _set_state(self, state: str) -> None:
        self._state = state
        self.stateChanged.emit(state)

    def _launch(self, state: str, work: Callable[[], None], allowed: tuple[str, ...]) -> bool:
        with self._state_lock:
            if self._closing or self._state not in allowed:
                return False
            self._set_state(state)
        threading.Thread(target=self._serialized, args=(work,), name=f"station-{state}", daemon=True).start()
        return True

    def _serialized(self, work: Callable[[], None]) -> None:
        with self._op_lock:
            work()

    def _do_start(self) -> None:
        try:
            config = self.config()
            parts = self._parts_for(config)
            parts.station.start()
        except (StartupError, ConfigError, CameraError) as exc:
            self._start_failed(plain_alarm(exc), str(exc).startswith("model bundle refused"))
            return
        except Exception as exc:  # noqa: BLE001 - whatever fails, the operator sees why and the UI stays up
            log.exception("station start failed")
            self._start_failed(f"Station did not start: {type(exc).__name__}: {exc}", False)
            return
        self.startup_alarm = self._model_refused = None
        self._set_state(RUNNING)

    def _start_failed(self, message: str, model_refused: bool) -> None:
        self._model_refused = message.removeprefix("Model refused: ") if model_refused else None
        self.startup_alarm = message
        self._set_state(STOPPED)
        self.startFailed.emit(message)

    def _parts_for(self, config: StationConfig) -> StationParts:
        recipe = Path(config.recipe)
        stat = recipe.stat() if recipe.is_file() else None
        key = (config.model_dump_json(), self.camera_override, stat and (stat.st_mtime_ns, stat.st_size))
        if self.parts is not None and key == self._key:
            return self.parts
        self._close_parts()
        parts = build_station(config, self.camera_override)
        parts.station.counters = self.counters  # counters run on across rebuilds until the operator resets
        parts.station.add_listener(self._on_inspection)
        self.parts, self._key = parts, key
        return parts

    def _close_parts(self) -> None:
        parts, self.parts, self._key = self.parts, None, None
        if parts is None:
            return
        parts.station.stop()
        parts.writer.close(timeout=10)
        self.left_journaled = parts.writer.journaled
        try:
            parts.station.camera.close()
        except Exception as exc:  # noqa: BLE001 - a camera that will not close must not stop the shutdown
            log.warning("camera did not close: %s", exc)

    def _do_stop(self) -> None:
        try:
            if self.parts is not None:
                self.parts.station.stop()
        finally:
            self._set_state(STOPPED)

    def _do_shutdown(self) -> None:
        with self._op_lock:
            try:
                self._close_parts()
            finally:
                with self._cond:
                    self._cond.notify_all()
                self._renderer.join(5.0)
                self._set_state(CLOSED)

    # ---- status (UI thread, ~4 Hz: attribute reads only) -------------------------------------------------------
    def status(self) -> StationStatus:
        counters = self.counters.snapshot()
        parts = self.parts
        if parts is None:
            alarms = (self.startup_alarm,) if self.startup_alarm else ()
            return StationStatus(self._state, counters, model_refused=self._model_refused, alarms=alarms)
        camera, writer = parts.station.camera, parts.writer
        running = self._state == RUNNING
        connected = camera.stats.connected if running else None
        alarms = [self.startup_alarm] if self.startup_alarm else []
        if connected is False:
            alarms.append("Camera lost – reconnecting…")
        if writer.db_ok is False:
            alarms.append(f"Database unreachable – inspections are journaled locally ({writer.journaled} waiting)")
        last = self._last
        errors = [o.error for o in last.outputs if o.error] if last is not None and running else []
        if errors:
            alarms.append(f"Model error: {errors[0]} – parts are rejected")
        models = ", ".join(m.bundle.manifest.name for m in parts.models)
        return StationStatus(self._state, counters, camera.name, connected, camera.stats.reconnects, writer.db_ok,
                             writer.journaled, writer.logged, models, self._model_refused, tuple(alarms))

    # ---- display pipeline --------------------------------------------------------------------------------------
    def _on_inspection(self, inspection: Inspection) -> None:
        """Station listener (decision thread): keep the newest, wake the renderer, never block."""
        with self._cond:
            self._recent.appendleft(inspection)
            self._pending = self._last = inspection
            self._cond.notify()

    def _render_loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closing:
                    self._cond.wait()
                if self._closing:
                    return
                inspection, self._pending = self._pending, None
                recent = tuple(self._recent)
            try:
                frame = self._render(inspection, recent)
            except Exception:  # noqa: BLE001 - a bad frame must not end the display
                log.exception("could not compose frame %s", inspection.frame.id)
                continue
            with self._cond:
                self._ready = frame
                if self._in_flight:
                    continue  # the UI has not taken the last one yet: it will take this newer one instead
                self._in_flight = True
            self.frameReady.emit(frame)

    def _render(self, inspection: Inspection, recent: tuple[Inspection, ...]) -> DisplayFrame:
        return self._composer.compose(inspection, recent, self.heatmap, self.opacity, self.display_size)
