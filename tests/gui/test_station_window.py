"""The operator window on the real station: Start/Stop, verdict, counters, alarms, recent results, screenshot."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from inspector.config import load_station_config
from inspector.domain.line import LineIOStatus, LineState
from inspector.gui.app import review_opener
from inspector.gui.qt_results import QtResultDialog
from inspector.gui.qt_settings_dialog import QtSettingsDialog
from inspector.gui.qt_widgets import dark_palette
from inspector.gui.station_controller import CLOSED, ERROR, RUNNING, STOPPED
from inspector.station.errors import ModelRefused
from inspector.station.factory import database_url
from inspector.station.runtime import StationStatus
from inspector.storage.database import make_engine
from tests.accounts import accounts
from tests.integration.station.conftest import write_station

pytestmark = pytest.mark.slow
START_S = 60_000  # ms: opening the bundle and migrating the database on a busy 2-core machine


def _rows(config: Path) -> int:
    engine = make_engine(f"sqlite:///{config.parent / 'station' / 'inspector.db'}")
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("select count(*) from inspections")).scalar_one()
    finally:
        engine.dispose()


def _start(qtbot, window) -> None:
    qtbot.mouseClick(window.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.controller.state == RUNNING, timeout=START_S)


def test_window_builds_stopped_with_its_controls(qtbot, make_window, station_config: Path) -> None:
    window = make_window(station_config)
    assert window.indicator.text() == "STOPPED"
    assert window.start_button.isEnabled() and not window.stop_button.isEnabled()
    assert window.recipe_combo.currentText() == "recipe" and window.recipe_combo.isEnabled()
    assert (window.line_light.level, window.line_light.detail) == ("off", "not configured")  # none in the config
    assert window.camera_light.level == "off" and not window.alarms.isVisible()
    assert {a.shortcut().toString() for a in window.actions()} == {"F5", "F6", "H", "F9", "F11", "Esc"}
    assert not window.review_button.isVisible()  # an operator gets no QA review
    window.open_review()
    assert window.review_window is None
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window, Qt.Key.Key_H)
    assert window.controller.heatmap is False and not window.opacity_slider.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_F11)
    assert window.isFullScreen()
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not window.isFullScreen()
    dialog = window.open_settings()
    assert isinstance(dialog, QtSettingsDialog) and dialog.paths["recipe"].name == "recipe.yaml"
    dialog.reject()


def test_start_and_stop_drive_the_real_station(qtbot, make_window, station_config: Path) -> None:
    window = make_window(station_config)
    controller = window.controller
    _start(qtbot, window)
    assert not window.start_button.isEnabled() and not window.recipe_combo.isEnabled()
    qtbot.waitUntil(lambda: controller.counters.snapshot().inspected >= 6, timeout=30_000)
    qtbot.waitUntil(lambda: window.indicator.text() in ("PASS", "FAIL"))
    qtbot.waitUntil(lambda: window.camera_light.level == "ok" and window.model_light.level == "ok")
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window, Qt.Key.Key_F6)  # the Stop shortcut
    qtbot.waitUntil(lambda: controller.state == STOPPED, timeout=30_000)
    qtbot.waitUntil(lambda: window.indicator.text() == "STOPPED" and window.start_button.isEnabled())
    inspected = controller.station.counters.snapshot().inspected
    assert inspected >= 6
    assert _rows(station_config) == inspected  # Stop flushed every inspection into SQLite
    qtbot.waitUntil(lambda: window.database_light.detail.startswith(f"{inspected:,} logged"))


def test_models_too_slow_for_the_camera_are_shown_whole(qtbot, make_window, station_config: Path,
                                                        monkeypatch) -> None:
    monkeypatch.setattr("inspector.inference.equivalence.per_image_ms", lambda timings: 100.0)  # 20 fps camera
    window = make_window(station_config)
    _start(qtbot, window)
    qtbot.waitUntil(lambda: window.notice.text().startswith("models too slow for the camera: about 100 ms per "
                                                            "frame on onnxruntime:cpu"), timeout=10_000)
    assert "the camera gives 20" in window.notice.text() and window.notice.wordWrap()


def test_a_start_clicked_while_the_last_operation_finishes_runs_after_it(qtbot, make_window,
                                                                       station_config: Path) -> None:
    """A stop sets STOPPED before its thread ends; a Start clicked in that gap was dropped without a word."""
    window = make_window(station_config)
    controller = window.controller
    with controller._busy:  # the window's one operation in flight, as a stop writing its last rows holds it
        qtbot.mouseClick(window.start_button, Qt.MouseButton.LeftButton)
        assert controller.state == STOPPED
    qtbot.waitUntil(lambda: controller.state == RUNNING, timeout=START_S)
    window.stop()
    qtbot.waitUntil(lambda: controller.state == STOPPED, timeout=30_000)


def test_verdict_counters_and_camera_alarm_follow_the_station(qtbot, make_window, station_config: Path) -> None:
    window = make_window(station_config)
    controller = window.controller
    _start(qtbot, window)
    seen = []
    controller.station.add_listener(seen.append)
    qtbot.waitUntil(lambda: len(seen) >= 5, timeout=30_000)

    camera = controller.station.camera
    camera.unplug()
    qtbot.waitUntil(lambda: window.alarms.isVisible(), timeout=5_000)
    assert "Camera lost – reconnecting…" in window.alarms.text()
    assert window.camera_light.level == "error"
    # No parts arrive while the camera is lost: the display catches up with the newest inspection
    # (older frames may be dropped, the newest never is) and the counters with the station's.
    qtbot.waitUntil(lambda: window.last_frame is not None and window.last_frame.inspection is seen[-1],
                    timeout=10_000)
    assert window.indicator.text() == str(seen[-1].verdict)

    def counters_shown() -> bool:
        s = controller.station.counters.snapshot()
        shown = window.counters
        yield_text = "–" if s.yield_percent is None else f"{s.yield_percent:.1f} %"
        return (shown.inspected.value.text(), shown.passed.value.text(), shown.failed.value.text(),
                shown.yield_percent.value.text()) == (f"{s.inspected:,}", f"{s.passed:,}", f"{s.failed:,}", yield_text)

    qtbot.waitUntil(counters_shown, timeout=2_000)

    camera.replug()
    qtbot.waitUntil(lambda: not window.alarms.isVisible(), timeout=5_000)
    assert window.camera_light.level == "ok"
    before = len(seen)
    qtbot.waitUntil(lambda: len(seen) > before, timeout=10_000)

    qtbot.mouseClick(window.reset_button, Qt.MouseButton.LeftButton)
    assert controller.station.counters.snapshot().inspected <= 2
    qtbot.waitUntil(counters_shown, timeout=2_000)


def test_screenshot_and_enlarged_result(qtbot, make_window, station_config: Path, test_output: Path) -> None:
    window = make_window(station_config)
    _start(qtbot, window)
    seen = []
    window.controller.station.add_listener(seen.append)

    def strip_shows_a_fail() -> bool:
        thumbs = window.strip.thumbs
        return len(thumbs) >= 6 and any(str(t.inspection.verdict) == "FAIL" for t in thumbs)

    qtbot.waitUntil(strip_shows_a_fail, timeout=45_000)
    window.grab().save(str(test_output / "station_window.png"))
    assert (test_output / "station_window.png").stat().st_size > 10_000

    qtbot.mouseClick(window.stop_button, Qt.MouseButton.LeftButton)  # a still strip to click on
    qtbot.waitUntil(lambda: window.controller.state == STOPPED, timeout=30_000)
    qtbot.waitUntil(lambda: window.last_frame.inspection is seen[-1], timeout=5_000)
    index = next(i for i, t in enumerate(window.strip.thumbs) if str(t.inspection.verdict) == "FAIL")
    inspection = window.strip.thumbs[index].inspection
    qtbot.mouseClick(window.strip, Qt.MouseButton.LeftButton, pos=window.strip.slot_center(index))
    dialog = window.findChild(QtResultDialog)
    assert dialog is not None and dialog.inspection is inspection
    assert inspection.decision.texts and all(r in dialog.reasons.text() for r in inspection.decision.texts)
    dialog.grab().save(str(test_output / "station_result_dialog.png"))
    dialog.close()


def test_refused_model_is_an_alarm_not_a_crash(qtbot, make_window, tmp_path: Path) -> None:
    empty = tmp_path / "not-a-bundle"
    empty.mkdir()
    window = make_window(write_station(tmp_path, empty))
    assert window.controller.start()
    qtbot.waitUntil(lambda: window.alarms.isVisible() and window.start_button.isEnabled(), timeout=30_000)
    assert window.controller.state == ERROR and window.alarms.alarms[0].startswith("Model refused: ")
    assert isinstance(window.controller.runtime.startup_error, ModelRefused)
    assert window.model_light.level == "error" and window.indicator.text() == "NOT STARTED"


def test_database_outage_alarm_in_plain_language(make_window, station_config: Path) -> None:
    """The writer keeps journaling while the database is down; the window says so (fakes stand in for the parts)."""
    window = make_window(station_config)
    controller = window.controller
    runtime = controller.runtime
    camera = SimpleNamespace(name="sim-washer", stats=SimpleNamespace(connected=True, reconnects=0, warnings=[]))
    writer = SimpleNamespace(db_ok=False, journaled=3, logged=40, hold_reason=lambda: None, warnings=lambda: ())
    model = SimpleNamespace(bundle=SimpleNamespace(manifest=SimpleNamespace(name="tiny-washer")))
    runtime.parts = SimpleNamespace(camera=camera, writer=writer, models=[model], notices=())
    runtime._state = RUNNING
    try:
        window.poll()
        assert window.alarms.alarms == ("Database offline – 3 inspections buffered in the journal",)
        assert window.database_light.level == "error" and window.camera_light.level == "ok"
        writer.db_ok = True
        window.poll()
        assert not window.alarms.isVisible() and window.database_light.level == "ok"
    finally:
        runtime.parts, runtime._state = None, STOPPED


def test_unreachable_database_at_start_runs_offline_with_an_alarm(qtbot, make_window, tmp_path: Path,
                                                                 tiny_bundle: Path) -> None:
    """The station starts without its database: it inspects, journals, and says so."""
    config = write_station(tmp_path, tiny_bundle)
    text = config.read_text() + "database:\n  url: postgresql://inspector@127.0.0.1:9/nowhere\n"
    config.write_text(text)
    window = make_window(config)
    _start(qtbot, window)
    qtbot.waitUntil(lambda: window.database_light.level == "error" and window.alarms.isVisible(), timeout=30_000)
    assert any(a.startswith("Database offline – ") and "buffered in the journal" in a for a in window.alarms.alarms)
    assert window.controller.runtime.startup_error is None


def test_a_qa_user_opens_the_review_of_the_station_database(qtbot, make_window, station_config: Path,
                                                            test_output: Path) -> None:
    app = QApplication.instance()
    previous = app.palette()
    app.setPalette(dark_palette())  # as run_station does
    try:
        _qa_user_opens_the_review(qtbot, make_window, station_config, test_output)
    finally:
        app.setPalette(previous)


def _qa_user_opens_the_review(qtbot, make_window, station_config: Path, test_output: Path) -> None:
    url = database_url(load_station_config(station_config))
    (station_config.parent / "station").mkdir()
    access = accounts(url)
    window = make_window(station_config, review=review_opener(url), access=access)
    assert not window.review_button.isVisible()  # nobody is logged in
    window.log_in(access.authenticate("olga", "operator-pass-1"))
    assert not window.review_button.isVisible()  # an operator gets no QA review
    _start(qtbot, window)
    qtbot.waitUntil(lambda: window.controller.counters.snapshot().inspected >= 4, timeout=30_000)
    window.stop()
    qtbot.waitUntil(lambda: window.controller.state == STOPPED, timeout=30_000)
    logged = _rows(station_config)
    window.log_out()
    window.log_in(access.authenticate("quinn", "qa-review-pass-1"))
    assert window.review_button.isVisible()
    qtbot.mouseClick(window.start_button, Qt.MouseButton.LeftButton)  # QA does not run the line
    qtbot.waitUntil(lambda: window.notice.text().startswith("Refused:"), timeout=10_000)
    assert "qa" in window.notice.text() and window.controller.state == STOPPED

    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window, Qt.Key.Key_F9)
    review = window.review_window
    assert review is not None and review.isVisible()
    qtbot.addWidget(review)
    qtbot.waitUntil(lambda: review.model.total == logged, timeout=30_000)
    assert review.ctx.reviewer == "quinn"
    # Readable under the station's dark application palette: dark text on a light table.
    palette = review.table.palette()
    assert palette.color(QPalette.ColorRole.Base).lightness() > 200
    assert palette.color(QPalette.ColorRole.Text).lightness() < 80
    assert review.grab().save(str(test_output / "station_qa_review.png"))
    review.close()




def test_the_line_io_light_shows_what_is_configured(make_window, station_config: Path) -> None:
    window = make_window(station_config)
    counters = window.controller.counters.snapshot()
    plc = LineIOStatus("opcua", True, "serving", peer="opc.tcp://10.0.0.7:4840/inspector/", heartbeat_age_s=0.4)
    mes = LineIOStatus("mqtt", False, "broker unreachable")
    window.lights.show_status(StationStatus(RUNNING, counters, line_io=(plc,), line_sees=(LineState.READY, None)))
    assert (window.line_light.level, window.line_light.detail) == (
        "ok", "opcua opc.tcp://10.0.0.7:4840/inspector/ · line sees READY · heartbeat 0.4 s ago")
    window.lights.show_status(StationStatus(RUNNING, counters, line_io=(plc,),
                                            line_sees=(LineState.HOLDING, "PLC heartbeat lost (6 s)")))
    assert window.line_light.level == "warn" and "line sees HOLDING" in window.line_light.detail
    window.lights.show_status(StationStatus(RUNNING, counters, line_io=(plc, mes)))
    assert (window.line_light.level, window.line_light.detail) == ("error", "mqtt: broker unreachable")
    window.lights.show_status(StationStatus(RUNNING, counters))
    assert (window.line_light.level, window.line_light.detail) == ("off", "not configured")


def test_closing_the_window_runs_the_runtimes_close_sequence(qtbot, make_window, station_config: Path) -> None:
    window = make_window(station_config)
    runtime = window.controller.runtime
    _start(qtbot, window)
    qtbot.waitUntil(lambda: runtime.counters.snapshot().inspected >= 5, timeout=30_000)
    camera, writer = runtime.parts.camera, runtime.parts.writer
    window.close()
    qtbot.waitUntil(lambda: runtime.state == CLOSED and not window.isVisible(), timeout=60_000)
    report = runtime.last_close
    assert [step.split(" (")[0] for step in report.steps] == [
        "acquisition stopped", "pipeline drained", "writer closed", f"camera {camera.name} closed"]
    assert camera.stats.closed and report.camera_closed
    inspected = runtime.counters.snapshot().inspected
    assert report.journaled == writer.journaled == 0 and report.logged == inspected == _rows(station_config)
    assert not any((station_config.parent / "station" / "journal").glob("*.json"))


def test_with_a_line_the_light_shows_the_peer_and_each_result_its_serial(qtbot, make_window, tmp_path: Path,
                                                                         tiny_bundle: Path, test_output: Path) -> None:
    from inspector.integration.line_sim import simulate
    from tests.integration.line.conftest import line_station

    config, line = line_station(tmp_path, tiny_bundle)
    window = make_window(config, lines=("opcua",))
    _start(qtbot, window)
    results = {}
    plc = threading.Thread(target=lambda: results.update(r=simulate("opcua", 12, 8, "LOT-W", line["opcua"])))
    plc.start()
    qtbot.waitUntil(lambda: window.line_light.level == "ok" and "heartbeat" in window.line_light.detail
                    and "s ago" in window.line_light.detail, timeout=30_000)
    qtbot.waitUntil(lambda: window.frame_info.text().startswith("part ") and "lot LOT-W" in window.frame_info.text(),
                    timeout=30_000)
    plc.join(60)
    assert results["r"].summary().startswith("parts=12 verdicts=12")
    assert "opc.tcp://127.0.0.1:" in window.line_light.detail and "line sees" in window.line_light.detail
    window.grab().save(str(test_output / "station_window_line.png"))
