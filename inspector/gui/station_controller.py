"""The Qt adapter between the station runtime and the operator window: signals, worker threads, the render thread.

The lifecycle (build, start, stop, rebuild, close, status, alarms) is :class:`StationRuntime`'s. Start, stop and
close run on worker threads (building opens bundles and the database). The runtime's listener only drops the newest
inspection into a one-slot mailbox; a render thread composes the overlay (numpy/cv2) at display size and emits it,
at most one frame in flight, so stale frames are dropped, never queued.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from inspector.access.service import AccessError, AccessService, UserSession
from inspector.config import StationConfig
from inspector.domain.inspection import Inspection
from inspector.gui.qt_frames import DisplayFrame, QtFrameComposer
from inspector.render import DEFAULT_OPACITY
from inspector.station.counters import StationCounters
from inspector.station.errors import StartupError
from inspector.station.loop import Station
from inspector.station.runtime import SYSTEM, State, StationRuntime, StationStatus

log = logging.getLogger(__name__)

STOPPED, STARTING, RUNNING, HOLDING = State.STOPPED, State.STARTING, State.RUNNING, State.HOLDING
STOPPING, ERROR, CLOSED = State.STOPPING, State.ERROR, State.CLOSED

__all__ = ["CLOSED", "ERROR", "HOLDING", "RUNNING", "STARTING", "STOPPED", "STOPPING", "DisplayFrame",
           "StationController", "StationStatus"]


class StationController(QObject):
    """The runtime for the window: its operations off the UI thread, its state as signals, the display pipeline."""

    frameReady = Signal(object)  # DisplayFrame (the newest; older ones were dropped)
    stateChanged = Signal(str)
    startFailed = Signal(str)  # the operator's alarm text of a typed StartupError
    refused = Signal(str)  # an action the logged-in user (or nobody) may not do: one line

    def __init__(self, config_path: Path | str, camera: str | None = None, recent: int = 10,
                 parent: QObject | None = None, lines: tuple[str, ...] = (),
                 access: AccessService | None = None) -> None:
        super().__init__(parent)
        self.runtime = StationRuntime(config_path, camera, lines, access)
        self.session: UserSession | None = None  # who is logged in at the window (the line runs on without)
        self.after_first_start: Callable[[StationRuntime], object] | None = None  # e.g. the demo PLC
        self.runtime.add_listener(self._on_inspection)
        self.runtime.on_state(lambda state: self.stateChanged.emit(str(state)))
        self.heatmap, self.opacity = True, DEFAULT_OPACITY
        self.display_size: tuple[int, int] | None = None
        self._cond = threading.Condition()
        self._pending: Inspection | None = None
        self._last: Inspection | None = None
        self._recent: deque[Inspection] = deque(maxlen=recent)
        self._composer = QtFrameComposer(recent)
        self._ready: DisplayFrame | None = None
        self._in_flight = False
        self._closing = False
        self._busy = threading.Lock()  # one operation in flight from the window
        self._shutdown: threading.Thread | None = None
        self._renderer = threading.Thread(target=self._render_loop, name="gui-render", daemon=True)
        self._renderer.start()

    # ---- the runtime, as the window sees it ------------------------------------------------------------------
    @property
    def state(self) -> State:
        return self.runtime.state

    @property
    def station(self) -> Station | None:
        return self.runtime.station

    @property
    def counters(self) -> StationCounters:
        return self.runtime.counters

    @property
    def config_path(self) -> Path:
        return self.runtime.config_path

    @property
    def camera_override(self) -> str | None:
        return self.runtime.camera_override

    @property
    def recipe_override(self) -> Path | None:
        return self.runtime.recipe_override

    @recipe_override.setter
    def recipe_override(self, path: Path | None) -> None:
        self.runtime.recipe_override = path

    @property
    def startup_alarm(self) -> str | None:
        error = self.runtime.startup_error
        return None if error is None else error.alarm

    @property
    def left_journaled(self) -> int:
        """Inspections still journaled (not in the database) when the writer closed."""
        report = self.runtime.last_close
        return report.journaled if report else 0

    def config(self) -> StationConfig:
        return self.runtime.config()

    def status(self) -> StationStatus:
        return self.runtime.status()

    def reset_counters(self) -> bool:
        try:
            self.runtime.reset_counters(by=self.session)
        except AccessError as exc:
            self.refused.emit(str(exc))
            return False
        return True

    def acknowledge(self) -> None:
        """The operator acknowledges the alarms: a refused journal is tried again (off the UI thread)."""
        threading.Thread(target=self._guarded, args=(lambda: self.runtime.acknowledge(by=self.session),),
                         name="station-acknowledge", daemon=True).start()

    def _guarded(self, work: Callable[[], object]) -> None:
        try:
            work()
        except AccessError as exc:
            self.refused.emit(str(exc))

    # ---- operations (called on the UI thread; the work runs on worker threads) --------------------------------
    def start(self, system: bool = False) -> bool:
        """Build the station if needed (config or recipe changed) and start it; False when not possible now.
        ``system``: the station process starting itself (at launch), not a user at the window."""
        return self._launch(lambda: self._do_start(SYSTEM if system else self.session), allowed=(STOPPED, ERROR))

    def stop(self) -> bool:
        """Stop acquisition, finish and log what is in the pipeline; False when not running."""
        by = self.session
        return self._launch(lambda: self._guarded(lambda: self.runtime.stop(by=by)), allowed=(RUNNING, HOLDING))

    def shutdown(self, wait: bool = False, timeout: float = 60.0) -> None:
        """The runtime's close sequence off the UI thread, then the render thread ends; the state is ``closed``."""
        with self._cond:
            if self._shutdown is None:
                self._closing = True
                self._shutdown = threading.Thread(target=self._do_shutdown, name="station-shutdown", daemon=True)
                self._shutdown.start()
        if wait:
            self._shutdown.join(timeout)

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

    def _launch(self, work: Callable[[], None], allowed: tuple[State, ...]) -> bool:
        if self._closing or self.runtime.state not in allowed:
            return False

        def run() -> None:
            with self._busy:  # an operation still finishing (a stop past its state change) goes first
                if not self._closing and self.runtime.state in allowed:
                    work()

        threading.Thread(target=run, name="station-operation", daemon=True).start()
        return True

    def _do_start(self, by: object) -> None:
        try:
            self.runtime.start(by=by)
            hook, self.after_first_start = self.after_first_start, None
            if hook is not None:
                hook(self.runtime)
        except StartupError as exc:
            self.startFailed.emit(exc.alarm)
        except AccessError as exc:
            self.refused.emit(str(exc))
        except RuntimeError as exc:  # closed meanwhile
            log.warning("station not started: %s", exc)

    def _do_shutdown(self) -> None:
        try:
            self.runtime.close()
        finally:
            with self._cond:
                self._cond.notify_all()
            self._renderer.join(5.0)

    # ---- display pipeline ------------------------------------------------------------------------------------
    def _on_inspection(self, inspection: Inspection) -> None:
        """Runtime listener (decision thread): keep the newest, wake the renderer, never block."""
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
                frame = self._composer.compose(inspection, recent, self.heatmap, self.opacity, self.display_size)
            except Exception:  # noqa: BLE001 - a bad frame must not end the display
                log.exception("could not compose frame %s", inspection.frame.id)
                continue
            with self._cond:
                self._ready = frame
                if self._in_flight:
                    continue  # the UI has not taken the last one yet: it will take this newer one instead
                self._in_flight = True
            self.frameReady.emit(frame)
