"""Login, idle logout and signed threshold changes at the station window, on its real database."""

from __future__ import annotations

from pathlib import Path

import yaml
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox
from sqlalchemy import select

from inspector.config import load_station_config
from inspector.gui.station_controller import RUNNING, STOPPED
from inspector.station.factory import database_url
from inspector.storage.orm import AuditRow
from tests.accounts import PASSWORDS, accounts

START_S = 60_000


def _setup(station_config: Path):
    (station_config.parent / "station").mkdir(exist_ok=True)
    url = database_url(load_station_config(station_config))
    return accounts(url)


def _actions(access) -> list[str]:
    with access.uow_factory() as uow:
        return list(uow.session.scalars(select(AuditRow.action).order_by(AuditRow.seq)))


def _log_in(qtbot, window, name: str, password: str):
    qtbot.mouseClick(window.login_button, Qt.MouseButton.LeftButton)
    dialog = window.login_dialog
    qtbot.waitUntil(dialog.isVisible)
    qtbot.keyClicks(dialog.user, name)
    qtbot.keyClicks(dialog.password, password)
    return dialog


def test_login_with_a_wrong_then_the_right_password(qtbot, make_window, station_config: Path,
                                                    test_output: Path) -> None:
    access = _setup(station_config)
    window = make_window(station_config, access=access)
    assert window.session_label.text() == "Not logged in" and window.login_button.text() == "Log in"
    dialog = _log_in(qtbot, window, "olga", "not-her-password")
    assert dialog.grab().save(str(test_output / "login_dialog.png"))
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)
    assert dialog.isVisible() and dialog.error.text() == "wrong user name or password"
    assert dialog.password.text() == "" and window.session is None
    qtbot.keyClicks(dialog.password, PASSWORDS["olga"])
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.session is not None)
    assert window.session_label.text() == "olga (operator)" and window.login_button.text() == "Log out"
    qtbot.wait(100)  # the layout follows the new texts on the next turn of the event loop
    assert window.grab().save(str(test_output / "station_logged_in.png"))
    assert _actions(access)[-2:] == ["login.failure", "login.success"]


def test_idle_logout_and_an_operator_change_leaves_the_line_running(qtbot, make_window,
                                                                     station_config: Path) -> None:
    access = _setup(station_config)
    window = make_window(station_config, access=access, idle_logout_s=1.5)
    window.log_in(access.authenticate("olga", PASSWORDS["olga"]))
    qtbot.mouseClick(window.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.controller.state == RUNNING, timeout=START_S)
    qtbot.waitUntil(lambda: window.session is None, timeout=10_000)  # nobody touched it for 1.5 s
    assert window.session_label.text() == "Not logged in" and "logout" in _actions(access)
    assert window.controller.state == RUNNING  # logging out does not stop the line
    inspected = window.controller.counters.snapshot().inspected
    qtbot.waitUntil(lambda: window.controller.counters.snapshot().inspected > inspected, timeout=10_000)
    window.log_in(access.authenticate("eve", PASSWORDS["eve"]))  # the next person, line still running
    assert window.controller.state == RUNNING
    window.stop()
    qtbot.waitUntil(lambda: window.controller.state == STOPPED, timeout=30_000)
    people = [a for a in _actions(access) if a != "inspections.logged"]  # the seals of logged batches
    assert people[-4:] == ["station.start", "logout", "login.success", "station.stop"]


def test_an_operator_may_not_change_thresholds_an_engineer_signs_them(qtbot, make_window, station_config: Path,
                                                                      test_output: Path) -> None:
    access = _setup(station_config)
    recipe = station_config.parent / "recipe.yaml"
    before = recipe.read_text()
    window = make_window(station_config, access=access)
    window.log_in(access.authenticate("olga", PASSWORDS["olga"]))
    assert window.open_settings() is None
    assert window.notice.text().startswith("Refused: olga (operator) may not change recipes")
    assert _actions(access)[-1] == "access.denied" and recipe.read_text() == before

    window.log_out()
    window.log_in(access.authenticate("eve", PASSWORDS["eve"]))
    settings = window.open_settings()
    settings.editor("models.0.image_threshold").setText("30")
    assert settings.save()
    signature = window.signature_dialog
    qtbot.waitUntil(signature.isVisible)
    assert recipe.read_text() == before  # nothing changes before the signature
    qtbot.keyClicks(signature.password_edit, "a-wrong-password")
    assert signature.grab().save(str(test_output / "signature_dialog.png"))
    qtbot.mouseClick(signature.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert "wrong password" in signature.error.text() and recipe.read_text() == before
    signature.password_edit.setText(PASSWORDS["eve"])
    qtbot.mouseClick(signature.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not signature.isVisible())
    changed = yaml.safe_load(recipe.read_text())
    assert changed["version"] == 4 and changed["models"][0]["image_threshold"] == 30
    assert "version 4, signed by eve" in window.notice.text()
    assert _actions(access)[-2:] == ["signature.failure", "recipe.change"]
