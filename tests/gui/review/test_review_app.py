"""``inspector review``: the window opens on a real database and returns on close; a dead database is one line."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from typer.testing import CliRunner

from inspector.cli import app as cli
from inspector.gui.qt_login import QtLoginDialog
from inspector.gui.review.app import run_review
from inspector.gui.review.qt_review_window import QtReviewWindow
from tests.unit.inspector.review.factories import REVIEWERS


def _log_in(user: str, password: str) -> None:
    """Fill the login dialog run_review shows (once it is there)."""
    dialogs = [w for w in QApplication.topLevelWidgets() if isinstance(w, QtLoginDialog) and w.isVisible()]
    if not dialogs:
        QTimer.singleShot(50, lambda: _log_in(user, password))
        return
    dialogs[0].user.setText(user)
    dialogs[0].password.setText(password)
    dialogs[0].try_login()


def test_run_review_opens_the_window_and_returns_when_it_closes(qapp, review_template, review_url: str) -> None:
    _, artifacts, _ = review_template
    seen: list[QtReviewWindow] = []
    QTimer.singleShot(50, lambda: _log_in("bob", REVIEWERS["bob"][1]))

    def close_when_loaded() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, QtReviewWindow) and w.isVisible()]
        if windows and windows[0].model.rowCount() == 40 and windows[0].worker.idle():
            seen.append(windows[0])
            windows[0].close()
        else:
            QTimer.singleShot(50, close_when_loaded)

    QTimer.singleShot(50, close_when_loaded)
    assert run_review(review_url, user="", artifacts=artifacts) == 0
    assert seen and seen[0].ctx.reviewer == "bob" and "inspector.db" in seen[0].windowTitle()


def test_an_operator_may_not_open_the_review(qapp, review_template, review_url: str, monkeypatch) -> None:
    warnings = []
    monkeypatch.setattr("inspector.gui.review.app.QMessageBox.warning", lambda *a: warnings.append(a[2]))
    QTimer.singleShot(50, lambda: _log_in("otto", REVIEWERS["otto"][1]))
    assert run_review(review_url, artifacts=review_template[1]) == 2
    assert "otto (operator) may not review inspections" in warnings[0]


def test_unreachable_database_is_one_line_and_exit_2() -> None:
    result = CliRunner().invoke(cli, ["review", "--database", "postgresql://nobody@127.0.0.1:1/none"])
    assert result.exit_code == 2
    assert result.output.startswith("error: database postgresql+psycopg://nobody@127.0.0.1:1/none unavailable")
    assert len(result.output.strip().splitlines()) == 1
