"""Operator widgets: dark high-contrast theme, status lights, the PASS/FAIL indicator, counters, alarms, image."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPalette, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from inspector.station.runtime import StationStatus

BG, PANEL, EDGE, TEXT, MUTED = "#0e1116", "#171c23", "#2a313b", "#eef1f4", "#8b95a3"
GREEN, RED, AMBER, GREY, ACCENT = "#14a44d", "#dc2f2f", "#f2a900", "#4b525c", "#2f80ed"
LEVEL_COLOURS = {"ok": GREEN, "warn": AMBER, "error": RED, "off": GREY}

STYLE = f"""
QWidget {{ background: {BG}; color: {TEXT}; font-size: 15px; }}
QFrame#panel {{ background: {PANEL}; border: 1px solid {EDGE}; border-radius: 6px; }}
QFrame#panel QLabel, QFrame#panel QCheckBox, QFrame#panel QSlider {{ background: transparent; }}
QLabel#caption {{ color: {MUTED}; font-size: 13px; font-weight: 600; letter-spacing: 1px; }}
QLabel#title {{ font-size: 22px; font-weight: 800; letter-spacing: 2px; }}
QLabel#muted {{ color: {MUTED}; }}
QPushButton {{ background: #232a33; border: 1px solid #3a434f; border-radius: 5px; padding: 8px 16px;
              font-size: 16px; font-weight: 700; }}
QPushButton:hover {{ background: #2c3540; }}
QPushButton:pressed {{ background: #1b2129; }}
QPushButton:disabled {{ color: #5a626d; background: #181d23; border-color: #262d36; }}
QPushButton#start {{ background: #0f6b33; border-color: #16914a; min-width: 130px; }}
QPushButton#start:hover {{ background: #13803d; }}
QPushButton#stop {{ background: #8a1c1c; border-color: #b52626; min-width: 130px; }}
QPushButton#stop:hover {{ background: #a12222; }}
QPushButton:disabled#start, QPushButton:disabled#stop {{ background: #181d23; border-color: #262d36; }}
QComboBox, QLineEdit {{ background: #10151b; border: 1px solid #3a434f; border-radius: 4px; padding: 6px 8px;
                        font-size: 15px; min-height: 22px; }}
QComboBox QAbstractItemView {{ background: #10151b; selection-background-color: {ACCENT}; }}
QComboBox:disabled {{ color: #7a828d; }}
QCheckBox {{ font-size: 15px; spacing: 8px; }}
QCheckBox::indicator {{ width: 20px; height: 20px; }}
QSlider::groove:horizontal {{ height: 6px; background: #2a313b; border-radius: 3px; }}
QSlider::handle:horizontal {{ width: 18px; margin: -7px 0; border-radius: 9px; background: {ACCENT}; }}
QGroupBox {{ border: 1px solid {EDGE}; border-radius: 6px; margin-top: 14px; padding-top: 10px;
             font-weight: 700; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; color: {MUTED}; }}
QLabel#fieldError {{ color: #ff6b6b; font-size: 13px; }}
QToolTip {{ background: {PANEL}; color: {TEXT}; border: 1px solid {EDGE}; }}
"""


def dark_palette() -> QPalette:
    """Application palette to match ``STYLE`` (menus, dialogs, tooltips)."""
    palette = QPalette()
    for role, colour in ((QPalette.ColorRole.Window, BG), (QPalette.ColorRole.WindowText, TEXT),
                         (QPalette.ColorRole.Base, "#10151b"), (QPalette.ColorRole.AlternateBase, PANEL),
                         (QPalette.ColorRole.Text, TEXT), (QPalette.ColorRole.Button, "#232a33"),
                         (QPalette.ColorRole.ButtonText, TEXT), (QPalette.ColorRole.Highlight, ACCENT),
                         (QPalette.ColorRole.HighlightedText, "#ffffff"), (QPalette.ColorRole.ToolTipBase, PANEL),
                         (QPalette.ColorRole.ToolTipText, TEXT)):
        palette.setColor(role, QColor(colour))
    return palette


def panel(parent: QWidget | None = None) -> QFrame:
    frame = QFrame(parent)
    frame.setObjectName("panel")
    return frame


def caption(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setObjectName("caption")
    return label


class QtStatusLight(QWidget):
    """A coloured lamp with a name and one line of detail: ok (green), warn (amber), error (red), off (grey)."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, False)
        self.level, self.detail = "off", ""
        self._lamp = QLabel()
        self._lamp.setFixedSize(22, 22)
        self._name = QLabel(name.upper())
        self._name.setStyleSheet("font-weight: 800; font-size: 14px; letter-spacing: 1px; background: transparent;")
        self._detail = QLabel()
        self._detail.setObjectName("muted")
        self._detail.setStyleSheet(f"color: {MUTED}; font-size: 13px; background: transparent;")
        text = QVBoxLayout()
        text.setSpacing(0)
        text.addWidget(self._name)
        text.addWidget(self._detail)
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 2, 10, 2)
        row.addWidget(self._lamp)
        row.addLayout(text)
        self.set_state("off", "")

    def set_state(self, level: str, detail: str) -> None:
        if (level, detail) == (self.level, self.detail) and self._detail.text() == detail:
            return
        self.level, self.detail = level, detail
        colour = LEVEL_COLOURS[level]
        glow = "#ffffff55" if level != "off" else "#00000000"
        self._lamp.setStyleSheet(f"background: {colour}; border-radius: 11px; border: 2px solid {glow};")
        self._detail.setText(detail)
        self.setToolTip(detail)


class QtStatusLights(QFrame):
    """Camera, model, database and line I/O lamps, following the station status."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")
        self.camera, self.model = QtStatusLight("Camera"), QtStatusLight("Model")
        self.database, self.line_io = QtStatusLight("Database"), QtStatusLight("Line I/O")
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        for light in (self.camera, self.model, self.database, self.line_io):
            row.addWidget(light, 1)

    def show_status(self, s: StationStatus) -> None:
        if s.camera_connected is None:
            self.camera.set_state("off", s.camera_name or "not started")
        elif s.camera_connected:
            reconnects = f" · {s.camera_reconnects} reconnects" if s.camera_reconnects else ""
            self.camera.set_state("ok", f"{s.camera_name}{reconnects}")
        else:
            self.camera.set_state("error", "lost – reconnecting…")
        if s.model_refused:
            self.model.set_state("error", f"refused: {s.model_refused}")
        elif s.models is None:
            self.model.set_state("off", "not loaded")
        elif s.counters.model_errors:
            self.model.set_state("warn", f"{s.models} · {s.counters.model_errors} errors")
        else:
            self.model.set_state("ok", s.models)
        if s.db_ok is False:
            self.database.set_state("error", f"offline · {s.journaled:,} buffered")
        elif s.models is None:
            self.database.set_state("off", "not connected")
        else:
            pending = f" · {s.journaled} pending" if s.journaled else ""
            self.database.set_state("ok", f"{s.logged:,} logged{pending}")
        self.line_io.set_state(*line_light(s))


def line_light(s: StationStatus) -> tuple[str, str]:
    """The Line I/O lamp: which adapters and peers, what the line sees, the PLC heartbeat's age."""
    if not s.line_io:
        return "off", "not configured"
    down = [line for line in s.line_io if not line.connected]
    if down:
        return "error", " · ".join(f"{x.name}: {x.detail}" for x in down)
    parts = [" · ".join(f"{x.name} {x.peer or ''}".strip() for x in s.line_io)]
    level = "ok"
    if s.line_sees is not None:
        state, reason = s.line_sees
        parts.append(f"line sees {str(state).upper()}")
        if reason:
            level = "warn"
    ages = [x.heartbeat_age_s for x in s.line_io if x.heartbeat_age_s is not None]
    parts.append(f"heartbeat {min(ages):.1f} s ago" if ages else "no PLC heartbeat yet")
    return level, " · ".join(parts)


def fixed_label(width: int, height: int, style: str) -> QLabel:
    """A label of fixed size: new text every frame repaints it without re-laying out the window."""
    label = QLabel()
    label.setFixedSize(width, height)
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    label.setStyleSheet(style)
    return label


class QtVerdictIndicator(QStackedWidget):
    """The verdict, huge and bold: white on green (PASS), red (FAIL), grey (READY, STOPPED, STARTING…).

    Three pre-styled labels are switched, so a new verdict costs no style sheet work on the UI thread.
    """

    def __init__(self, parent: QWidget | None = None, size_px: int = 120) -> None:
        super().__init__(parent)
        self.setMinimumHeight(int(size_px * 1.7))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self._labels = {}
        for name, colour, px in (("PASS", GREEN, size_px), ("FAIL", RED, size_px), ("idle", GREY, size_px * 0.55)):
            label = QLabel(name)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setStyleSheet(f"background: {colour}; color: white; border-radius: 10px; font-size: {int(px)}px; "
                                "font-weight: 900; letter-spacing: 4px;")
            self._labels[name] = label
            self.addWidget(label)
        self.show_idle("STOPPED")

    def text(self) -> str:
        return self.currentWidget().text()

    def show_verdict(self, verdict: str) -> None:
        label = self._labels["PASS" if verdict == "PASS" else "FAIL"]
        if label is not self.currentWidget():
            self.setCurrentWidget(label)

    def show_idle(self, text: str) -> None:
        label = self._labels["idle"]
        if label.text() != text:
            label.setText(text)
        self.setCurrentWidget(label)


class QtCounterTile(QWidget):
    """A caption over one big number."""

    def __init__(self, name: str, colour: str = TEXT, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.value = QLabel("0")
        self.value.setStyleSheet(f"font-size: 46px; font-weight: 800; color: {colour}; background: transparent;")
        self.value.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.value.setFixedSize(210, 60)  # fixed: a new count repaints without re-laying out the window
        box = QVBoxLayout(self)
        box.setContentsMargins(4, 2, 4, 2)
        box.setSpacing(0)
        box.addWidget(caption(name))
        box.addWidget(self.value)

    def set_value(self, text: str) -> None:
        if self.value.text() != text:
            self.value.setText(text)


class QtCounters(QWidget):
    """Inspected, pass, fail and yield % in a 2x2 grid."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.inspected = QtCounterTile("Inspected")
        self.passed = QtCounterTile("Pass", "#3ddc84")
        self.failed = QtCounterTile("Fail", "#ff5c5c")
        self.yield_percent = QtCounterTile("Yield")
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        for i, tile in enumerate((self.inspected, self.yield_percent, self.passed, self.failed)):
            grid.addWidget(tile, i // 2, i % 2)

    def show_counts(self, inspected: int, passed: int, failed: int) -> None:
        yield_percent = 100.0 * passed / inspected if inspected else None
        self.inspected.set_value(f"{inspected:,}")
        self.passed.set_value(f"{passed:,}")
        self.failed.set_value(f"{failed:,}")
        self.yield_percent.set_value("–" if yield_percent is None else f"{yield_percent:.1f} %")


class QtAlarmBanner(QLabel):
    """Active alarms in plain language, one a line, on red; hidden when there are none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.alarms: tuple[str, ...] = ()
        self.setWordWrap(True)
        self.setStyleSheet(f"background: {RED}; color: white; font-size: 20px; font-weight: 800; "
                           "padding: 10px 16px; border-radius: 6px;")
        self.hide()

    def set_alarms(self, alarms: tuple[str, ...]) -> None:
        if alarms == self.alarms:
            return
        self.alarms = alarms
        self.setText("\n".join(f"⚠  {a}" for a in alarms))
        self.setVisible(bool(alarms))


class QtImageView(QLabel):
    """Shows images composed off the UI thread at this widget's size (Qt paints it, no Python per paint);
    says when its size changes so the next image is composed to fit."""

    resized = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: QImage | None = None
        self._keep: object = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(QSize(320, 320))
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setStyleSheet(f"background: #05070a; color: {MUTED}; font-size: 20px;")
        self.setText("No image yet – press START (F5)")

    def set_image(self, image: QImage, keep: object = None) -> None:
        """Show ``image``; ``keep`` is the buffer it points into, held as long as the image is shown."""
        self.image, self._keep = image, keep
        self.setPixmap(QPixmap.fromImage(image))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.resized.emit(self.width(), self.height())
