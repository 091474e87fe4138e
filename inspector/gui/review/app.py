"""``inspector review``: open the QA review window over a SQLite or PostgreSQL inspection database."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from inspector.review.context import ReviewContext


def run_review(url: str, user: str = "", artifacts: str | Path | None = None, idle_logout_s: float = 900.0) -> int:
    """Check and migrate the database, ask for a login, show the window, run the event loop; its exit code.

    Raises ``DatabaseUnavailable`` (one line) before any window opens when the database can't be reached.
    Pictures are read from ``artifacts`` (default: $INSPECTOR_ARTIFACTS, else ``artifacts/`` beside a SQLite file,
    else ``data/station/artifacts``). The window closes after ``idle_logout_s`` without activity.
    """
    ctx = ReviewContext(url, "login", artifacts)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyle("Fusion")
    app.setApplicationName("inspector review")
    from inspector.access.roles import Permission
    from inspector.access.service import AccessError, AccessService
    from inspector.gui.qt_login import IdleLogout, QtLoginDialog
    from inspector.gui.review.qt_review_window import QtReviewWindow

    access = AccessService(ctx.uow)
    login = QtLoginDialog(access, "QA review", title="Log in to the QA review")
    login.user.setText(user)
    if not login.exec() or login.session is None:
        ctx.close()
        return 1
    try:
        access.require(login.session, Permission.REVIEW, "open the QA review")
    except AccessError as exc:
        QMessageBox.warning(None, "QA review", str(exc))
        ctx.close()
        return 2
    ctx.reviews.reviewer = login.session.name
    window = QtReviewWindow(ctx)
    idle = IdleLogout(idle_logout_s, window.close)
    idle.arm()
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
