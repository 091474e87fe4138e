"""The detail of one inspection: picture with heatmap and region boxes, score against threshold, facts, reviews."""

from __future__ import annotations

import html
from datetime import tzinfo
from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from inspector.review.charts_data import local_tz
from inspector.review.detail import DetailPictures, InspectionDetail, ModelResult

ACTION_TEXT = {"confirm": "confirmed", "false_reject": "false reject", "escape": "escape", "comment": "comment"}
STATUS_TEXT = {"unreviewed": "not reviewed", "confirmed": "confirmed defect", "false_positive": "false reject",
               "false_negative": "escape", "escalated": "escalated"}
RED, GREEN, AMBER = QColor("#c0392b"), QColor("#1e7b45"), QColor("#f0a020")


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def model_line(m: ModelResult, deciding: bool) -> str:
    """One model of the inspection: its score against its thresholds (the deciding one in bold), or its error."""
    text = (f"{m.position + 1}. {html.escape(m.bundle_name)}: score {_number(m.score)}"
            f" / image {_number(m.image_threshold)} · pixel {_number(m.pixel_threshold)}")
    if m.latency_ms is not None:
        text += f" · {m.latency_ms:.0f} ms"
    if m.error:
        text += f' · <span style="color:#b3261e">error: {html.escape(m.error)}</span>'
    return f"<b>{text}</b>" if deciding else text


def to_qimage(array: np.ndarray) -> QImage:
    data = np.ascontiguousarray(array)
    if data.ndim == 2:
        return QImage(data.data, data.shape[1], data.shape[0], data.strides[0], QImage.Format.Format_Grayscale8).copy()
    return QImage(data.data, data.shape[1], data.shape[0], data.strides[0], QImage.Format.Format_RGB888).copy()


class QtImageView(QWidget):
    """The picture scaled to fit (aspect kept) with the region boxes and their classes drawn on top."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.image: QImage | None = None
        self.regions: list[tuple[int, int, int, int, str, float]] = []
        self.boxes_visible = True
        self.message = "Select an inspection"
        self.setMinimumSize(280, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def show_picture(self, image: np.ndarray | None, regions: list[tuple[int, int, int, int, str, float]],
                     message: str = "") -> None:
        self.image = None if image is None else to_qimage(image)
        self.regions, self.message = regions, message
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#20242b"))
        if self.image is None:
            painter.setPen(QColor("#9aa3af"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.message)
            return
        w, h = self.image.width(), self.image.height()
        scale = min(self.width() / w, self.height() / h)
        target = QRectF((self.width() - w * scale) / 2, (self.height() - h * scale) / 2, w * scale, h * scale)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale < 1)
        painter.drawImage(target, self.image)
        if not self.boxes_visible:
            return
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
        painter.setFont(font)
        for x, y, bw, bh, name, score in self.regions:
            box = QRectF(target.x() + x * scale, target.y() + y * scale, bw * scale, bh * scale)
            painter.setPen(QPen(QColor("#ffe14d"), 2))
            painter.drawRect(box)
            label = f"{name} {score:.2f}"
            tag = QRectF(box.x(), max(target.y(), box.y() - 16), painter.fontMetrics().horizontalAdvance(label) + 8, 16)
            painter.fillRect(tag, QColor(20, 20, 20, 190))
            painter.setPen(QColor("#ffe14d"))
            painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, label)


class QtScoreBar(QWidget):
    """A horizontal bar of the score with the image threshold marked."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.score: float | None = None
        self.threshold: float | None = None
        self.setFixedHeight(34)

    def set_values(self, score: float | None, threshold: float | None) -> None:
        self.score, self.threshold = score, threshold
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        bar = QRectF(0, 4, self.width() - 1, 14)
        painter.setPen(QPen(QColor("#b8c0cc"), 1))
        painter.setBrush(QColor("#eef1f5"))
        painter.drawRoundedRect(bar, 3, 3)
        if self.score is None:
            painter.setPen(QColor("#5b6573"))
            painter.drawText(QRectF(0, 18, self.width(), 16), Qt.AlignmentFlag.AlignLeft, "no score")
            return
        top = max(1.0, self.score * 1.15, (self.threshold or 0) * 1.5)
        fail = self.threshold is not None and self.score >= self.threshold
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(RED if fail else GREEN)
        painter.drawRoundedRect(QRectF(bar.x(), bar.y(), bar.width() * min(self.score / top, 1.0), bar.height()), 3, 3)
        painter.setPen(QColor("#1c2430"))
        painter.drawText(QRectF(0, 18, self.width(), 16), Qt.AlignmentFlag.AlignLeft, f"score {self.score:.3f}")
        if self.threshold is not None:
            x = bar.x() + bar.width() * min(self.threshold / top, 1.0)
            painter.setPen(QPen(QColor("#1c2430"), 2))
            painter.drawLine(int(x), 0, int(x), 22)
            painter.drawText(QRectF(0, 18, self.width(), 16), Qt.AlignmentFlag.AlignRight,
                             f"image threshold {self.threshold:.3f}")


class QtDetailView(QWidget):
    """Shows an :class:`InspectionDetail`; buttons and the comment line emit ``review_requested``."""

    review_requested = Signal(str, object, object)  # action, class name, comment

    def __init__(self, tz: tzinfo | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.tz = tz or local_tz()
        self.detail: InspectionDetail | None = None
        self.pictures: DetailPictures | None = None
        self.title = QLabel("No inspection selected")
        self.title.setObjectName("detailTitle")
        self.status = QLabel("")
        self.status.setObjectName("reviewBadge")
        self.image_view = QtImageView()
        self.heatmap_box, self.boxes_box = QCheckBox("Heatmap (H)"), QCheckBox("Regions (B)")
        for box in (self.heatmap_box, self.boxes_box):
            box.setChecked(True)
            box.toggled.connect(self._redraw)
        self.score_bar = QtScoreBar()
        self.facts = {name: QLabel("—") for name in ("Recipe", "Model bundle", "Models", "Station", "Frame",
                                                   "Latency (ms)", "Reasons", "Regions")}
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setVerticalSpacing(3)
        for name, label in self.facts.items():
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(f"{name}:", label)
        self.history = QLabel("")
        self.history.setObjectName("history")
        self.history.setWordWrap(True)
        self.class_buttons = QGridLayout()
        self.class_buttons.setSpacing(4)
        self.false_reject_button = QPushButton("F  False reject")
        self.escape_button = QPushButton("E  Escape")
        self.false_reject_button.clicked.connect(lambda: self.review_requested.emit("false_reject", None, None))
        self.escape_button.clicked.connect(lambda: self.review_requested.emit("escape", None, None))
        self.comment_edit = QLineEdit(placeholderText="Comment (C), Enter to save")
        self.comment_edit.returnPressed.connect(self._comment)
        toggles = QHBoxLayout()
        toggles.addWidget(self.heatmap_box)
        toggles.addWidget(self.boxes_box)
        toggles.addStretch(1)
        toggles.addWidget(self.status)
        actions = QHBoxLayout()
        actions.addWidget(self.false_reject_button)
        actions.addWidget(self.escape_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.image_view, 1)
        layout.addLayout(toggles)
        layout.addWidget(self.score_bar)
        layout.addLayout(form)
        layout.addWidget(QLabel("Confirm as class (1-9 on a FAIL; on a PASS: escape of that class):"))
        layout.addLayout(self.class_buttons)
        layout.addLayout(actions)
        layout.addWidget(self.comment_edit)
        layout.addWidget(self.history)
        self.set_classes([])

    def set_classes(self, classes: list[str]) -> None:
        while self.class_buttons.count():
            item = self.class_buttons.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        for i, name in enumerate(classes[:9]):
            button = QPushButton(f"{i + 1}  {name}")
            button.setObjectName("classButton")
            button.clicked.connect(lambda _=False, n=name: self.review_requested.emit("class", n, None))
            self.class_buttons.addWidget(button, i // 3, i % 3)

    def _comment(self) -> None:
        text = self.comment_edit.text().strip()
        if text:
            self.review_requested.emit("comment", None, text)
            self.comment_edit.clear()

    def _redraw(self) -> None:
        d, p = self.detail, self.pictures
        if d is None:
            self.image_view.show_picture(None, [], "Select an inspection")
            return
        picture = None
        if p is not None:
            picture = p.heatmap if self.heatmap_box.isChecked() and p.heatmap is not None else p.image
        self.image_view.boxes_visible = self.boxes_box.isChecked()
        message = (p.error if p and p.error else "picture not found in the artifact store")
        self.image_view.show_picture(picture, [(g.x, g.y, g.width, g.height, g.class_name, g.score)
                                               for g in d.regions], message)

    def show_detail(self, detail: InspectionDetail | None, pictures: DetailPictures | None) -> None:
        self.detail, self.pictures = detail, pictures
        self._redraw()
        if detail is None:
            self.title.setText("No inspection selected")
            self.score_bar.set_values(None, None)
            return
        colour = "#b3261e" if detail.verdict == "FAIL" else "#1e7b45"
        when = detail.acquired_at.astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S")
        self.title.setText(f'<span style="color:{colour}">{detail.verdict}</span>&nbsp;&nbsp;#{detail.id}'
                           f'&nbsp;&nbsp;<span style="color:#5b6573;font-weight:normal">{when}</span>')
        status = STATUS_TEXT.get(detail.review_status, detail.review_status)
        self.status.setText(status + (f": {detail.review_class}" if detail.review_class else ""))
        self.status.setProperty("state", detail.review_status)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)
        self.score_bar.set_values(detail.score, detail.image_threshold)
        pixel = "" if detail.pixel_threshold is None else f" · pixel threshold {detail.pixel_threshold:.3f}"
        self.facts["Recipe"].setText(f"{detail.recipe} v{detail.recipe_version}{pixel}")
        self.facts["Model bundle"].setText(detail.bundle or "— (no model output)")
        self.facts["Models"].setText("<br>".join(model_line(m, m.bundle == detail.bundle) for m in detail.models)
                                     or "—")
        self.facts["Station"].setText(f"{detail.station} · camera {detail.camera}")
        part = "" if detail.part_id is None else f" · part {detail.part_id}" + (
            f" serial {detail.serial}" if detail.serial and detail.serial != detail.part_id else "") + (
            f" lot {detail.lot}" if detail.lot else "")
        self.facts["Frame"].setText(f"{detail.frame_id} · uid {detail.uid}{part}")
        self.facts["Latency (ms)"].setText(" · ".join(f"{k} {v:.1f}" for k, v in detail.latencies_ms.items()) or "—")
        codes = f" [{', '.join(detail.reason_codes)}]" if detail.reason_codes else ""
        self.facts["Reasons"].setText(("; ".join(detail.reasons) or "—") + codes)
        self.facts["Regions"].setText(", ".join(f"{g.class_name} {g.width}×{g.height} ({g.score:.2f})"
                                                for g in detail.regions) or "none")
        lines = [f"{r.at.astimezone(self.tz):%m-%d %H:%M} <b>{r.user}</b> {ACTION_TEXT.get(r.action, r.action)}"
                 + (f" <i>{r.class_name}</i>" if r.class_name else "") + (f" — “{r.comment}”" if r.comment else "")
                 for r in detail.reviews[-6:]]
        self.history.setText("<br>".join(lines) if lines else '<span style="color:#7a8391">No reviews yet.</span>')
        self.false_reject_button.setEnabled(detail.verdict == "FAIL")
        self.escape_button.setEnabled(detail.verdict == "PASS")
