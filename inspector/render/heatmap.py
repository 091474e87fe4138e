"""Heatmap overlays scaled from the model's pixel threshold, so every picture of a frame means the same thing.

The colour is the anomaly map relative to the pixel threshold: jet from blue at 0.6x the threshold through
orange at it to red at 1.2x; below 0.75x the image shows through untouched, and the heat fades in up to 1.0x.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import cv2
import numpy as np

DEFAULT_OPACITY = 0.5
BLUE_AT, RED_AT = 0.6, 1.2  # multiples of the pixel threshold at the two ends of the colour map
CLEAR_BELOW, OPAQUE_AT = 0.75, 1.0  # multiples between which the heat fades in


class HasMap(Protocol):
    anomaly_map: np.ndarray | None
    pixel_threshold: float | None


def colour_scale(anomaly_map: np.ndarray, pixel_threshold: float | None) -> float:
    """The value that counts as 1.0: the pixel threshold, or half the map's maximum when it has none."""
    if pixel_threshold is not None and np.isfinite(pixel_threshold) and pixel_threshold > 0:
        return float(pixel_threshold)
    top = float(np.nanmax(anomaly_map)) / 2 if anomaly_map.size else 0.0
    return top if np.isfinite(top) and top > 0 else 1.0


def heatmap_of(outputs: Iterable[HasMap]) -> tuple[np.ndarray, float] | None:
    """The first model output with an anomaly map, with its colour scale (see :func:`colour_scale`)."""
    for output in outputs:
        if output.anomaly_map is not None:
            return output.anomaly_map, colour_scale(output.anomaly_map, output.pixel_threshold)
    return None


def heat_layer(anomaly_map: np.ndarray, scale: float, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """RGB colours (HxWx3 uint8) and their weight (HxWx1 float32, 0..1) at ``size`` (width, height)."""
    scores = np.asarray(anomaly_map, np.float32)
    if scores.ndim == 3:
        scores = scores.squeeze()
    if scores.shape != (size[1], size[0]):
        scores = cv2.resize(scores, size, interpolation=cv2.INTER_LINEAR)
    ratio = np.nan_to_num(scores / np.float32(scale), nan=0.0, posinf=RED_AT, neginf=0.0)
    levels = np.clip((ratio - BLUE_AT) / (RED_AT - BLUE_AT), 0.0, 1.0)
    colour = cv2.applyColorMap((levels * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    weight = np.clip((ratio - CLEAR_BELOW) / (OPAQUE_AT - CLEAR_BELOW), 0.0, 1.0)[..., None]
    return colour, weight


def overlay(image: np.ndarray, anomaly_map: np.ndarray, scale: float, opacity: float = DEFAULT_OPACITY) -> np.ndarray:
    """The heat blended over the image: HxWx3 RGB uint8 at the image's size (gray images become RGB)."""
    rgb = as_rgb(np.asarray(image, np.uint8))
    if opacity <= 0:
        return rgb
    colour, weight = heat_layer(anomaly_map, scale, (rgb.shape[1], rgb.shape[0]))
    alpha = weight * np.float32(opacity)
    return (rgb * (1.0 - alpha) + colour * alpha).astype(np.uint8)


def as_rgb(image: np.ndarray) -> np.ndarray:
    """HxWx3 RGB of a gray, gray-with-axis, RGB or RGBA uint8 image."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return image[:, :, :3]
