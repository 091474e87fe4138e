"""Content-addressed artifacts, heatmap overlays and thumbnails."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from inspector.storage.archive import ArtifactStore, thumbnail


def image(seed: int = 0, shape: tuple[int, ...] = (64, 48, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_put_png_is_content_addressed_and_deduplicated(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    first = store.put_png(image(), "image")
    again = store.put_png(image(), "image")
    assert first == again
    assert first.relpath == f"{first.sha256[:2]}/{first.sha256[2:]}.png"
    path = store.path(first)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == first.sha256
    assert (first.width, first.height, first.bytes) == (48, 64, path.stat().st_size)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [path.name]  # no temp files left
    assert store.path(first.sha256) == store.path(first.relpath) == path


def test_png_round_trip_keeps_rgb_and_gray(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    rgb, gray = image(1), image(2, (20, 30))
    assert np.array_equal(store.read_png(store.put_png(rgb)), rgb)
    assert np.array_equal(store.read_png(store.put_png(gray)), gray)


def test_verify_detects_corruption_and_absence(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    stored = store.put_png(image())
    assert store.verify(stored) and store.verify(stored.sha256) and store.verify(stored.relpath)
    store.path(stored).write_bytes(b"tampered")
    assert not store.verify(stored)
    store.path(stored).unlink()
    assert not store.verify(stored)
    assert not store.verify("0" * 64)


def test_a_damaged_file_is_rewritten(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    stored = store.put_png(image())
    store.path(stored).write_bytes(b"x")
    store.put_png(image())
    assert store.verify(stored)


def test_paths_cannot_leave_the_root(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="leaves"):
        ArtifactStore(tmp_path / "store").path("../escape.png")


def test_put_bytes(tmp_path: Path) -> None:
    stored = ArtifactStore(tmp_path).put_bytes(b"hello", "image", suffix=".txt", media_type="text/plain")
    assert stored.sha256 == hashlib.sha256(b"hello").hexdigest() and stored.relpath.endswith(".txt")


@pytest.mark.parametrize(("shape", "expected"), [((480, 640, 3), (96, 128, 3)), ((64, 32), (64, 32)),
                                                 ((1000, 10, 3), (128, 1, 3))])
def test_thumbnail_fits_the_longer_side(shape: tuple[int, ...], expected: tuple[int, ...]) -> None:
    assert thumbnail(np.zeros(shape, np.uint8), 128).shape == expected
