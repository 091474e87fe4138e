"""Synthetic product images with pixel-exact defect masks, for training and testing anomaly models.

Three products look like photographed parts: a turned steel ``washer``, an assembled ``pcb`` patch and
denim ``fabric``. Good samples vary in pose, lighting and sensor noise; defects (``scratch``, ``crack``,
``stain``, ``missing``, ``dent``, ``print``) come with a 0/255 mask. Only numpy and OpenCV are used.
"""

from inspector.synthetic.render import PRODUCTS, SyntheticSample, defect_types, render

__all__ = ["PRODUCTS", "SyntheticSample", "defect_types", "render"]
