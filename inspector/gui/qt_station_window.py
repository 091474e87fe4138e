"""The operator's main window: live image with heatmap, PASS/FAIL, counters, recent results, status, alarms."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from inspector.access.recipes import RecipeBook
from inspector.access.roles import Permission
from inspector.access.service import AccessError, AccessService, UserSession
from inspector.config import ConfigError
from inspector.gui.qt_login import IdleLogout, QtLoginDialog, QtSignatureDialog, session_text
from inspector.gui.qt_results import QtResultDialog, QtResultStrip
from inspector.gui.qt_settings_dialog import QtSettingsDialog
from inspector.gui.qt_widgets import (
    MUTED,
    STYLE,
    QtAlarmBanner,
    QtCounters,
    QtImageView,
    QtStatusLights,
    QtVerdictIndicator,
    caption,
    fixed_label,
    panel,
)
from inspector.gui.station_controller import (
    CLOSED,
    ERROR,
    HOLDING,
    RUNNING,
    STARTING,
    STOPPED,
    STOPPING,
    DisplayFrame,
    StationController,
    StationStatus,
)
from inspector.station.errors import StartupError

POLL_MS = 250
SIDE_W = 480


class QtStationWindow(QMainWindow):
    """Readable from 3 m: the verdict and the alarms are the biggest things on screen."""

    def __init__(self, controller: StationController, parent: QWidget | None = None,
                 review: Callable[[UserSession | None], QWidget] | None = None, access: AccessService | None = None,
                 idle_logout_s: float = 900.0) -> None:
        """``review(session)`` opens the QA review window (offered to users whose role may review); with
        ``access``, people log in here, and what they may do is the access service's to decide."""
        super().__init__(parent)
        self.controller = controller
        self.access = access
        self._open_review = review
        self.login_dialog: QtLoginDialog | None = None
        self.signature_dialog: QtSignatureDialog | None = None
        self.review_window: QWidget | None = None
        self.last_frame: DisplayFrame | None = None
        self.last_status: StationStatus | None = None
        self._close_requested = False
        self._normal_geometry = None
        self.setWindowTitle("Inspector – operator station")
        self.setStyleSheet(STYLE)
        self.resize(1500, 940)
        self._build()
        self._build_actions()
        controller.frameReady.connect(self._on_frame, Qt.ConnectionType.QueuedConnection)
        controller.stateChanged.connect(self._on_state, Qt.ConnectionType.QueuedConnection)
        controller.startFailed.connect(self._on_start_failed, Qt.ConnectionType.QueuedConnection)
        controller.refused.connect(self._on_refused, Qt.ConnectionType.QueuedConnection)
        self.idle = IdleLogout(idle_logout_s, self.log_out, self)
        self.poll_timer = QTimer(self)
        self.poll_timer.setInterval(POLL_MS)
        self.poll_timer.timeout.connect(self.poll)
        self.poll_timer.start()
        self._load_recipes()
        self._on_state(controller.state)
        self._show_session()
        self.poll()

    # ---- layout ------------------------------------------------------------------------------------------------
    def _build(self) -> None:
        title = QLabel("INSPECTOR")
        title.setObjectName("title")
        self.station_label = QLabel()
        self.station_label.setStyleSheet(f"color: {MUTED}; font-size: 16px;")
        self.recipe_combo = QComboBox()
        self.recipe_combo.setMinimumWidth(240)
        self.recipe_combo.setToolTip("Recipe (YAML files in the recipe's folder); change it while stopped")
        self.recipe_combo.currentIndexChanged.connect(self._on_recipe_chosen)
        self.start_button = QPushButton("▶  START  F5")
        self.start_button.setObjectName("start")
        self.stop_button = QPushButton("■  STOP  F6")
        self.stop_button.setObjectName("stop")
        self.settings_button = QPushButton("Settings…")
        self.fullscreen_button = QPushButton("Full screen  F11")
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.settings_button.clicked.connect(self.open_settings)
        self.fullscreen_button.clicked.connect(self.toggle_fullscreen)
        self.review_button = QPushButton("QA review  F9")
        self.review_button.clicked.connect(self.open_review)
        self.session_label = QLabel(session_text(None))
        self.session_label.setStyleSheet(f"color: {MUTED}; font-size: 14px;")
        self.login_button = QPushButton("Log in")
        self.login_button.clicked.connect(self.toggle_login)
        self.login_button.setVisible(self.access is not None)
        header = QHBoxLayout()
        header.addWidget(title)
        header.addSpacing(14)
        header.addWidget(self.station_label)
        header.addStretch(1)

        header.addWidget(caption("Recipe"))
        header.addWidget(self.recipe_combo)
        header.addSpacing(12)
        for button in (self.start_button, self.stop_button, self.settings_button, self.review_button,
                       self.fullscreen_button):
            header.addWidget(button)

        self.lights = QtStatusLights()
        self.camera_light, self.model_light = self.lights.camera, self.lights.model
        self.database_light, self.line_light = self.lights.database, self.lights.line_io
        self.clock = QLabel()
        self.clock.setStyleSheet("font-size: 20px; font-weight: 700; background: transparent;")
        for widget in (self.session_label, self.login_button, self.clock):  # who is logged in, beside the time
            widget.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)  # never squeezed
            self.lights.layout().addWidget(widget)
        self.lights.layout().insertSpacing(self.lights.layout().count() - 1, 16)
        self.alarms = QtAlarmBanner()

        self.image_view = QtImageView()
        self.image_view.resized.connect(self._on_view_resized)
        self.heatmap_box = QCheckBox("Heatmap  (H)")
        self.heatmap_box.setChecked(self.controller.heatmap)
        self.heatmap_box.toggled.connect(self._on_heatmap)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(round(self.controller.opacity * 100))
        self.opacity_slider.setMaximumWidth(260)
        self.opacity_slider.valueChanged.connect(self._on_opacity)
        self.frame_info = fixed_label(420, 24, f"color: {MUTED}; font-size: 14px;")
        self.frame_info.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        image_panel = panel()
        image_box = QVBoxLayout(image_panel)
        image_box.setContentsMargins(8, 8, 8, 8)
        image_box.addWidget(self.image_view, 1)
        controls = QHBoxLayout()
        controls.addWidget(self.heatmap_box)
        controls.addSpacing(16)
        controls.addWidget(QLabel("Opacity"))
        controls.addWidget(self.opacity_slider)
        controls.addStretch(1)
        controls.addWidget(self.frame_info)
        image_box.addLayout(controls)

        self.indicator = QtVerdictIndicator()
        self.reasons = fixed_label(SIDE_W - 28, 72, "font-size: 18px; font-weight: 600;")
        self.counters = QtCounters()
        self.reset_button = QPushButton("Reset counters (new shift/lot)")
        self.reset_button.clicked.connect(self.reset_counters)
        self.ack_button = QPushButton("Acknowledge alarms")
        self.ack_button.setToolTip("After a disk fault is fixed: the station tries its journal again and leaves HOLD")
        self.ack_button.clicked.connect(self.controller.acknowledge)
        self.rates = fixed_label(SIDE_W - 28, 44, f"color: {MUTED}; font-size: 14px;")
        side_panel = panel()
        side_panel.setFixedWidth(SIDE_W)
        side = QVBoxLayout(side_panel)
        side.setContentsMargins(14, 14, 14, 14)
        side.addWidget(caption("Last part"))
        side.addWidget(self.indicator)
        side.addWidget(self.reasons)
        side.addSpacing(10)
        side.addWidget(caption("Shift / lot"))
        side.addWidget(self.counters)
        side.addWidget(self.rates)
        side.addStretch(1)
        side.addWidget(self.ack_button)
        side.addWidget(self.reset_button)

        body = QHBoxLayout()
        body.addWidget(image_panel, 1)
        body.addWidget(side_panel)

        self.strip = QtResultStrip(10)
        self.strip.clicked.connect(self.show_result)
        strip_panel = panel()
        strip_box = QVBoxLayout(strip_panel)
        strip_box.setContentsMargins(10, 6, 10, 8)
        strip_box.addWidget(caption("Last results – click to enlarge"))
        strip_box.addWidget(self.strip)
        self.notice = QLabel()
        self.notice.setStyleSheet(f"color: {MUTED}; font-size: 13px;")
        self.notice.setWordWrap(True)  # a long notice (a camera warning, the models' speed) is read whole

        root = QVBoxLayout()
        root.setContentsMargins(12, 10, 12, 8)
        root.setSpacing(8)
        root.addLayout(header)
        root.addWidget(self.lights)
        root.addWidget(self.alarms)
        root.addLayout(body, 1)
        root.addWidget(strip_panel)
        root.addWidget(self.notice)
        central = QWidget()
        central.setLayout(root)
        self.setCentralWidget(central)

    def _build_actions(self) -> None:
        for key, slot in (("F5", self.start), ("F6", self.stop), ("H", self.heatmap_box.toggle),
                          ("F9", self.open_review), ("F11", self.toggle_fullscreen), ("Esc", self.leave_fullscreen)):
            action = QAction(self)
            action.setShortcut(QKeySequence(key))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(slot)
            self.addAction(action)

    # ---- who is logged in -------------------------------------------------------------------------------------
    @property
    def session(self) -> UserSession | None:
        return self.controller.session

    def toggle_login(self) -> None:
        if self.session is not None:
            self.log_out()
            return
        self.login_dialog = QtLoginDialog(self.access, "operator station", self)
        self.login_dialog.accepted.connect(self._logged_in)
        self.login_dialog.open()

    def _logged_in(self) -> None:
        self.log_in(self.login_dialog.session)

    def log_in(self, session: UserSession | None) -> None:
        """Someone logged in: the line was not touched (a change of operator never stops it)."""
        self.controller.session = session
        self.idle.arm()
        self._show_session()

    def log_out(self) -> None:
        if self.session is not None and self.access is not None:
            self.access.record("logout", "user", self.session, {"where": "operator station"})
        self.controller.session = None
        self.idle.disarm()
        if self.review_window is not None:
            self.review_window.close()
        self._show_session()

    def _may(self, permission: Permission) -> bool:
        return self.access is None or (self.session is not None and self.session.may(permission))

    def _show_session(self) -> None:
        self.session_label.setText(session_text(self.session))
        self.login_button.setText("Log out" if self.session else "Log in")
        self.review_button.setVisible(self._open_review is not None and self._may(Permission.REVIEW)
                                      and (self.access is None or self.session is not None))

    def _refuse(self, permission: Permission, detail: str) -> bool:
        """True (and a notice, and an audit row) when the logged-in user may not: the service decides."""
        if self.access is None:
            return False
        try:
            self.access.require(self.session, permission, detail)
        except AccessError as exc:
            self._on_refused(str(exc))
            return True
        return False

    def _on_refused(self, message: str) -> None:
        self.notice.setText(f"Refused: {message}")

    # ---- commands ----------------------------------------------------------------------------------------------
    def open_review(self) -> None:
        """Show the QA review window (one per station window), for users whose role may review."""
        if self._open_review is None or self._refuse(Permission.REVIEW, "open the QA review"):
            return
        if self.review_window is None or not self.review_window.isVisible():  # a closed one has stopped its workers
            self.review_window = self._open_review(self.session)
        self.review_window.show()
        self.review_window.raise_()
        self.review_window.activateWindow()

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def toggle_fullscreen(self) -> None:
        self.leave_fullscreen() if self.isFullScreen() else self.enter_fullscreen()

    def enter_fullscreen(self) -> None:
        """Full screen; the geometry is set too, for kiosk displays that run without a window manager."""
        if not self.isFullScreen():
            self._normal_geometry = self.geometry()
            self.setGeometry(self.screen().geometry())
        self.showFullScreen()

    def leave_fullscreen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
            if self._normal_geometry is not None:
                self.setGeometry(self._normal_geometry)

    def show_result(self, inspection) -> QtResultDialog:
        dialog = QtResultDialog(inspection, self.controller.heatmap, self.controller.opacity, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def reset_counters(self) -> None:
        self.controller.reset_counters()

    def open_settings(self) -> QtSettingsDialog | None:
        """Camera and recipe settings, for engineers; a recipe change is signed before it is made."""
        if self._refuse(Permission.RECIPE_CHANGE, "open the settings"):
            return None
        try:
            recipe = self.controller.config().recipe
        except StartupError as exc:
            self.notice.setText(f"Settings: {exc}")
            return None
        dialog = QtSettingsDialog(self.controller.config_path, Path(recipe), self,
                                  signed_recipe=self.access is not None)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.saved.connect(self._on_settings_saved)
        # bound methods, not lambdas capturing the dialog: such a closure outlives the deleted dialog and crashes Qt
        dialog.recipeChangeRequested.connect(self._sign_recipe_change)
        self.settings_dialog = dialog
        dialog.open()
        return dialog

    def _sign_recipe_change(self, edits: dict) -> QtSignatureDialog:
        recipe = Path(self.settings_dialog.paths["recipe"])
        changed = ", ".join(f"{'.'.join(map(str, k))} = {v}" for k, v in edits.items())
        signature = QtSignatureDialog(f"{recipe.name}: {changed}", session_text(self.session),
                                      "approved threshold change", self)
        self.signature_dialog, self._pending_recipe_change = signature, (recipe, edits)
        signature.buttons.accepted.connect(self._sign)
        signature.open()
        return signature

    def _sign(self) -> None:
        signature, (recipe, edits) = self.signature_dialog, self._pending_recipe_change
        try:
            version, _ = RecipeBook(self.access).change(self.session, signature.password, signature.meaning,
                                                         recipe, edits)
        except AccessError as exc:
            signature.refuse(str(exc))
            return
        signature.accept()
        self.settings_dialog.recipe_done()
        self.notice.setText(f"{recipe.name} is now version {version}, signed by {self.session.name}.")

    def _on_settings_saved(self) -> None:
        running = self.controller.state in (RUNNING, STARTING)
        self.notice.setText("Settings saved – they apply at the next Start." if running else "Settings saved.")
        self._load_recipes()

    def _load_recipes(self) -> None:
        try:
            config = self.controller.config()
        except (ConfigError, StartupError) as exc:
            self.station_label.setText("configuration invalid")
            self.notice.setText(str(exc))
            return
        camera = self.controller.camera_override or config.camera.kind
        self.station_label.setText(f"{config.station.name}  ·  camera {camera}")
        current = Path(config.recipe)
        files = sorted({*current.parent.glob("*.yaml"), *current.parent.glob("*.yml"), current})
        self.recipe_combo.blockSignals(True)
        self.recipe_combo.clear()
        for path in files:
            self.recipe_combo.addItem(path.stem, str(path))
        self.recipe_combo.setCurrentIndex(files.index(current))
        self.recipe_combo.blockSignals(False)

    def _on_recipe_chosen(self, index: int) -> None:
        if index >= 0:
            self.controller.recipe_override = Path(self.recipe_combo.itemData(index))

    def _on_heatmap(self, on: bool) -> None:
        self.controller.heatmap = on
        self.opacity_slider.setEnabled(on)
        self.controller.rerender()

    def _on_opacity(self, value: int) -> None:
        self.controller.opacity = value / 100
        self.controller.rerender()

    def _on_view_resized(self, width: int, height: int) -> None:
        self.controller.display_size = (width, height)
        self.controller.rerender()

    # ---- controller events (queued into the UI thread) ---------------------------------------------------------
    def _on_frame(self, _frame: DisplayFrame) -> None:
        frame = self.controller.take_latest() or _frame  # a newer frame may have replaced the one signalled
        self.last_frame = frame
        inspection = frame.inspection
        self.image_view.set_image(frame.image, frame.pixels)
        self.strip.set_results(frame.recent, frame.strip)
        if self.controller.state in (RUNNING, STOPPING):  # on HOLD the indicator keeps saying so
            self.indicator.show_verdict(str(inspection.verdict))
        reasons = "; ".join(inspection.decision.texts)
        if reasons != self.reasons.text():
            self.reasons.setText(reasons)
        c = self.controller.counters  # plain int reads: the counts move with the verdict, the rest at 4 Hz
        self.counters.show_counts(c.inspected, c.passed, c.failed)
        score = inspection.score
        total = inspection.latencies_ms.get("total")
        part = inspection.frame.part
        label = f"part {part.serial or part.id}" + (f" (lot {part.lot})" if part.lot else "") if part else \
            f"frame #{inspection.frame.id}"
        self.frame_info.setText(label
                                + ("" if score is None else f"  ·  score {score:.2f}")
                                + ("" if total is None else f"  ·  {total:.0f} ms"))

    def _on_state(self, state: str) -> None:
        running = state in (RUNNING, HOLDING)
        startable = state in (STOPPED, ERROR)
        self.start_button.setEnabled(startable)
        self.stop_button.setEnabled(running)
        self.recipe_combo.setEnabled(startable)
        if state in (STARTING, STOPPING):
            self.indicator.show_idle("STARTING…" if state == STARTING else "STOPPING…")
        elif state == HOLDING:
            self.indicator.show_idle("HOLD")
        elif running:
            self.indicator.show_idle("READY")  # until the first part of this run is inspected
        elif state == STOPPED:
            self.indicator.show_idle("STOPPED")
        elif state == ERROR:
            self.indicator.show_idle("NOT STARTED")
        elif state == CLOSED and self._close_requested:
            self.close()

    def _on_start_failed(self, message: str) -> None:
        self.notice.setText(message)
        self.poll()

    def poll(self) -> None:
        """About 4 Hz: counters, lights and alarms from cheap attribute reads."""
        now = datetime.now().strftime("%Y-%m-%d  %H:%M:%S")
        if now != self.clock.text():
            self.clock.setText(now)
        status = self.controller.status()
        self.last_status = status
        c = status.counters
        self.counters.show_counts(c.inspected, c.passed, c.failed)
        p99 = "–" if c.latency_p99_ms is None else f"{c.latency_p99_ms:.0f} ms"
        self.rates.setText(f"{c.rate:.1f} parts/s  ·  p99 latency {p99}  ·  dropped {c.dropped_total}"
                           f"  ·  logged {status.logged}")
        self.alarms.set_alarms(status.alarms)
        self.lights.show_status(status)
        if status.notices and not self.notice.text():
            self.notice.setText(" · ".join(status.notices))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        """Closing stops the station and flushes the writer off the UI thread, then closes for real."""
        if self.review_window is not None:
            self.review_window.close()
        if self.controller.state == CLOSED:
            self.poll_timer.stop()
            event.accept()
            return
        self._close_requested = True
        self.indicator.show_idle("STOPPING…")
        self.notice.setText("Stopping the station and writing the last inspections…")
        self.controller.shutdown()
        event.ignore()
