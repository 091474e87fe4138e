"""The one heatmap renderer: colours scaled from the pixel threshold, clear below it, the same on every frame."""

from __future__ import annotations

import numpy as np

from inspector.domain.inspection import ModelOutput
from inspector.render import colour_scale, heatmap_of, overlay

GRAY = np.full((40, 40, 3), 100, np.uint8)


def _map(threshold: float) -> np.ndarray:
    """Rows 0-9 at 0.5x the threshold, rows 10-19 at 2x, one hot pixel at 10x, the rest at 0.1x."""
    m = np.full((40, 40), 0.1 * threshold, np.float32)
    m[:10] = 0.5 * threshold
    m[10:20] = 2.0 * threshold
    m[39, 39] = 10.0 * threshold
    return m


def test_below_three_quarters_of_the_threshold_the_image_shows_through_and_above_it_is_red() -> None:
    out = overlay(GRAY, _map(0.3), 0.3, opacity=0.5)
    assert out.shape == (40, 40, 3) and out.dtype == np.uint8
    assert (out[:10] == 100).all() and (out[25:38] == 100).all()
    red = out[15, 15]
    assert red[0] > 110 and red[1] < 60 and red[2] < 60  # jet's dark-red end, half over the gray


def test_the_colours_follow_the_pixel_threshold_not_the_maps_maximum() -> None:
    """Scaled from each frame's own maximum, the 2x rows would be clear here (the 10x pixel sets the scale)."""
    by_threshold = overlay(GRAY, _map(0.3), colour_scale(_map(0.3), 0.3))
    assert by_threshold[15, 15, 0] > 110 and by_threshold[15, 15, 2] < 60
    by_maximum = overlay(GRAY, _map(0.3), colour_scale(_map(0.3), None))
    assert (by_maximum[15, 15] == 100).all()


def test_the_same_map_relative_to_its_threshold_gives_the_same_picture() -> None:
    assert np.array_equal(overlay(GRAY, _map(0.3), 0.3), overlay(GRAY, _map(7.0), 7.0))


def test_gray_images_and_maps_at_another_size() -> None:
    small = _map(1.0)[::2, ::2]
    assert overlay(GRAY[:, :, 0], small, 1.0).shape == (40, 40, 3)
    assert np.array_equal(overlay(GRAY, small, 1.0, opacity=0.0), GRAY)


def test_heatmap_of_takes_the_first_map_and_its_threshold() -> None:
    m = _map(2.0)
    outputs = [ModelOutput("det", 0.1), ModelOutput("anom", 1.0, anomaly_map=m, pixel_threshold=2.0)]
    found = heatmap_of(outputs)
    assert found is not None and found[0] is m and found[1] == 2.0
    assert heatmap_of([ModelOutput("det", 0.1)]) is None
    assert colour_scale(m, 0.0) == colour_scale(m, None) == 10.0  # no usable threshold: half the maximum
