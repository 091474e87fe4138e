"""Shared building blocks of the synthetic renderer: noise, soft shapes, strokes, compositing.

Images are float32 RGB in [0, 1]; alphas and masks are float32 H x W in [0, 1]. Everything random
takes an explicit ``numpy.random.Generator`` and draws a fixed number of values for given sizes, so
renders are reproducible.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

Color = tuple[float, float, float]
Point = tuple[float, float]


@lru_cache(maxsize=8)
def coords(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (y, x) of an n x n canvas as float32 arrays (cached, read-only)."""
    yy, xx = np.indices((n, n), dtype=np.float32)
    yy.setflags(write=False)
    xx.setflags(write=False)
    return yy, xx


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    """Hermite step from 0 at ``e0`` to 1 at ``e1``."""
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def noise(
    rng: np.random.Generator, n: int, cells: float, octaves: int = 1, persistence: float = 0.5
) -> np.ndarray:
    """Smooth value noise on an n x n canvas (about zero mean, unit-ish variance); ``cells`` per side."""
    out = np.zeros((n, n), np.float32)
    amp, norm = 1.0, 0.0
    for octave in range(octaves):
        k = max(2, int(cells * 2**octave) + 1)
        grid = rng.standard_normal((k, k), dtype=np.float32)
        out += np.float32(amp) * cv2.resize(grid, (n, n), interpolation=cv2.INTER_CUBIC)
        norm += amp * amp
        amp *= persistence
    return out / np.float32(np.sqrt(norm))


def profile(rng: np.random.Generator, length: int, smooth: float = 0.0) -> np.ndarray:
    """A 1-D random profile of unit variance, optionally smoothed (wrapping) by a Gaussian of ``smooth``."""
    values = rng.standard_normal(length).astype(np.float32)
    if smooth > 0:
        radius = max(1, int(3 * smooth))
        kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / smooth) ** 2).astype(np.float32)
        values = np.convolve(np.pad(values, radius, mode="wrap"), kernel / kernel.sum(), mode="valid")
        values /= np.float32(values.std() + 1e-6)
    return values


def blob(
    rng: np.random.Generator,
    n: int,
    center: Point,
    radius: float,
    aspect: float = 1.0,
    angle: float = 0.0,
    wobble: float = 0.25,
    soft: float = 1.5,
) -> np.ndarray:
    """Soft irregular blob: an ellipse whose radius wobbles with angle and has a rough edge."""
    yy, xx = coords(n)
    dx, dy = xx - np.float32(center[0]), yy - np.float32(center[1])
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    u = dx * c + dy * s
    v = (dy * c - dx * s) / np.float32(aspect)
    r = np.hypot(u, v)
    theta = np.arctan2(v, u)
    edge = np.ones_like(r)
    for k in range(2, 7):
        edge += np.float32(rng.normal(0.0, wobble) / (k - 1)) * np.cos(
            k * theta + np.float32(rng.uniform(0, 6.283))
        )
    edge = np.float32(radius) * np.maximum(edge, 0.35)
    rough = noise(rng, n, n / 10.0) * np.float32(0.05 * radius)
    return 1.0 - smoothstep(-soft, soft, r - edge + rough)


def walk(
    rng: np.random.Generator,
    start: Point,
    heading: float,
    length: float,
    step: float = 2.0,
    turn: float = 0.1,
    pull: float = 0.2,
) -> np.ndarray:
    """Random-walk polyline (N x 2) from ``start``; the heading wanders and relaxes to its start value."""
    steps = max(2, int(length / step))
    turns = rng.normal(0.0, turn, steps)
    points = np.empty((steps + 1, 2), np.float64)
    points[0] = start
    h = heading
    for i in range(steps):
        h += turns[i] + pull * (heading - h)
        points[i + 1] = points[i] + step * np.array([np.cos(h), np.sin(h)])
    return points


def stroke(n: int, points: np.ndarray, width: float | tuple[float, float]) -> np.ndarray:
    """Anti-aliased polyline alpha; ``width`` may be (start, end) for a tapering stroke."""
    canvas = np.zeros((n, n), np.uint8)
    pts = np.round(np.asarray(points) * 16).astype(np.int32)
    if isinstance(width, tuple):
        widths = np.linspace(width[0], width[1], len(pts) - 1)
        for i, w in enumerate(widths):
            cv2.line(canvas, tuple(pts[i]), tuple(pts[i + 1]), 255, max(1, round(w)), cv2.LINE_AA, shift=4)
    else:
        cv2.polylines(canvas, [pts], False, 255, max(1, round(width)), cv2.LINE_AA, shift=4)
    return canvas.astype(np.float32) / 255.0


def over(image: np.ndarray, alpha: np.ndarray, color: Color | np.ndarray) -> np.ndarray:
    """Composite ``color`` (RGB triple or H x W x 3) over ``image`` with ``alpha`` (H x W); returns a copy.

    Only the bounding box of the non-zero alpha is computed.
    """
    out = np.array(image, np.float32)
    rows = np.flatnonzero(alpha.max(axis=1) > 0)
    if rows.size == 0:
        return out
    cols = np.flatnonzero(alpha.max(axis=0) > 0)
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    color = np.asarray(color, np.float32)
    a = alpha[box][..., None]
    out[box] = out[box] * (1.0 - a) + a * (color[box] if color.ndim == 3 else color)
    return out


def dilate(alpha: np.ndarray, px: int, threshold: float = 0.5) -> np.ndarray:
    """Binary mask of ``alpha > threshold`` grown by ``px`` pixels (disk), as float32 0/1."""
    binary = (alpha > threshold).astype(np.uint8)
    if px > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
        binary = cv2.dilate(binary, kernel)
    return binary.astype(np.float32)


def slopes(height: np.ndarray, sigma: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """x and y slopes of a height map, smoothed by ``sigma`` pixels."""
    height = np.asarray(height, np.float32)
    h = cv2.GaussianBlur(height, (0, 0), sigma) if sigma > 0 else height
    return cv2.Sobel(h, cv2.CV_32F, 1, 0, ksize=3) / 8.0, cv2.Sobel(h, cv2.CV_32F, 0, 1, ksize=3) / 8.0


def emboss(height: np.ndarray, light: float, sigma: float = 1.0) -> np.ndarray:
    """Directional shading term (about -1..1 per unit slope) of a height map lit from azimuth ``light``."""
    gx, gy = slopes(height, sigma)
    return -(gx * float(np.cos(light)) + gy * float(np.sin(light)))


def luma(image: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of an RGB float image."""
    return image @ np.array([0.299, 0.587, 0.114], np.float32)
