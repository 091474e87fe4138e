"""Public entry point of the synthetic renderer: products, defect classes and ``render``."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np

from inspector.synthetic import camera, fabric, pcb, washer

_PRODUCTS: dict[str, ModuleType] = {"washer": washer, "pcb": pcb, "fabric": fabric}
PRODUCTS: tuple[str, ...] = tuple(_PRODUCTS)
MIN_SIZE = 32


@dataclass(frozen=True)
class SyntheticSample:
    """One rendered image with its ground truth."""

    image: np.ndarray  # H x W x 3 uint8, RGB
    mask: np.ndarray  # H x W uint8, 0 or 255 (all zero for good)
    product: str
    defect: str | None  # None = good


def _module(product: str) -> ModuleType:
    try:
        return _PRODUCTS[product]
    except (KeyError, TypeError):
        raise ValueError(f"unknown product {product!r}; valid products: {', '.join(PRODUCTS)}") from None


def defect_types(product: str) -> tuple[str, ...]:
    """The defect classes ``product`` can show."""
    return tuple(_module(product).DEFECTS)


def render(
    product: str, rng: np.random.Generator, defect: str | None = None, size: int = 256
) -> SyntheticSample:
    """Render one ``size`` x ``size`` sample of ``product``, good (``defect=None``) or with ``defect``.

    Exactly three seeds are drawn from ``rng``: one for the part and its finish, one for the defect and one
    for the camera (pose, light, noise). A good and a defective render from equally seeded generators thus
    share the same part, pose and noise and differ only where the defect is.
    """
    module = _module(product)
    if defect is not None and defect not in module.DEFECTS:
        raise ValueError(
            f"unknown defect {defect!r} for {product}; valid defects: {', '.join(module.DEFECTS)}"
        )
    if not isinstance(size, int | np.integer) or size < MIN_SIZE:
        raise ValueError(f"size must be an integer >= {MIN_SIZE}, got {size!r}")
    size = int(size)
    scene_rng, defect_rng, camera_rng = (np.random.default_rng(int(s)) for s in rng.integers(0, 2**63 - 1, 3))
    margin = size // 8
    pose = camera.sample_pose(camera_rng, module.POSE, size)
    canvas, alpha = module.draw(scene_rng, size + 2 * margin, size, defect, defect_rng, pose.angle)
    canvas, alpha = camera.warp(canvas.astype(np.float32), alpha.astype(np.float32), pose, size)
    image = camera.expose(canvas, camera_rng)
    mask = np.where(alpha > 0.5, 255, 0).astype(np.uint8)
    return SyntheticSample(image=image, mask=mask, product=product, defect=defect)
