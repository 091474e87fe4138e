"""Display frames, composed off the UI thread: the overlay (numpy/cv2) and the strip of recent results.

The UI thread only turns the finished images into pixmaps: QImage and QPainter on a QImage are safe in any
thread. Images are 32-bit (``Format_RGB32``), the format the raster backing store paints without conversion.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen

from inspector.domain.inspection import Inspection
from inspector.render import DEFAULT_OPACITY, as_rgb, heatmap_of, overlay

BOX_RGB = (255, 214, 0)
PASS_RGB, FAIL_RGB, EMPTY_RGB, STRIP_BG = "#14a44d", "#dc2f2f", "#2a313b", "#171c23"
SLOT_W, SLOT_H, SLOT_GAP, BAR_H = 120, 142, 8, 24


def compose_overlay(inspection: Inspection, heatmap: bool = True, opacity: float = DEFAULT_OPACITY,
                    size: tuple[int, int] | None = None) -> np.ndarray:
    """HxWx4 uint8 (BGRA, for ``Format_RGB32``): the frame with the heatmap (the archive's renderer) and the
    defect boxes, scaled to fit ``size`` (width, height)."""
    image = inspection.frame.image
    h, w = image.shape[:2]
    found = heatmap_of(inspection.outputs) if heatmap else None
    image = overlay(image, *found, opacity=opacity) if found is not None else as_rgb(image)
    scale = min(size[0] / w, size[1] / h) if size else 1.0
    if scale > 0 and abs(scale - 1.0) > 1e-3:
        interp = cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA
        image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interp)
    else:
        scale = 1.0
    out = cv2.cvtColor(image, cv2.COLOR_RGB2BGRA)
    thickness = max(2, round(min(out.shape[:2]) / 250))
    for r in inspection.decision.regions:
        p0 = (int(r.x * scale) - thickness, int(r.y * scale) - thickness)
        p1 = (int((r.x + r.width) * scale) + thickness, int((r.y + r.height) * scale) + thickness)
        cv2.rectangle(out, p0, p1, (*BOX_RGB[::-1], 255), thickness, cv2.LINE_AA)
    return out


def to_qimage(pixels: np.ndarray) -> QImage:
    """A QImage over the numpy buffer (no copy): whoever holds the QImage must hold ``pixels`` too."""
    h, w = pixels.shape[:2]
    fmt = QImage.Format.Format_RGB32 if pixels.shape[2] == 4 else QImage.Format.Format_RGB888
    return QImage(pixels.data, w, h, pixels.strides[0], fmt)


@dataclass(frozen=True)
class Thumb:
    """One recent result as a small image (the numpy buffer is kept alive with its QImage)."""

    inspection: Inspection
    image: QImage
    pixels: np.ndarray


@dataclass(frozen=True)
class DisplayFrame:
    """The newest inspection at display size, and the strip of recent results (newest first)."""

    inspection: Inspection
    image: QImage
    pixels: np.ndarray
    recent: tuple[Thumb, ...]
    strip: QImage


def slot_label(inspection: Inspection) -> str:
    """What a recent result is called under its thumbnail: the part's serial, else the frame number."""
    part = inspection.frame.part
    return (part.serial or part.id)[-10:] if part is not None else f"#{inspection.frame.id}"


def slot_rect(index: int) -> QRect:
    """Where the ``index``-th result (0 = newest) lies in the strip image."""
    return QRect(index * (SLOT_W + SLOT_GAP), 0, SLOT_W, SLOT_H)


class QtFrameComposer:
    """Composes display frames on the render thread; keeps the thumbnails of the recent results."""

    def __init__(self, slots: int = 10) -> None:
        self.slots = slots
        self._thumbs: dict[int, Thumb] = {}
        self._font = QFont()
        self._font.setPixelSize(14)
        self._font.setWeight(QFont.Weight.Black)

    def compose(self, inspection: Inspection, recent: tuple[Inspection, ...], heatmap: bool, opacity: float,
                size: tuple[int, int] | None) -> DisplayFrame:
        pixels = compose_overlay(inspection, heatmap, opacity, size)
        thumbs = {}
        for item in recent[: self.slots]:
            thumb = self._thumbs.get(id(item))  # the recent deque holds the items: ids are not reused meanwhile
            if thumb is None:
                small = compose_overlay(item, heatmap=False, size=(SLOT_W - 8, SLOT_H - BAR_H - 10))
                thumb = Thumb(item, to_qimage(small), small)
            thumbs[id(item)] = thumb
        self._thumbs = thumbs
        recent_thumbs = tuple(thumbs.values())
        return DisplayFrame(inspection, to_qimage(pixels), pixels, recent_thumbs, self.paint_strip(recent_thumbs))

    def paint_strip(self, thumbs: tuple[Thumb, ...]) -> QImage:
        """One image for the whole strip: each result framed in its verdict colour, verdict and frame below."""
        strip = QImage(self.slots * (SLOT_W + SLOT_GAP) - SLOT_GAP, SLOT_H, QImage.Format.Format_RGB32)
        strip.fill(QColor(STRIP_BG))
        painter = QPainter(strip)
        painter.setFont(self._font)
        for i in range(self.slots):
            rect = slot_rect(i)
            if i >= len(thumbs):
                painter.setPen(QPen(QColor(EMPTY_RGB), 2, Qt.PenStyle.DashLine))
                painter.drawRoundedRect(rect.adjusted(1, 1, -1, -1), 6, 6)
                continue
            inspection = thumbs[i].inspection
            verdict = str(inspection.verdict)
            painter.fillRect(rect, QColor(PASS_RGB if verdict == "PASS" else FAIL_RGB))
            inner = QRect(rect.left() + 4, rect.top() + 4, rect.width() - 8, rect.height() - BAR_H - 6)
            painter.fillRect(inner, QColor("#05070a"))
            image = thumbs[i].image
            target = QRect(0, 0, image.width(), image.height())
            target.moveCenter(inner.center())
            painter.drawImage(target.topLeft(), image)
            painter.setPen(QColor("white"))
            painter.drawText(QRect(rect.left(), rect.bottom() - BAR_H, rect.width(), BAR_H),
                             Qt.AlignmentFlag.AlignCenter, f"{verdict}  {slot_label(inspection)}")
        painter.end()
        return strip
