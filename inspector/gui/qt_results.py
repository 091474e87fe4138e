"""The strip of recent results (thumbnails coloured by verdict) and the dialog that enlarges one."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from inspector.domain.inspection import Inspection
from inspector.gui.qt_frames import SLOT_H, Thumb, compose_overlay, slot_rect, to_qimage
from inspector.gui.qt_widgets import GREY, MUTED, QtImageView, QtVerdictIndicator


class QtResultStrip(QLabel):
    """The last N results, newest on the left: one image composed off the UI thread; click one to enlarge it."""

    clicked = Signal(object)  # Inspection

    def __init__(self, count: int = 10, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.count = count
        self.thumbs: tuple[Thumb, ...] = ()
        self.setFixedHeight(SLOT_H)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def set_results(self, thumbs: tuple[Thumb, ...], strip: QImage) -> None:
        self.thumbs = thumbs
        self.setPixmap(QPixmap.fromImage(strip))

    def slot_center(self, index: int) -> QPoint:
        return slot_rect(index).center()

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt override
        point = event.position().toPoint()
        for i, thumb in enumerate(self.thumbs):
            if slot_rect(i).contains(point):
                self.clicked.emit(thumb.inspection)
                return


def describe(inspection: Inspection) -> str:
    """Score, thresholds, regions, latency and reasons, as lines an operator can read."""
    lines = []
    when = datetime.fromtimestamp(inspection.frame.timestamp).strftime("%Y-%m-%d %H:%M:%S")
    lines.append(f"Frame {inspection.frame.id} · {inspection.frame.camera} · {when}")
    part = inspection.frame.part
    if part is not None:
        lines.append(f"Part {part.id}" + (f" · serial {part.serial}" if part.serial else "")
                     + (f" · lot {part.lot}" if part.lot else ""))
    lines.append(f"Recipe {inspection.recipe} v{inspection.recipe_version}")
    for output in inspection.outputs:
        score = "–" if output.score is None else f"{output.score:.2f}"
        threshold = "–" if output.image_threshold is None else f"{output.image_threshold:.2f}"
        lines.append(f"Model {output.model}: score {score} (threshold {threshold})"
                     + (f" – ERROR {output.error}" if output.error else ""))
    regions = inspection.decision.regions
    if regions:
        lines.append(f"{len(regions)} defect region(s): " + ", ".join(
            f"{r.class_name} {r.width}×{r.height} px at ({r.x}, {r.y})" for r in regions[:6]))
    total = inspection.latencies_ms.get("total")
    if total is not None:
        lines.append(f"Latency {total:.0f} ms")
    return "\n".join(lines)


class QtResultDialog(QDialog):
    """One result enlarged, with the heatmap and defect boxes, its verdict and its reasons."""

    def __init__(self, inspection: Inspection, heatmap: bool = True, opacity: float = 0.5,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.inspection = inspection
        self.setWindowTitle(f"Result – frame {inspection.frame.id}")
        self.resize(980, 720)
        pixels = compose_overlay(inspection, heatmap, opacity, (640, 640))
        view = QtImageView()
        view.set_image(to_qimage(pixels), pixels)
        verdict = QtVerdictIndicator(size_px=72)
        verdict.show_verdict(str(inspection.verdict))
        reasons = inspection.decision.reasons or ("no reasons recorded",)
        self.reasons = QLabel("\n".join(f"• {r}" for r in reasons))
        self.reasons.setWordWrap(True)
        self.reasons.setStyleSheet("font-size: 18px; font-weight: 600;")
        self.reasons.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        details = QLabel(describe(inspection))
        details.setWordWrap(True)
        details.setStyleSheet(f"color: {MUTED}; font-size: 14px;")
        reasons_caption = QLabel("REASONS")
        reasons_caption.setStyleSheet(f"color: {GREY if not inspection.decision.reasons else MUTED}; "
                                      "font-weight: 700; letter-spacing: 1px;")
        side = QVBoxLayout()
        side.addWidget(verdict)
        side.addSpacing(8)
        side.addWidget(reasons_caption)
        side.addWidget(self.reasons)
        side.addSpacing(8)
        side.addWidget(details)
        side.addStretch(1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        side.addWidget(buttons)
        body = QHBoxLayout(self)
        body.addWidget(view, 3)
        body.addLayout(side, 2)
