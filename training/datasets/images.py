"""Strict image and mask decoding: a file either decodes completely or raises, naming the file."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})

# Decode to the stored depth and colour (gray stays 1 channel, alpha is dropped), applying EXIF orientation.
_CV2_FLAGS = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR


class ImageReadError(Exception):
    """An image file that cannot be decoded completely."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class MaskError(ImageReadError):
    """A mask that decodes but does not fit its image."""


def is_image_file(path: Path) -> bool:
    """True for visible regular files with an image extension (case-insensitive)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".") and path.is_file()


def _check_complete(path: Path, data: bytes) -> None:
    """Fully decode with Pillow, which raises on truncated or damaged files that OpenCV may half-decode."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, NotImplementedError):
        return  # Pillow cannot judge this file; OpenCV decides alone.
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, EOFError, ...
        raise ImageReadError(path, f"corrupt or truncated image ({exc})") from exc


def _decode(path: Path) -> np.ndarray:
    """Decode ``path`` to its stored depth, raising :class:`ImageReadError` on any problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageReadError(path, f"cannot read file ({exc.strerror or exc})") from exc
    if not data:
        raise ImageReadError(path, "empty file (0 bytes)")
    _check_complete(path, data)
    array = cv2.imdecode(np.frombuffer(data, np.uint8), _CV2_FLAGS)
    if array is None or array.size == 0:
        raise ImageReadError(path, "not a decodable image")
    return array


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)
    values = array.astype(np.float64)
    if np.issubdtype(array.dtype, np.floating) and np.nanmax(values, initial=0.0) <= 1.0:
        values = values * 255.0
    return np.clip(np.nan_to_num(values), 0, 255).round().astype(np.uint8)


def read_image(path: Path) -> np.ndarray:
    """Read an image as HxWx3 uint8 RGB; grayscale, alpha and 16-bit/float inputs are converted.

    16-bit values map onto 0..255 over the full range. Raises :class:`ImageReadError` naming the file.
    """
    array = _to_uint8(_decode(path))
    if array.ndim == 2:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)
    channels = array.shape[2]
    if channels == 1:
        return cv2.cvtColor(array[:, :, 0], cv2.COLOR_GRAY2RGB)
    if channels == 3:
        return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    if channels == 4:
        return cv2.cvtColor(array, cv2.COLOR_BGRA2RGB)
    raise ImageReadError(Path(path), f"unsupported channel count {channels}")


def read_mask(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """Read a ground-truth mask as HxW bool (any non-zero pixel is defect).

    ``shape`` is the image's (height, width); a different mask size raises :class:`MaskError`,
    an undecodable mask :class:`ImageReadError`.
    """
    array = _decode(path)
    mask = array if array.ndim == 2 else np.any(array != 0, axis=2)
    height, width = mask.shape[:2]
    if (height, width) != tuple(shape[:2]):
        raise MaskError(
            Path(path),
            f"mask size {width}x{height} differs from image size {shape[1]}x{shape[0]} (width x height)",
        )
    return mask != 0
