"""``run_station``: the operator station application (QApplication, window, station, event loop)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QWidget

from inspector.access.service import UserSession
from inspector.access.station import station_access
from inspector.gui.qt_station_window import QtStationWindow
from inspector.gui.qt_widgets import dark_palette
from inspector.gui.station_controller import StationController


def make_application() -> QApplication:
    """The running QApplication, or a new one in the Fusion style with the dark palette."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName("Inspector station")
        app.setStyle("Fusion")
        app.setPalette(dark_palette())
    return app


def review_opener(url: str) -> Callable[[UserSession | None], QWidget]:
    """A factory of QA review windows on the station's database, as the logged-in user."""

    def open_review(session: UserSession | None) -> QWidget:
        from inspector.gui.review.qt_review_window import QtReviewWindow
        from inspector.review.context import ReviewContext

        # The station has checked and migrated the database; the window queries it on its own workers.
        window = QtReviewWindow(ReviewContext(url, session.name if session else "", migrate=False, check=False))
        window.resize(1600, 1000)
        return window

    return open_review


def run_station(config_path: Path | str, camera: str | None = None, fullscreen: bool = False,
                lines: tuple[str, ...] = (), line_sim: bool = False) -> int:
    """Open the operator window, start the station and run until the window is closed; the exit code is 1
    when inspections are still journaled (not yet in the database) at exit, else 0."""
    app = make_application()
    access, url, idle_s = station_access(config_path)
    controller = StationController(config_path, camera, lines=lines, access=access)
    if line_sim:
        from inspector.station.line import start_demo_plc

        controller.after_first_start = start_demo_plc
    window = QtStationWindow(controller, review=review_opener(url) if url else None, access=access,
                             idle_logout_s=idle_s)
    # Ctrl+C in the terminal and SIGTERM (a service manager) close the window: the runtime's close sequence.
    # The timer lets Python see the signal while Qt's event loop runs.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: window.close())
    heartbeat = QTimer()
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start(200)
    window.show()
    if fullscreen:
        window.enter_fullscreen()
    controller.start(system=True)  # the station process starting its line; operators log in for the rest
    code = app.exec()
    heartbeat.stop()
    controller.shutdown(wait=True)
    return code or (1 if controller.left_journaled else 0)
