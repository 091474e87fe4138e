from __future__ import annotations

import time

import numpy as np
import pytest

from inspector.camera.simulated import SimulatedCamera
from inspector.domain.camera import Camera, CameraError


def test_emits_parts_at_the_set_rate_with_ground_truth() -> None:
    camera = SimulatedCamera("pcb", fps=40, defect_fraction=0.5, seed=1, size=64)
    assert isinstance(camera, Camera)
    camera.start()
    start = time.monotonic()
    frames = [camera.grab(1.0) for _ in range(12)]
    elapsed = time.monotonic() - start
    assert all(f is not None and f.image.shape == (64, 64, 3) for f in frames)
    assert [f.id for f in frames] == list(range(1, 13))
    assert elapsed >= 11 / 40 * 0.9
    defective = [f for f in frames if f.truth.is_defective]
    assert 0 < len(defective) < 12
    assert all(f.truth.mask is not None and f.truth.mask.any() for f in defective)


def test_same_seed_same_sequence() -> None:
    a, b = SimulatedCamera(seed=3, size=64, fps=1000), SimulatedCamera(seed=3, size=64, fps=1000)
    a.start(), b.start()
    assert all(np.array_equal(a.grab(1).image, b.grab(1).image) for _ in range(3))


def test_unplug_times_out_and_replug_resumes() -> None:
    camera = SimulatedCamera(size=64, fps=100)
    camera.start()
    camera.unplug()
    assert camera.grab(0.05) is None and not camera.stats.connected
    camera.replug()
    assert camera.grab(1.0) is not None and camera.stats.connected and camera.stats.reconnects == 1


def test_bad_settings_are_named() -> None:
    with pytest.raises(CameraError, match="bolt"):
        SimulatedCamera("bolt")
    with pytest.raises(CameraError, match="fps"):
        SimulatedCamera(fps=0)
    with pytest.raises(CameraError, match="before start"):
        SimulatedCamera().grab(0.1)
