from __future__ import annotations

import numpy as np
import pytest

from inspector.bundle.preprocess import Preprocessing


def test_normalises_and_resizes_to_chw() -> None:
    pre = Preprocessing(4, 6)
    image = np.full((8, 12, 3), 255, np.uint8)
    image[..., 1] = 0
    out = pre(image)
    assert out.shape == (3, 4, 6) and out.dtype == np.float32
    assert np.allclose(out[0], 1.0) and np.allclose(out[1], -1.0)


def test_grayscale_and_rgba_become_rgb() -> None:
    pre = Preprocessing(2, 2)
    gray = np.full((2, 2), 128, np.uint8)
    rgba = np.dstack([np.full((2, 2, 3), 128, np.uint8), np.zeros((2, 2), np.uint8)])
    assert np.array_equal(pre(gray), pre(rgba))


def test_round_trips_through_dict() -> None:
    pre = Preprocessing(10, 20, (0.1, 0.2, 0.3), (0.4, 0.5, 0.6), "linear")
    assert Preprocessing.from_dict(pre.to_dict()) == pre


@pytest.mark.parametrize("kwargs, word", [({"height": 0, "width": 3}, "positive"),
                                           ({"height": 3, "width": 3, "resize": "cubic"}, "cubic"),
                                           ({"height": 3, "width": 3, "std": (1, 0, 1)}, "std")])
def test_bad_settings_are_named(kwargs: dict, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        Preprocessing(**kwargs)


def test_rejects_16_bit_images() -> None:
    with pytest.raises(ValueError, match="uint16"):
        Preprocessing(2, 2)(np.zeros((2, 2, 3), np.uint16))
