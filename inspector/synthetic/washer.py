"""Turned steel flange washer with four bolt holes on a dark fixture plate.

The face carries concentric lathe marks, an anisotropic (bow-tie) highlight along the light azimuth and
chamfered edges lit from one side; the part casts a soft shadow on the plate.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from inspector.synthetic.camera import PoseSpec
from inspector.synthetic.common import blob, coords, dilate, emboss, luma, noise, over, profile, stroke, walk

DEFECTS = ("scratch", "crack", "dent", "stain")
POSE = PoseSpec(max_angle=45.0, max_shift=0.035)  # four-fold symmetric: +-45 degrees is any orientation

R_OUT, R_IN, R_BOLT, R_HOLE, CHAMFER = 0.41, 0.165, 0.29, 0.038, 0.016  # fractions of the image size
N_HOLES = 4
LIGHT = np.radians(-120.0)  # light azimuth in the image (y down): upper left


class _Part:
    """Geometry of the washer on an n x n canvas (pixels); built once per canvas size, read-only."""

    def __init__(self, n: int, size: int) -> None:
        self.n, self.size = n, size
        self.c = (n - 1) / 2.0
        yy, xx = coords(n)
        self.dx, self.dy = xx - np.float32(self.c), yy - np.float32(self.c)
        self.r = np.hypot(self.dx, self.dy)
        self.cos_t, self.sin_t = self.dx / np.maximum(self.r, 1e-3), self.dy / np.maximum(self.r, 1e-3)
        self.ro, self.ri, self.rb, self.rh = (f * size for f in (R_OUT, R_IN, R_BOLT, R_HOLE))
        angles = np.pi / 4 + np.arange(N_HOLES) * np.pi / 2
        self.holes = [
            (float(self.c + self.rb * np.cos(a)), float(self.c + self.rb * np.sin(a))) for a in angles
        ]
        hole_dist = np.stack([np.hypot(xx - hx, yy - hy) for hx, hy in self.holes])
        nearest = np.argmin(hole_dist, axis=0)
        to_x = np.float32([h[0] for h in self.holes])[nearest] - xx
        to_y = np.float32([h[1] for h in self.holes])[nearest] - yy
        to_r = np.maximum(np.hypot(to_x, to_y), 1e-3)
        edges = np.stack([self.ro - self.r, self.r - self.ri, hole_dist.min(axis=0) - self.rh])
        edge = np.argmin(edges, axis=0)  # 0 outer rim, 1 bore, 2 bolt hole
        # unit vector of the chamfer's downhill direction: out of the rim, into the bore or a hole
        self.normal_x = np.choose(edge, [self.cos_t, -self.cos_t, to_x / to_r]).astype(np.float32)
        self.normal_y = np.choose(edge, [self.sin_t, -self.sin_t, to_y / to_r]).astype(np.float32)
        self.solid = edges.min(axis=0)  # signed distance into the material
        self.cover = np.clip(self.solid + 0.5, 0.0, 1.0)
        self.bevel = np.clip((CHAMFER * size - self.solid) / 1.5, 0.0, 1.0)[..., None]
        self.r4 = self.r * 4
        for value in vars(self).values():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)

    def face_point(self, rng: np.random.Generator, margin: float) -> tuple[float, float]:
        """A random point on the flat face, at least ``margin`` (fraction of size) from every edge."""
        m = margin * self.size
        for _ in range(100):
            rho = rng.uniform(self.ri + m, self.ro - m)
            phi = rng.uniform(-np.pi, np.pi)
            x, y = self.c + rho * np.cos(phi), self.c + rho * np.sin(phi)
            if min(np.hypot(x - hx, y - hy) for hx, hy in self.holes) > self.rh + m:
                break
        return float(x), float(y)


@lru_cache(maxsize=4)
def _part(n: int, size: int) -> _Part:
    return _Part(n, size)


def _surface(rng: np.random.Generator, part: _Part, light: float) -> np.ndarray:
    """Clean render of the part on its fixture plate."""
    n, size = part.n, part.size
    metal = np.array([0.60, 0.62, 0.645], np.float32) * np.float32(rng.uniform(0.94, 1.05))
    plate = np.array([0.105, 0.115, 0.13], np.float32) * np.float32(rng.uniform(0.85, 1.2))
    bins = int(part.ro * 4) + 16
    fine = np.interp(part.r4, np.arange(bins), profile(rng, bins, 0.7)).astype(np.float32)
    bands = np.interp(part.r4, np.arange(bins), profile(rng, bins, 14.0)).astype(np.float32)
    mottling = noise(rng, n, 5, octaves=2)
    grain = noise(rng, n, n / 3)

    cl, sl = float(np.cos(light)), float(np.sin(light))
    cos_rel, sin_rel = part.cos_t * cl + part.sin_t * sl, part.sin_t * cl - part.cos_t * sl
    spec = np.exp(-((sin_rel / 0.36) ** 2)) * (0.7 + 0.3 * cos_rel)
    diffuse = 0.5 + 0.07 * cos_rel * part.r / np.float32(part.ro) + 0.05 * bands + 0.06 * fine
    face = metal * diffuse[..., None] + (0.4 * spec * (0.8 + 0.2 * fine) + 0.015 * mottling)[..., None]
    tilt = part.normal_x * cl + part.normal_y * sl
    bevel = metal * (0.42 + 0.4 * tilt + 0.03 * fine)[..., None] + (0.3 * np.maximum(tilt, 0) ** 8)[..., None]
    body = face * (1.0 - part.bevel) + bevel * part.bevel

    offset = 0.014 * size
    shift = np.float32([[1, 0, -offset * cl], [0, 1, -offset * sl]])
    shadow = cv2.GaussianBlur(cv2.warpAffine(part.cover, shift, (n, n)), (0, 0), 0.012 * size)
    ground = plate * (1.0 + 0.07 * mottling + 0.05 * grain)[..., None] * (1.0 - 0.6 * shadow)[..., None]
    return over(ground, part.cover, body)


def _scratch(rng: np.random.Generator, part: _Part, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One to three near-parallel gouges across the lathe marks, bright or dark against the face."""
    x, y = part.face_point(rng, 0.05)
    heading = np.arctan2(y - part.c, x - part.c) + np.pi / 2 + rng.normal(0.0, 0.5)
    length = rng.uniform(0.2, 0.32) * part.size
    width = rng.uniform(0.011, 0.016) * part.size
    core = np.zeros_like(part.r)
    for k in range(int(rng.integers(1, 4))):
        offset = k * rng.uniform(0.012, 0.02) * part.size
        pts = walk(rng, (0.0, 0.0), heading, length * (1.0 - 0.25 * k), turn=0.02, pull=0.05)
        pts -= pts[len(pts) // 2]
        pts += (x - offset * np.sin(heading), y + offset * np.cos(heading))
        core = np.maximum(core, stroke(part.n, pts, width if k == 0 else width * 0.7))
    core *= np.clip(part.solid - 1.0, 0.0, 1.0)
    halo = cv2.GaussianBlur(core, (0, 0), 1.2)
    bright, dark = rng.uniform(0.9, 1.0), rng.uniform(0.08, 0.16)
    under = float((luma(image) * core).sum() / max(float(core.sum()), 1e-6))
    tone = dark if under > 0.5 else bright  # a scratch shows against the surface it crosses
    image = over(image, np.clip(halo * 1.6, 0, 1) * 0.55, (1.0 - tone,) * 3)
    image = over(image, core * 0.9, (tone,) * 3)
    return image, dilate(halo, 1, 0.2)


def _crack(rng: np.random.Generator, part: _Part, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A jagged, branching, tapering crack running from the bore or a bolt hole into the face."""
    k = int(rng.integers(0, N_HOLES + 1))
    phi = rng.uniform(-np.pi, np.pi)
    if k == N_HOLES:
        start = (part.c + (part.ri - 1) * np.cos(phi), part.c + (part.ri - 1) * np.sin(phi))
        heading = phi
    else:
        hx, hy = part.holes[k]
        phi = np.arctan2(hy - part.c, hx - part.c) + rng.choice([-1.0, 1.0]) * rng.uniform(0.9, 2.0)
        start, heading = (hx + (part.rh - 1) * np.cos(phi), hy + (part.rh - 1) * np.sin(phi)), phi
    length = rng.uniform(0.16, 0.25) * part.size
    width = max(2.0, 0.014 * part.size)
    pts = walk(rng, start, heading, length, step=1.5, turn=0.4, pull=0.6)
    alpha = stroke(part.n, pts, (width, 1.0))
    for _ in range(int(rng.integers(1, 3))):
        j = int(rng.integers(len(pts) // 4, 3 * len(pts) // 4))
        branch = walk(
            rng,
            tuple(pts[j]),
            heading + rng.choice([-1, 1]) * rng.uniform(0.5, 1.0),
            length * rng.uniform(0.25, 0.45),
            step=1.5,
            turn=0.4,
            pull=0.5,
        )
        alpha = np.maximum(alpha, stroke(part.n, branch, (width * 0.7, 1.0)))
    alpha *= part.cover
    shade = cv2.GaussianBlur(alpha, (0, 0), 1.5)
    image = image * (1.0 - 0.45 * np.clip(shade * 2, 0, 1))[..., None]
    image = over(image, alpha, (0.035, 0.035, 0.04))
    return image, dilate(alpha, 2, 0.25) * dilate(part.cover, 1)


def _dent(
    rng: np.random.Generator, part: _Part, image: np.ndarray, light: float
) -> tuple[np.ndarray, np.ndarray]:
    """A shallow impact dent: lit on one wall, shaded on the other, lathe marks crushed inside."""
    x, y = part.face_point(rng, 0.085)
    radius = float(rng.uniform(0.06, 0.085)) * part.size
    aspect = float(rng.uniform(0.6, 1.0))
    angle = float(rng.uniform(0, np.pi))
    ca, sa = float(np.cos(angle)), float(np.sin(angle))
    u = (part.dx + part.c - x) * ca + (part.dy + part.c - y) * sa
    v = ((part.dy + part.c - y) * ca - (part.dx + part.c - x) * sa) / aspect
    d2 = (u * u + v * v) / np.float32(radius * radius)
    height = -np.float32(0.3 * radius) * np.clip(1.0 - d2, 0.0, None) ** 2
    height += np.float32(0.04 * radius) * np.exp(-(((np.sqrt(d2) - 1.05) / 0.15) ** 2))
    shade = emboss(height, light, 0.8) * 1.3
    inside = np.clip(1.2 - np.sqrt(d2), 0.0, 1.0)[..., None]
    crushed = cv2.GaussianBlur(image, (0, 0), 2.0)
    image = image * (1.0 - inside) + crushed * inside
    image = image * np.clip(1.0 + shade, 0.25, 2.0)[..., None]
    return image, (d2 < 1.1**2).astype(np.float32) * (part.solid > 0)


def _stain(rng: np.random.Generator, part: _Part, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A rust spot or a patch of dark grime, matte over the metal."""
    x, y = part.face_point(rng, 0.04)
    radius = rng.uniform(0.07, 0.1) * part.size
    alpha = blob(rng, part.n, (x, y), radius, rng.uniform(0.5, 1.0), rng.uniform(0, np.pi), 0.3, 2.0)
    alpha *= part.cover * (0.8 + 0.2 * np.clip(noise(rng, part.n, part.n / 14), -1, 1))
    tex = (0.8 + 0.25 * noise(rng, part.n, part.n / 6))[..., None]
    rust = rng.random() < 0.5
    color = np.array([0.50, 0.27, 0.13] if rust else [0.13, 0.12, 0.105], np.float32) * tex
    return over(image, alpha * rng.uniform(0.85, 0.95), color), dilate(alpha, 0, 0.3)


def draw(
    rng: np.random.Generator,
    n: int,
    size: int,
    defect: str | None,
    defect_rng: np.random.Generator,
    angle: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Render the canvas (n x n, part centred) and the defect alpha; ``rng`` fixes the good part.

    ``angle`` is the part's rotation on the fixture (degrees, counter-clockwise): the station light is
    fixed, so the highlight on the turned face stays put while the part turns under it.
    """
    part = _part(n, size)
    light = LIGHT + float(rng.normal(0.0, 0.15)) + np.radians(angle)  # fixed station light, part rotated
    image = _surface(rng, part, light)
    if defect is None:
        return image, np.zeros((n, n), np.float32)
    if defect == "dent":
        return _dent(defect_rng, part, image, light)
    return {"scratch": _scratch, "crack": _crack, "stain": _stain}[defect](defect_rng, part, image)
