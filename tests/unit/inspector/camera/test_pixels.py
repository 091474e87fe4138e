"""Pixel-format conversion to HxWx3 uint8 RGB."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.camera.pixels import SUPPORTED_FORMATS, to_rgb8

H, W = 6, 8
COLOUR = (200, 100, 50)  # R, G, B


def bayer_mosaic(top_left_cell: str, colour=COLOUR, bits: int = 8) -> np.ndarray:
    """A flat H x W mosaic of a solid colour; ``top_left_cell`` names the 2x2 cell row by row, e.g. 'RGGB'."""
    channel = {"R": 0, "G": 1, "B": 2}
    dtype = np.uint8 if bits == 8 else np.uint16
    mosaic = np.zeros((H, W), dtype)
    for letter, (dy, dx) in zip(top_left_cell, [(0, 0), (0, 1), (1, 0), (1, 1)], strict=True):
        mosaic[dy::2, dx::2] = colour[channel[letter]] << (bits - 8)
    return mosaic.reshape(-1)


@pytest.mark.parametrize(
    ("pixel_format", "cell"),
    [("BayerRG8", "RGGB"), ("BayerGB8", "GBRG"), ("BayerGR8", "GRBG"), ("BayerBG8", "BGGR")],
)
def test_bayer_solid_colour_demosaics_to_that_colour(pixel_format: str, cell: str) -> None:
    rgb = to_rgb8(bayer_mosaic(cell), W, H, pixel_format)
    assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8
    # Interior pixels have every neighbour; the demosaiced colour must be exact there.
    assert np.array_equal(rgb[2:-2, 2:-2], np.broadcast_to(COLOUR, (H - 4, W - 4, 3)))


def test_bayer_12_bit_is_scaled_then_demosaiced() -> None:
    rgb = to_rgb8(bayer_mosaic("RGGB", bits=12), W, H, "BayerRG12")
    assert tuple(rgb[3, 3]) == COLOUR


@pytest.mark.parametrize(("pixel_format", "bits"), [("Mono8", 8), ("Mono10", 10), ("Mono12", 12), ("Mono16", 16)])
def test_mono_scales_by_bit_depth(pixel_format: str, bits: int) -> None:
    top = (1 << bits) - 1
    data = np.array([0, top, top // 2, 1 << (bits - 8)] * (H * W // 4), np.uint8 if bits == 8 else np.uint16)
    rgb = to_rgb8(data, W, H, pixel_format)
    assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8
    assert rgb[0, :4, 0].tolist() == [0, 255, 127, 1]
    assert np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])


def test_mono12_max_maps_to_255_and_raw_bytes_are_accepted() -> None:
    data = np.full(H * W, 4095, np.uint16)
    assert to_rgb8(data, W, H, "Mono12").min() == 255
    assert to_rgb8(data.view(np.uint8), W, H, "Mono12").min() == 255  # little-endian bytes as delivered


def test_colour_formats() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    alpha = np.full((H, W, 1), 7, np.uint8)
    assert np.array_equal(to_rgb8(rgb.reshape(-1), W, H, "RGB8"), rgb)
    assert np.array_equal(to_rgb8(rgb[..., ::-1].reshape(-1), W, H, "BGR8"), rgb)
    assert np.array_equal(to_rgb8(np.concatenate([rgb, alpha], 2).reshape(-1), W, H, "RGBa8"), rgb)
    assert np.array_equal(to_rgb8(np.concatenate([rgb[..., ::-1], alpha], 2).reshape(-1), W, H, "BGRa8"), rgb)


@pytest.mark.parametrize("pixel_format", ["Mono8", "RGB8", "RGBa8", "BayerRG8"])
def test_result_never_shares_the_driver_buffer(pixel_format: str) -> None:
    channels = {"RGB8": 3, "RGBa8": 4}.get(pixel_format, 1)
    data = np.zeros(H * W * channels, np.uint8)
    out = to_rgb8(data, W, H, pixel_format)
    assert not np.shares_memory(out, data) and out.flags.c_contiguous


def test_padding_after_the_image_is_ignored() -> None:
    data = np.concatenate([np.full(H * W, 9, np.uint8), np.zeros(16, np.uint8)])
    assert to_rgb8(data, W, H, "Mono8").max() == 9


def test_short_buffer_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="needs"):
        to_rgb8(np.zeros(10, np.uint8), W, H, "Mono8")


def test_unknown_format_names_it_and_lists_the_supported() -> None:
    with pytest.raises(ValueError) as info:
        to_rgb8(np.zeros(H * W, np.uint8), W, H, "YCbCr422_8")
    message = str(info.value)
    assert "YCbCr422_8" in message
    assert all(name in message for name in ("Mono12", "BayerRG8", "RGBa8", "BGR8"))
    assert "BayerGB8" in SUPPORTED_FORMATS
