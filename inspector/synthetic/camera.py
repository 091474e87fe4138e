"""The simulated camera: part pose, illumination and sensor (blur, noise, 8-bit quantisation)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inspector.synthetic.common import coords


@dataclass(frozen=True)
class PoseSpec:
    """How far a part may sit off nominal: rotation in degrees and shift as a fraction of the image."""

    max_angle: float
    max_shift: float


@dataclass(frozen=True)
class Pose:
    angle: float  # degrees, counter-clockwise
    dx: float  # pixels
    dy: float  # pixels


def sample_pose(rng: np.random.Generator, spec: PoseSpec, size: int) -> Pose:
    """Uniform rotation and shift within ``spec``."""
    angle = float(rng.uniform(-spec.max_angle, spec.max_angle))
    dx, dy = rng.uniform(-spec.max_shift, spec.max_shift, 2) * size
    return Pose(angle, float(dx), float(dy))


def warp(image: np.ndarray, alpha: np.ndarray, pose: Pose, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Rotate and shift the square canvas about its centre and crop the central ``size`` x ``size`` view."""
    n = image.shape[0]
    c = (n - 1) / 2.0
    matrix = cv2.getRotationMatrix2D((c, c), pose.angle, 1.0)
    matrix[0, 2] += (size - 1) / 2.0 + pose.dx - c
    matrix[1, 2] += (size - 1) / 2.0 + pose.dy - c
    flags = dict(flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return (
        cv2.warpAffine(image, matrix, (size, size), **flags),
        cv2.warpAffine(alpha, matrix, (size, size), **flags),
    )


def expose(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Apply illumination (gain, gradient, vignette, white balance), optics blur and sensor noise.

    Returns HxWx3 uint8. The number of random draws depends only on the image size.
    """
    size = image.shape[0]
    yy, xx = coords(size)
    gain = float(rng.uniform(0.85, 1.12))
    slope, direction = float(rng.uniform(0.0, 0.22)), float(rng.uniform(-np.pi, np.pi))
    vignette = float(rng.uniform(0.05, 0.28))
    balance = (1.0 + rng.normal(0.0, 0.015, 3)).astype(np.float32)
    sigma_blur = float(rng.uniform(0.35, 0.85))
    read_noise, shot_noise = float(rng.uniform(0.005, 0.014)), float(rng.uniform(0.008, 0.02))
    x = (xx - (size - 1) / 2.0) / size
    y = (yy - (size - 1) / 2.0) / size
    light = gain * (1.0 + slope * (x * float(np.cos(direction)) + y * float(np.sin(direction))))
    light *= 1.0 - vignette * 2.0 * (x * x + y * y)
    out = image * light[..., None] * balance
    out = cv2.GaussianBlur(out, (0, 0), sigma_blur)
    grain = rng.standard_normal((size, size), dtype=np.float32)[..., None]
    chroma = rng.standard_normal((size, size, 3), dtype=np.float32)
    sigma = read_noise + shot_noise * np.sqrt(np.clip(out, 0.0, 1.0))
    out = out + sigma * (0.8 * grain + 0.45 * chroma)
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)
