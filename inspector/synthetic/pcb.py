"""A 20 mm patch of an assembled circuit board: green solder mask over copper traces, tinned pads and vias,
white silkscreen, an SOIC-8, 0805 resistors and capacitors, an SOT-23 and a mounting hole.

The layout is fixed (it is one product); samples vary by pose, lighting and finish.
"""

from __future__ import annotations

import cv2
import numpy as np

from inspector.synthetic.camera import PoseSpec
from inspector.synthetic.common import blob, coords, dilate, emboss, noise, over, stroke, walk
from inspector.synthetic.pcb_layout import LABELS, PARTS, Layout, Pen, footprint, get_layout, to_alpha

DEFECTS = ("missing", "scratch", "print", "stain")
POSE = PoseSpec(max_angle=3.0, max_shift=0.035)
LIGHT = np.radians(-120.0)  # station light azimuth in the image (y down): upper left

MASK = (0.09, 0.34, 0.16)
COPPER_UNDER_MASK = (0.19, 0.45, 0.18)
TIN = (0.80, 0.80, 0.77)
SILK = (0.93, 0.93, 0.88)


def _board(rng: np.random.Generator, layout: Layout) -> np.ndarray:
    """Bare board with traces, pads and silkscreen in this sample's finish."""
    n, layers = layout.pen.n, layout.layers
    tone = float(rng.uniform(0.92, 1.08))
    base = 1.0 + 0.045 * noise(rng, n, 4, octaves=3) + 0.025 * layout.weave
    image = np.array(MASK, np.float32) * tone * base[..., None]
    silk = layers["silk"] * (0.88 + 0.12 * noise(rng, n, n / 6))
    grain = noise(rng, n, n / 3)[..., None]
    image = over(image, layers["traces"], np.array(COPPER_UNDER_MASK, np.float32) * tone)
    image = over(image, layers["pads"], np.array(TIN, np.float32) * (0.93 + 0.06 * grain))
    image = over(image, layers["gold"], np.array((0.86, 0.70, 0.38), np.float32) * (0.95 + 0.04 * grain))
    image = over(image, silk, SILK)
    return over(image, layers["hole"], (0.03, 0.03, 0.035))


def _place(
    layout: Layout, image: np.ndarray, light: float, skip: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """Place the components (all but ``skip``) with shadows and relief lighting; returns image and heights."""
    color, alpha, height, (gx, gy) = layout.parts(skip)
    n, offset = layout.pen.n, 0.07 * layout.pen.scale
    cl, sl = float(np.cos(light)), float(np.sin(light))
    shift = np.float32([[1, 0, -offset * cl], [0, 1, -offset * sl]])
    shadow = cv2.GaussianBlur(cv2.warpAffine(height, shift, (n, n)), (0, 0), 1.5)
    image = image * (1.0 - 0.22 * np.clip(shadow, 0, 2.0))[..., None]
    image = image * (1.0 - alpha)[..., None] + color
    shade = np.clip(1.0 - 0.55 * (gx * cl + gy * sl), 0.3, 1.8)
    return image * shade[..., None], height


def _scratch(
    rng: np.random.Generator, pen: Pen, image: np.ndarray, layers: dict, height: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Handling scratch: bares copper or laminate through the mask and scuffs component bodies."""
    size = pen.n - 2 * pen.offset
    start = pen.offset + rng.uniform(0.25, 0.75, 2) * size
    pts = walk(
        rng, tuple(start), rng.uniform(-np.pi, np.pi), rng.uniform(0.22, 0.38) * size, turn=0.02, pull=0.05
    )
    pts -= (pts[-1] - pts[0]) / 2
    core = stroke(pen.n, pts, rng.uniform(0.008, 0.012) * size)
    halo = np.clip(cv2.GaussianBlur(core, (0, 0), 1.3) * 1.8, 0, 1)
    metal = np.clip(layers["traces"] + layers["pads"] + layers["gold"], 0, 1)[..., None]
    exposed = metal * np.array((0.92, 0.60, 0.36), np.float32) + (1 - metal) * np.array((0.76, 0.73, 0.52))
    body = np.clip(height / 1.5, 0.0, 1.0)[..., None]
    exposed = body * np.array((0.52, 0.52, 0.5), np.float32) + (1 - body) * exposed
    image = over(image, halo * 0.35 * (1 - body[..., 0]), (0.35, 0.62, 0.40))
    return over(image, core * 0.92, exposed), dilate(halo, 1, 0.25)


def _print(rng: np.random.Generator, pen: Pen, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Silkscreen misprint: a streaky smear of ink over or beside a designator."""
    text, x, y = LABELS[int(rng.integers(0, len(LABELS) - 1))]  # not TP1 at the edge
    cx, cy = pen.offset + (x + 0.35 * len(text)) * pen.scale, pen.offset + (y - 0.45) * pen.scale
    size = pen.n - 2 * pen.offset
    angle = rng.uniform(-np.pi, np.pi)
    jitter = rng.normal(0.0, 0.012 * size, 2)
    ink = blob(
        rng,
        pen.n,
        (cx + jitter[0], cy + jitter[1]),
        rng.uniform(0.06, 0.09) * size,
        rng.uniform(0.4, 0.75),
        angle,
        0.3,
        1.5,
    )
    yy, xx = coords(pen.n)
    streak = np.sin(
        (xx * np.float32(-np.sin(angle)) + yy * np.float32(np.cos(angle))) * 1.3
        + 2.0 * noise(rng, pen.n, pen.n / 8)
    )
    ink *= np.clip(0.75 + 0.35 * streak, 0, 1) * np.float32(rng.uniform(0.75, 0.95))
    return over(image, ink, SILK), ink


def _stain(
    rng: np.random.Generator, pen: Pen, image: np.ndarray, light: float, height: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Flux residue or dirt on the board, centred off the component bodies."""
    size = pen.n - 2 * pen.offset
    radius = rng.uniform(0.055, 0.085) * size
    for _ in range(50):
        x, y = pen.offset + rng.uniform(0.2, 0.8, 2) * size
        r = int(radius * 0.7)
        if height[int(y) - r : int(y) + r, int(x) - r : int(x) + r].mean() < 0.2:
            break
    alpha = blob(rng, pen.n, (x, y), radius, rng.uniform(0.5, 1.0), rng.uniform(0, np.pi), 0.35, 2.0)
    alpha *= 0.75 + 0.25 * np.clip(noise(rng, pen.n, pen.n / 12), -1, 1)
    if rng.random() < 0.5:  # flux residue: amber film with a glossy rim
        rim = np.maximum(emboss(alpha * 3.0, light, 1.0), 0.0)[..., None]
        return over(image, alpha * 0.75, (0.62, 0.48, 0.14)) + 0.5 * rim, alpha
    return over(image, alpha * 0.85, (0.10, 0.085, 0.06)), alpha


def draw(
    rng: np.random.Generator,
    n: int,
    size: int,
    defect: str | None,
    defect_rng: np.random.Generator,
    angle: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Render the board canvas and the defect alpha; ``rng`` fixes the good sample."""
    layout = get_layout(n, size)
    pen = layout.pen
    light = LIGHT + float(rng.normal(0.0, 0.15)) + np.radians(angle)  # fixed station light
    sheen_angle, sheen_pos = float(rng.uniform(-np.pi, np.pi)), float(rng.uniform(-0.4, 0.4))
    image = _board(rng, layout)
    alpha = np.zeros((n, n), np.float32)
    skip = None
    if defect == "missing":
        part = PARTS[1 + int(defect_rng.integers(0, len(PARTS) - 1))]
        skip = part.name
        site = pen.new()
        pads, body, _ = footprint(part)
        for rect in [*pads, body]:
            pen.rect(site, *rect)
        alpha = dilate(to_alpha(site), 2)
    elif defect == "print":
        image, alpha = _print(defect_rng, pen, image)
    image, height = _place(layout, image, light, skip)
    if defect == "print":
        alpha = dilate(alpha, 1, 0.25) * (height < 0.5)
    elif defect == "scratch":
        image, alpha = _scratch(defect_rng, pen, image, layout.layers, height)
    elif defect == "stain":
        image, alpha = _stain(defect_rng, pen, image, light, height)
        alpha = dilate(alpha, 0, 0.3)
    yy, xx = coords(n)
    band = (
        (xx - n / 2) * float(np.cos(sheen_angle)) + (yy - n / 2) * float(np.sin(sheen_angle))
    ) / size - sheen_pos
    image = image + (0.05 * np.exp(-((band / 0.25) ** 2)))[..., None]
    return image, alpha
