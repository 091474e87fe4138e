"""Denim: a 2/1 twill of indigo warp over off-white weft, with yarn irregularity, twist, hairiness and
stone-wash mottling. Each sample sees the cloth at a random phase and a slight skew.
"""

from __future__ import annotations

import numpy as np

from inspector.synthetic.camera import PoseSpec
from inspector.synthetic.common import blob, coords, dilate, luma, noise, over, profile, smoothstep, stroke

DEFECTS = ("stain", "crack", "scratch", "missing")
POSE = PoseSpec(max_angle=4.0, max_shift=0.0)  # translation comes from the random weave phase

PERIOD = 1.0 / 30.0  # warp pitch as a fraction of the image size
PICK = 0.8  # weft pitch relative to the warp pitch
WARP = (0.20, 0.31, 0.52)
WEFT = (0.80, 0.78, 0.72)
_THREADS = 1024


class _Cloth:
    """Random yarn properties of one piece of cloth; evaluates the weave at any (u, v) thread coordinates."""

    def __init__(self, rng: np.random.Generator, n: int) -> None:
        self.warp_var, self.weft_var = profile(rng, _THREADS, 0.8), profile(rng, _THREADS, 0.8)
        self.phase = rng.uniform(0, 2 * np.pi, (2, _THREADS)).astype(np.float32)
        self.slub = rng.standard_normal((_THREADS, 16)).astype(np.float32)  # uneven dye along each warp yarn
        self.wash = np.float32(rng.uniform(0.92, 1.08))
        self.mottle = noise(rng, n, 3, octaves=3)
        self.fuzz = noise(rng, n, n / 2.5)
        self.missing: tuple[int, float, float] | None = None  # (warp column, first row, last row)

    def warp_on_top(self, iu: np.ndarray, iv: np.ndarray, dv: int = 0) -> np.ndarray:
        """Whether the warp yarn lies on top in cell (iu, iv + dv) of the 2/1 twill."""
        m = (iu % 3).astype(np.int8) + ((iv + dv) % 3).astype(np.int8)
        top = (m != 0) & (m != 3)
        if self.missing is not None:
            col, v0, v1 = self.missing
            top &= ~((iu == col) & (iv + dv >= v0) & (iv + dv <= v1))
        return top

    def render(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Colour at warp coordinate ``u`` (1 x n) and weft coordinate ``v`` (n x 1 or n x n), in pitches."""
        iu, iv = np.floor(u), np.floor(v)
        fu, fv = u - iu, v - iv
        iu, iv = iu.astype(np.int64), iv.astype(np.int64)
        top = self.warp_on_top(iu, iv)
        gone = np.zeros(top.shape, bool) if self.missing is None else ~top & ((iu + iv) % 3 != 0)
        first, last = ~self.warp_on_top(iu, iv, -1), ~self.warp_on_top(iu, iv, 1)
        one, two = np.float32(1.0), np.float32(2.0)
        t = np.where(first, fv, fv + one) / np.where(first & last, one, two)  # a float crosses 1 or 2 picks
        arch = np.sqrt(np.sin(np.float32(np.pi) * np.clip(t, 0.0, 1.0)))
        cross_w = np.sqrt(np.clip(1.0 - ((fu - 0.5) / 0.5) ** 2, 0.0, 1.0))
        cross_f = np.sqrt(np.clip(1.0 - ((fv - 0.5) / 0.5) ** 2, 0.0, 1.0))
        open_f = np.where(gone, one, np.clip(1.0 - ((fu - 0.5) / 0.42) ** 4, 0.0, 1.0))
        ku, kv = iu % _THREADS, iv % _THREADS
        twist_w = np.sin(np.float32(2 * np.pi) * (t * 2.5 + fu * 0.8) + self.phase[0][ku])
        twist_f = np.sin(np.float32(2 * np.pi) * (fu * 2.0 + fv * 0.8) + self.phase[1][kv])
        pos = v / 5.0
        i0 = np.floor(pos)
        a = pos - i0
        i0 = i0.astype(np.int64) % 16
        slub = self.slub[ku, i0] * (1.0 - a) + self.slub[ku, (i0 + 1) % 16] * a
        shade_w = (0.25 + 0.75 * cross_w * arch) * (1 + 0.12 * self.warp_var[ku]) * (1 + 0.07 * twist_w)
        shade_w *= 1.0 + 0.13 * slub
        shade_f = (0.2 + 0.8 * cross_f * open_f) * (1 + 0.08 * self.weft_var[kv]) * (1 + 0.05 * twist_f)
        shade_f *= np.where(gone, np.float32(0.95), np.float32(0.78))
        warp = np.array(WARP, np.float32) * self.wash
        image = np.where(top[..., None], warp * shade_w[..., None], np.float32(WEFT) * shade_f[..., None])
        image *= (1 + 0.13 * self.mottle)[..., None]  # stone-wash fading
        image += 0.035 * self.fuzz[..., None]
        return image


def _spot(rng: np.random.Generator, n: int, size: int) -> tuple[float, float]:
    """A random canvas point well inside the visible view."""
    off = (n - size) / 2.0
    x, y = off + rng.uniform(0.22, 0.78, 2) * size
    return float(x), float(y)


def _stain(rng: np.random.Generator, image: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Oil, bleach or rust soaked into the cloth; the weave stays visible through it."""
    n = image.shape[0]
    alpha = blob(
        rng,
        n,
        _spot(rng, n, size),
        rng.uniform(0.08, 0.12) * size,
        rng.uniform(0.55, 1.0),
        rng.uniform(0, np.pi),
        0.3,
        2.5,
    )
    alpha *= 0.8 + 0.2 * np.clip(noise(rng, n, n / 10), -1, 1)
    structure = np.sqrt(np.clip(luma(image) / np.float32(0.25), 0.2, 3.0))[..., None]
    kind = int(rng.integers(0, 3))
    if kind == 0:  # oil: darker, slightly yellow
        stained = image * np.array((0.4, 0.37, 0.25), np.float32)
    elif kind == 1:  # bleach: faded towards light blue-grey
        stained = 0.25 * image + np.array((0.45, 0.50, 0.58), np.float32) * structure
    else:  # rust / coffee
        stained = 0.2 * image + np.array((0.40, 0.23, 0.10), np.float32) * structure
    return over(image, alpha * 0.9, stained), dilate(alpha, 0, 0.3)


def _tear(rng: np.random.Generator, image: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A slit along the yarns: the table shows through, frayed fibres at the edge, broken yarns across it."""
    n = image.shape[0]
    angle = rng.choice([0.0, np.pi / 2]) + rng.normal(0.0, 0.3)
    center = _spot(rng, n, size)
    hole = blob(rng, n, center, rng.uniform(0.08, 0.12) * size, rng.uniform(0.2, 0.35), angle, 0.2, 1.0)
    fringe = np.clip(dilate(hole, 3, 0.3) - hole, 0, 1)
    fluff = np.clip(0.5 + 0.8 * noise(rng, n, n / 2), 0, 1) * fringe
    image = over(image, fluff * 0.8, WEFT)
    backing = (rng.uniform(0.12, 0.3) * (1 + 0.1 * noise(rng, n, n / 8)))[..., None] * np.float32(
        (0.9, 0.95, 1.0)
    )
    image = over(image, hole, backing)
    for _ in range(int(rng.integers(2, 5))):  # broken yarns hanging across the opening
        t = rng.uniform(-0.6, 0.6) * 0.09 * size
        ax, ay = center[0] + t * np.cos(angle), center[1] + t * np.sin(angle)
        dirn = angle + np.pi / 2 + rng.normal(0.0, 0.35)
        reach = rng.uniform(0.02, 0.05) * size
        pts = np.array([[ax - reach * np.cos(dirn), ay - reach * np.sin(dirn)], [ax, ay]])
        image = over(image, stroke(n, pts, (max(1.5, 0.006 * size), 1.0)) * 0.85, WEFT)
    return image, dilate(hole, 3, 0.3)


def _snag(
    rng: np.random.Generator, cloth: _Cloth, u: np.ndarray, v: np.ndarray, size: int, p: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pulled weft yarn (``p``: weft pitch, px): the picks around it pucker, the yarn floats on top."""
    n = u.shape[1]
    yy, xx = coords(n)
    x0, y0 = _spot(rng, n, size)
    half = float(rng.uniform(0.12, 0.2)) * size
    row = float(np.floor(y0 / p + v[0, 0])) + 0.5
    env = smoothstep(half, half * 0.7, np.abs(xx - x0))
    d = v - row
    pull = np.float32(rng.uniform(0.5, 0.8))
    v2 = v - pull * env * d * np.exp(-((d / 1.6) ** 2))
    image = cloth.render(u, v2)
    yc = float(row - v[0, 0]) * p
    ywav = yc + 0.25 * p * np.sin(xx / p * float(rng.uniform(0.4, 0.8)))
    yarn = smoothstep(0.42 * p, 0.22 * p, np.abs(yy - ywav)) * env
    shadow = smoothstep(0.9 * p, 0.3 * p, np.abs(yy - ywav - 0.35 * p)) * env
    image = image * (1 - 0.45 * shadow)[..., None]
    image = over(image, yarn, np.array(WEFT, np.float32) * 0.95)
    mask = (np.abs(d) < 2.6) * (env > 0.1)
    return image, dilate(mask.astype(np.float32), 1)


def draw(
    rng: np.random.Generator,
    n: int,
    size: int,
    defect: str | None,
    defect_rng: np.random.Generator,
    angle: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Render the cloth canvas and the defect alpha; ``rng`` fixes the good sample."""
    yy, xx = coords(n)
    p = PERIOD * size * float(rng.uniform(0.98, 1.02))
    ox, oy = (float(o) for o in rng.uniform(0.0, 3.0 * p, 2))
    cloth = _Cloth(rng, n)
    u, v = (xx[:1] + ox) / np.float32(p), (yy[:, :1] + oy) / np.float32(PICK * p)
    empty = np.zeros((n, n), np.float32)
    if defect is None:
        return cloth.render(u, v), empty
    if defect == "scratch":
        return _snag(defect_rng, cloth, u, v, size, PICK * p)
    if defect == "missing":
        x0, y0 = _spot(defect_rng, n, size)
        length = defect_rng.uniform(0.35, 0.6) * size / (PICK * p)
        col = int(np.floor((x0 + ox) / p))
        first = float(np.floor((y0 + oy) / (PICK * p) - length / 2))
        cloth.missing = (col, first, first + length)
        in_col = (u > col - 0.2) & (u < col + 1.2) & (v >= first) & (v <= first + length + 1)
        return cloth.render(u, v), dilate(in_col.astype(np.float32), 1)
    image = cloth.render(u, v)
    if defect == "stain":
        return _stain(defect_rng, image, size)
    return _tear(defect_rng, image, size)
