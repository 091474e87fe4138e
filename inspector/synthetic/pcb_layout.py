"""Fixed artwork of the synthetic circuit board: parts, traces, pads, silkscreen, and their cached rasters.

Coordinates are millimetres in a 20 mm view; ``get_layout`` rasterises everything once per canvas size.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from inspector.synthetic.common import coords, over, slopes

VIEW_MM = 20.0
FONT = cv2.FONT_HERSHEY_SIMPLEX
_CAP = cv2.getTextSize("H", FONT, 1.0, 1)[0][1]


@dataclass(frozen=True)
class Part:
    name: str
    kind: str  # "r", "c", "sot23", "soic8"
    x: float
    y: float
    vertical: bool = False
    marking: str = ""


PARTS = (
    Part("U1", "soic8", 6.5, 8.0, marking="LM358"),
    Part("R1", "r", 13.5, 4.0, marking="103"),
    Part("R2", "r", 13.5, 7.0, marking="472"),
    Part("R3", "r", 13.5, 10.0, marking="221"),
    Part("C1", "c", 3.0, 15.0, vertical=True),
    Part("C2", "c", 6.0, 15.0, vertical=True),
    Part("C3", "c", 16.5, 14.0),
    Part("Q1", "sot23", 11.5, 15.5),
)
LABELS = (
    ("U1", 5.9, 4.9),
    ("R1", 11.9, 3.0),
    ("R2", 11.9, 6.0),
    ("R3", 11.9, 9.0),
    ("C1", 0.6, 15.4),
    ("C2", 7.25, 15.4),
    ("C3", 14.6, 12.9),
    ("Q1", 13.4, 15.3),
    ("TP1", 16.6, 2.1),
)
TRACES = (
    ((9.2, 6.095), (10.4, 6.095), (12.495, 4.0), (12.5, 4.0)),
    ((9.2, 7.365), (11.0, 7.365), (11.365, 7.0), (12.5, 7.0)),
    ((9.2, 8.635), (10.6, 8.635), (11.965, 10.0), (12.5, 10.0)),
    ((9.2, 9.905), (10.0, 9.905), (10.0, 12.9), (11.5, 14.4)),
    ((14.5, 4.0), (18.0, 4.0), (20.0, 2.0), (23.0, 2.0)),
    ((14.5, 7.0), (23.0, 7.0)),
    ((14.5, 10.0), (16.0, 10.0), (17.5, 11.5), (17.5, 14.0)),
    ((15.5, 14.0), (15.5, 15.0), (13.9, 16.6), (12.45, 16.6)),
    ((10.55, 16.6), (10.55, 18.0)),
    ((3.0, 16.0), (3.0, 18.0)),
    ((6.0, 16.0), (6.0, 18.0)),
    ((3.0, 14.0), (3.0, 12.5), (1.5, 11.0), (-3.0, 11.0)),
    ((6.0, 14.0), (6.0, 12.2), (4.6, 12.2), (3.8, 11.4), (3.8, 9.905)),
    ((3.8, 6.095), (1.6, 6.095)),
    ((3.8, 7.365), (-3.0, 7.365)),
    ((3.8, 8.635), (2.2, 8.635), (1.2, 9.635)),
    ((-3.0, 1.0), (8.0, 1.0), (9.5, -0.5), (9.5, -3.0)),
    ((-3.0, 1.6), (8.249, 1.6), (10.1, -0.251), (10.1, -3.0)),
    ((-3.0, 2.2), (8.497, 2.2), (10.7, -0.003), (10.7, -3.0)),
    ((19.0, 9.0), (19.0, 11.0), (21.0, 13.0), (23.0, 13.0)),
)
POWER = (((-3.0, 18.0), (16.2, 18.0)),)
VIAS = ((1.6, 6.095), (1.2, 9.635), (19.0, 9.0), (8.2, 12.9), (15.8, 18.0))
TEST_PAD = (15.5, 1.7, 0.7)
MOUNT = (18.4, 18.4, 1.6, 1.0)


def footprint(part: Part) -> tuple[list[tuple[float, ...]], tuple[float, ...], list[tuple[float, ...]]]:
    """Pads, body and leads of a part as (cx, cy, w, h) rectangles in millimetres."""
    if part.kind in ("r", "c"):
        pads = [(-1.0, 0.0, 1.0, 1.4), (1.0, 0.0, 1.0, 1.4)]
        body, leads = (0.0, 0.0, 2.0, 1.25), [(-0.85, 0.0, 0.35, 1.25), (0.85, 0.0, 0.35, 1.25)]
    elif part.kind == "sot23":
        pads = [(-0.95, 1.1, 0.8, 0.9), (0.95, 1.1, 0.8, 0.9), (0.0, -1.1, 0.8, 0.9)]
        body, leads = (
            (0.0, 0.0, 2.9, 1.3),
            [(-0.95, 0.9, 0.4, 0.7), (0.95, 0.9, 0.4, 0.7), (0.0, -0.9, 0.4, 0.7)],
        )
    else:
        ys = (-1.905, -0.635, 0.635, 1.905)
        pads = [(sx * 2.7, y, 1.55, 0.6) for sx in (-1, 1) for y in ys]
        body, leads = (0.0, 0.0, 3.9, 4.9), [(sx * 2.45, y, 1.1, 0.42) for sx in (-1, 1) for y in ys]

    def place(r: tuple[float, ...]) -> tuple[float, ...]:
        x, y, w, h = (r[1], r[0], r[3], r[2]) if part.vertical else r
        return (part.x + x, part.y + y, w, h)

    return [place(p) for p in pads], place(body), [place(lead) for lead in leads]


class Pen:
    """Draws anti-aliased shapes given in millimetres onto uint8 alpha canvases."""

    def __init__(self, n: int, size: int) -> None:
        self.n, self.scale, self.offset = n, size / VIEW_MM, (n - size) / 2.0

    def new(self) -> np.ndarray:
        return np.zeros((self.n, self.n), np.uint8)

    def fix(self, pts: np.ndarray) -> np.ndarray:
        return np.round((self.offset + np.asarray(pts, np.float64) * self.scale) * 16).astype(np.int32)

    def rect(self, canvas: np.ndarray, x: float, y: float, w: float, h: float) -> None:
        pts = [(x - w / 2, y - h / 2), (x + w / 2, y - h / 2), (x + w / 2, y + h / 2), (x - w / 2, y + h / 2)]
        cv2.fillPoly(canvas, [self.fix(pts)], 255, cv2.LINE_AA, shift=4)

    def circle(self, canvas: np.ndarray, x: float, y: float, r: float) -> None:
        cv2.circle(canvas, tuple(self.fix((x, y))), round(r * self.scale * 16), 255, -1, cv2.LINE_AA, shift=4)

    def line(self, canvas: np.ndarray, pts: tuple, width: float) -> None:
        cv2.polylines(
            canvas, [self.fix(pts)], False, 255, max(1, round(width * self.scale)), cv2.LINE_AA, shift=4
        )

    def text(self, canvas: np.ndarray, text: str, x: float, y: float, height: float, weight: float) -> None:
        px, py = self.offset + x * self.scale, self.offset + y * self.scale
        thickness = max(1, round(weight * self.scale))
        cv2.putText(
            canvas,
            text,
            (round(px), round(py)),
            FONT,
            height * self.scale / _CAP,
            255,
            thickness,
            cv2.LINE_AA,
        )


def to_alpha(canvas: np.ndarray) -> np.ndarray:
    return canvas.astype(np.float32) / 255.0


def artwork(pen: Pen) -> dict[str, np.ndarray]:
    """Alphas of the copper, pad, via, silkscreen and drill layers."""
    traces, pads, gold, silk, hole = pen.new(), pen.new(), pen.new(), pen.new(), pen.new()
    for path in TRACES:
        pen.line(traces, path, 0.3)
    for path in POWER:
        pen.line(traces, path, 0.65)
    for part in PARTS:
        for pad in footprint(part)[0]:
            pen.rect(pads, *pad)
    for x, y in VIAS:
        pen.circle(gold, x, y, 0.38)
        pen.circle(traces, x, y, 0.5)
        pen.circle(hole, x, y, 0.17)
    pen.circle(pads, *TEST_PAD)
    pen.circle(gold, MOUNT[0], MOUNT[1], MOUNT[2])
    pen.circle(hole, MOUNT[0], MOUNT[1], MOUNT[3])
    for text, x, y in LABELS:
        pen.text(silk, text, x, y, 0.9, 0.14)
    for part in PARTS:
        if part.kind in ("r", "c"):
            for s in (-1, 1):
                seg = ((part.x - 0.55, part.y + s * 0.95), (part.x + 0.55, part.y + s * 0.95))
                if part.vertical:
                    seg = ((part.x + s * 0.95, part.y - 0.55), (part.x + s * 0.95, part.y + 0.55))
                pen.line(silk, seg, 0.14)
    pen.line(silk, ((4.3, 5.25), (8.7, 5.25)), 0.14)
    pen.line(silk, ((4.3, 10.75), (8.7, 10.75)), 0.14)
    pen.circle(silk, 3.4, 5.1, 0.25)
    pen.text(silk, "IOB-7 REV.B", 0.9, 19.8, 1.0, 0.15)
    layers = {
        k: to_alpha(v) for k, v in dict(traces=traces, pads=pads, gold=gold, silk=silk, hole=hole).items()
    }
    layers["silk"] *= (1.0 - layers["pads"]) * (1.0 - layers["gold"])
    return layers


def components(pen: Pen) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Premultiplied colour, alpha and height map of all placed components."""
    n = pen.n
    color, alpha, height = (
        np.zeros((n, n, 3), np.float32),
        np.zeros((n, n), np.float32),
        np.zeros((n, n), np.float32),
    )

    def add(layer: np.ndarray, rgb: tuple[float, float, float]) -> None:
        nonlocal color, alpha
        color = over(color, layer, rgb)
        alpha = alpha * (1.0 - layer) + layer

    leads = pen.new()
    for part in PARTS:
        for lead in footprint(part)[2]:
            pen.rect(leads, *lead)
    add(to_alpha(leads), (0.80, 0.80, 0.78))
    height = np.maximum(height, to_alpha(leads) * 0.8)
    for part in PARTS:
        canvas = pen.new()
        pen.rect(canvas, *footprint(part)[1])
        add(to_alpha(canvas), (0.60, 0.47, 0.33) if part.kind == "c" else (0.075, 0.075, 0.08))
        height = np.maximum(height, to_alpha(canvas) * (3.0 if part.kind == "soic8" else 1.8))
        if part.marking:
            mark = pen.new()
            x, y = part.x - 0.22 * len(part.marking) * (0.65 if part.kind == "r" else 0.8), part.y
            h = 0.45 if part.kind == "r" else 0.6
            pen.text(mark, part.marking, x, y + h / 2, h, 0.05)
            add(to_alpha(mark) * 0.7, (0.78, 0.78, 0.75))
        if part.kind == "soic8":
            dot = pen.new()
            pen.circle(dot, part.x - 1.3, part.y - 1.8, 0.35)
            add(to_alpha(dot) * 0.6, (0.03, 0.03, 0.03))
    return color, alpha, height


class Layout:
    """The board's fixed artwork on one canvas size, drawn once and kept read-only."""

    def __init__(self, n: int, size: int) -> None:
        self.pen = pen = Pen(n, size)
        self.layers = artwork(pen)
        self.color, self.alpha, self.height = components(pen)
        yy, xx = coords(n)
        k = np.float32(2 * np.pi / (0.45 * pen.scale))
        self.weave = np.sin(xx * k) * np.sin(yy * k)  # glass fibre weave faintly visible through the mask
        self.relief = self.layers["traces"] * 0.3 + cv2.GaussianBlur(self.layers["pads"], (0, 0), 1.5) * 0.9
        self.relief += self.layers["silk"] * 0.2
        self.slopes = slopes(self.relief + self.height, 0.8)
        self.boxes = {}
        for part in PARTS:
            pads, body, leads = footprint(part)
            rects = np.array([*pads, body, *leads])
            lo = pen.offset + (rects[:, :2] - rects[:, 2:] / 2).min(0) * pen.scale - 3
            hi = pen.offset + (rects[:, :2] + rects[:, 2:] / 2).max(0) * pen.scale + 4
            self.boxes[part.name] = (slice(int(lo[1]), int(hi[1])), slice(int(lo[0]), int(hi[0])))
        for value in [*self.layers.values(), self.color, self.alpha, self.height, self.weave, *self.slopes]:
            value.setflags(write=False)

    def parts(
        self, skip: str | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Component colour, alpha, height and relief slopes, without the part named ``skip``."""
        if skip is None:
            return self.color, self.alpha, self.height, self.slopes
        box = self.boxes[skip]
        color, alpha, height = self.color.copy(), self.alpha.copy(), self.height.copy()
        color[box], alpha[box], height[box] = 0.0, 0.0, 0.0
        return color, alpha, height, slopes(self.relief + height, 0.8)


@lru_cache(maxsize=4)
def get_layout(n: int, size: int) -> Layout:
    """The board rasterised for an n x n canvas showing ``size`` pixels of view."""
    return Layout(n, size)
