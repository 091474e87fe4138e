"""Pixel-format conversion: a GenICam (PFNC) buffer to an HxWx3 uint8 RGB image, numpy + cv2 only."""

from __future__ import annotations

import cv2
import numpy as np

# Bit depth of the monochrome formats; every one is scaled to 8 bits by a right shift.
_MONO_BITS = {"Mono8": 8, "Mono10": 10, "Mono12": 12, "Mono14": 14, "Mono16": 16}

# PFNC names the colour of the top-left 2x2 cell (BayerRG = R G / G B). OpenCV names its Bayer codes
# after the cell starting at the second row and column, so the letters are swapped.
_BAYER_CODES = {
    "BayerRG": cv2.COLOR_BayerBG2RGB,
    "BayerGB": cv2.COLOR_BayerGR2RGB,
    "BayerGR": cv2.COLOR_BayerGB2RGB,
    "BayerBG": cv2.COLOR_BayerRG2RGB,
}
_BAYER_BITS = (8, 10, 12, 16)

# Interleaved colour formats: channels and the cv2 conversion to RGB (None: already RGB).
_COLOR = {
    "RGB8": (3, None),
    "BGR8": (3, cv2.COLOR_BGR2RGB),
    "RGBa8": (4, cv2.COLOR_RGBA2RGB),
    "BGRa8": (4, cv2.COLOR_BGRA2RGB),
}

SUPPORTED_FORMATS: tuple[str, ...] = (
    *_MONO_BITS,
    *(f"{name}{bits}" for name in _BAYER_CODES for bits in _BAYER_BITS),
    *_COLOR,
)


def _plane(data: np.ndarray, width: int, height: int, channels: int, bits: int) -> np.ndarray:
    """Take the first ``height * width * channels`` samples as an (H, W[, C]) array of the right dtype."""
    flat = np.asarray(data).reshape(-1)
    if bits > 8 and flat.dtype == np.uint8:
        flat = flat[: flat.size - flat.size % 2].view("<u2")  # raw little-endian bytes
    needed = width * height * channels
    if flat.size < needed:
        raise ValueError(f"buffer holds {flat.size} samples, {width}x{height}x{channels} needs {needed}")
    shape = (height, width, channels) if channels > 1 else (height, width)
    return flat[:needed].reshape(shape)


def _to_8bit(plane: np.ndarray, bits: int) -> np.ndarray:
    """Scale an integer plane of ``bits`` significant bits to uint8 (max code -> 255)."""
    if bits == 8:
        return plane.astype(np.uint8, copy=False)
    return (plane.astype(np.uint16, copy=False) >> (bits - 8)).astype(np.uint8)


def _split_bayer(pixel_format: str) -> tuple[str, int] | None:
    name, digits = pixel_format[:7], pixel_format[7:]
    if name in _BAYER_CODES and digits.isdigit() and int(digits) in _BAYER_BITS:
        return name, int(digits)
    return None


def to_rgb8(data: np.ndarray, width: int, height: int, pixel_format: str) -> np.ndarray:
    """Convert one buffer to a new, contiguous HxWx3 uint8 RGB array (never a view of ``data``).

    Raises ``ValueError`` naming the format, with the supported list, for an unknown format.
    """
    width, height = int(width), int(height)
    if pixel_format in _MONO_BITS:
        bits = _MONO_BITS[pixel_format]
        gray = _to_8bit(_plane(data, width, height, 1, bits), bits)
        return cv2.cvtColor(np.ascontiguousarray(gray), cv2.COLOR_GRAY2RGB)
    bayer = _split_bayer(pixel_format)
    if bayer is not None:
        name, bits = bayer
        raw = _to_8bit(_plane(data, width, height, 1, bits), bits)
        return cv2.cvtColor(np.ascontiguousarray(raw), _BAYER_CODES[name])
    if pixel_format in _COLOR:
        channels, code = _COLOR[pixel_format]
        image = _plane(data, width, height, channels, 8).astype(np.uint8, copy=False)
        if code is None:
            return np.array(image, dtype=np.uint8, copy=True, order="C")
        return cv2.cvtColor(np.ascontiguousarray(image), code)
    raise ValueError(f"unsupported pixel format {pixel_format!r}; supported: {', '.join(SUPPORTED_FORMATS)}")
