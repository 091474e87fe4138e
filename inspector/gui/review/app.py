"""``inspector review``: open the QA review window over a SQLite or PostgreSQL inspection database."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from inspector.review.context import ReviewContext


def run_review(url: str, user: str = "qa", artifacts: str | Path | None = None) -> int:
    """Check and migrate the database, show the window, run the event loop; returns its exit code.

    Raises ``DatabaseUnavailable`` (one line) before any window opens when the database can't be reached.
    Pictures are read from ``artifacts`` (default: $INSPECTOR_ARTIFACTS, else ``artifacts/`` beside a SQLite file,
    else ``data/station/artifacts``).
    """
    ctx = ReviewContext(url, user or "qa", artifacts)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyle("Fusion")
    app.setApplicationName("inspector review")
    from inspector.gui.review.qt_review_window import QtReviewWindow

    window = QtReviewWindow(ctx)
    window.resize(1600, 1000)
    window.show()
    previous = signal.signal(signal.SIGINT, lambda *_: window.close())  # Ctrl+C in the terminal closes the window
    wake = QTimer(interval=250)  # lets Python run its signal handlers while Qt's loop waits
    wake.timeout.connect(lambda: None)
    wake.start()
    try:
        return int(app.exec())
    finally:
        wake.stop()
        signal.signal(signal.SIGINT, previous)
        ctx.close()
