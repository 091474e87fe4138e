"""Tiling large frames: the plan covers the frame exactly, stitching leaves no seams, batches fall back to one tile."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pytest

from inspector.bundle.manifest import TilingSpec
from inspector.bundle.preprocess import Preprocessing
from inspector.domain.frame import Frame
from inspector.inference.anomaly import AnomalyModel
from inspector.inference.runtimes import RawOutput
from inspector.inference.tiling import (
    TileScorer,
    blend_window,
    check_tiling,
    frame_score,
    plan_tiles,
    score_frame,
    tile_starts,
)


def coverage(plan) -> np.ndarray:
    count = np.zeros((max(plan.height, plan.tile), max(plan.width, plan.tile)), np.int32)
    for y, x in plan.boxes:
        count[y : y + plan.tile, x : x + plan.tile] += 1
    return count[: plan.height, : plan.width]


def test_a_5mp_frame_at_full_and_half_resolution() -> None:
    full = plan_tiles(2048, 2448, tile=256, overlap=32)
    assert (full.height, full.width) == (2048, 2448)
    assert full.xs == (0, 224, 448, 672, 896, 1120, 1344, 1568, 1792, 2016, 2192)
    assert full.ys == (0, 224, 448, 672, 896, 1120, 1344, 1568, 1792)
    assert len(full) == 99 == len(full.boxes)
    assert coverage(full).min() >= 1
    half = plan_tiles(2048, 2448, tile=256, overlap=32, scale=0.5)
    assert (half.height, half.width) == (1024, 1224)
    assert half.xs == (0, 224, 448, 672, 896, 968) and half.ys == (0, 224, 448, 672, 768)
    assert len(half) == 30 and coverage(half).min() >= 1


@pytest.mark.parametrize("length", [1, 63, 64, 65, 100, 127, 128, 129, 500, 2448])
@pytest.mark.parametrize(("tile", "overlap"), [(64, 0), (64, 8), (64, 63), (256, 32)])
def test_starts_cover_every_pixel_overlap_enough_and_end_at_the_border(length: int, tile: int, overlap: int) -> None:
    starts = tile_starts(length, tile, overlap)
    if length <= tile:
        assert starts == (0,)
        return
    assert starts[0] == 0 and starts[-1] + tile == length
    assert list(starts) == sorted(set(starts))
    gaps = np.diff(starts)
    assert (gaps <= tile - overlap).all() and (gaps > 0).all()  # neighbours share at least `overlap` pixels
    covered = np.zeros(length, bool)
    for s in starts:
        covered[s : s + tile] = True
    assert covered.all()


def test_cut_gives_the_pixels_at_the_planned_places_and_pads_small_frames() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (100, 150, 3), dtype=np.uint8)
    plan = plan_tiles(100, 150, tile=64, overlap=16)
    for (y, x), tile in zip(plan.boxes, plan.cut(image), strict=True):
        assert np.array_equal(tile, image[y : y + 64, x : x + 64])
    small = plan_tiles(40, 150, tile=64, overlap=16, scale=1.0)
    tiles = small.cut(image[:40])
    assert all(t.shape == (64, 64, 3) for t in tiles) and small.ys == (0,)
    assert small.stitch(np.ones((len(small), 64, 64))).shape == (40, 150)
    with pytest.raises(ValueError, match="plan for 150x100"):
        plan.cut(image[:50])


def test_window_is_never_zero_and_flat_inside() -> None:
    window = blend_window(64, 16)
    assert window.min() > 0 and window.max() == 1.0
    assert (window[16:48, 16:48] == 1.0).all()
    assert np.allclose(window, window[::-1, ::-1])
    assert (blend_window(64, 0) == 1.0).all()


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.37])
def test_stitching_a_constant_gives_that_constant_everywhere(scale: float) -> None:
    plan = plan_tiles(384, 512, tile=64, overlap=12, scale=scale)
    stitched = plan.stitch(np.full((len(plan), 64, 64), 3.25, np.float32))
    assert stitched.shape == (plan.height, plan.width)
    assert np.abs(stitched - 3.25).max() < 1e-5
    assert np.abs(plan.to_frame(stitched) - 3.25).max() < 1e-5 and plan.to_frame(stitched).shape == (384, 512)


def largest_step(image: np.ndarray) -> float:
    return float(max(np.abs(np.diff(image, axis=0)).max(), np.abs(np.diff(image, axis=1)).max()))


def test_tiles_that_disagree_blend_without_a_step_at_their_borders() -> None:
    rng = np.random.default_rng(1)
    tile, overlap = 64, 16
    plan = plan_tiles(384, 512, tile=tile, overlap=overlap)
    values = rng.uniform(0.0, 1.0, len(plan)).astype(np.float32)  # each tile says something else
    maps = np.broadcast_to(values[:, None, None], (len(plan), tile, tile))
    stitched = plan.stitch(maps)
    # Each raised-cosine ramp moves a tile's share by at most pi / (2 * overlap) per pixel; with up to four
    # tiles over a pixel the step stays well under a tenth of the spread between the tiles.
    assert largest_step(stitched) <= 0.1 * float(np.ptp(values))
    # Away from the overlaps each tile keeps its own value.
    for (y, x), value in zip(plan.boxes, values, strict=True):
        inner = stitched[y + overlap : y + tile - overlap, x + overlap : x + tile - overlap]
        covered = coverage(plan)[y + overlap : y + tile - overlap, x + overlap : x + tile - overlap]
        assert np.allclose(inner[covered == 1], value, atol=1e-6)
    # The same tiles laid edge to edge (no overlap to blend) step by the full disagreement.
    hard = plan_tiles(384, 512, tile=tile, overlap=0)
    hard_maps = np.broadcast_to(values[: len(hard), None, None], (len(hard), tile, tile))
    assert largest_step(hard.stitch(hard_maps)) > 0.3


def test_identity_maps_stitch_back_to_the_frame() -> None:
    """Each tile's map is its own pixels: the stitched map is the frame, so every tile went back to its place."""
    rng = np.random.default_rng(2)
    frame = rng.uniform(0, 1, (200, 330)).astype(np.float32)
    plan = plan_tiles(200, 330, tile=64, overlap=20)
    stitched = plan.stitch(np.stack(plan.cut(frame)))
    assert np.abs(stitched - frame).max() < 1e-5


def test_frame_score_is_the_peak_of_the_stitched_map() -> None:
    stitched = np.zeros((40, 60), np.float32)
    stitched[30, 7] = 2.5
    assert frame_score(stitched) == 2.5
    stitched[0, 0] = np.nan
    assert np.isnan(frame_score(stitched))
    with pytest.raises(ValueError):
        frame_score(np.zeros((0, 0)))


@pytest.mark.parametrize(("tile", "overlap", "scale", "message"), [
    (64, 64, 1.0, "overlap"), (64, -1, 1.0, "overlap"), (64, 8, 0.0, "scale"), (64, 8, float("nan"), "scale"),
    (0, 0, 1.0, "tile side"),
])
def test_bad_tilings_are_refused_by_name(tile: int, overlap: int, scale: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_tiling(tile, overlap, scale)


class FakeRuntime:
    """Score = the tile's largest first-channel value, map = the first channel; may refuse batches."""

    def __init__(self, batches: bool, max_batch: int | None = None) -> None:
        self.batches, self.calls = batches, []
        if max_batch is not None:
            self.max_batch = max_batch

    def __call__(self, batch: np.ndarray) -> RawOutput:
        self.calls.append(len(batch))
        if len(batch) > 1 and not self.batches:
            raise RuntimeError("Got invalid dimensions for input: images index: 0 Got: 2 Expected: 1")
        maps = batch[:, 0].copy()
        return RawOutput(scores=maps.reshape(len(batch), -1).max(axis=1), maps=maps)


def test_batched_runtime_takes_tiles_in_batches() -> None:
    runtime = FakeRuntime(batches=True)
    inputs = np.random.default_rng(3).normal(size=(37, 3, 8, 8)).astype(np.float32)
    scores, maps = TileScorer(runtime, batch=16)(inputs)
    assert runtime.calls == [16, 16, 5]
    assert np.array_equal(maps, inputs[:, 0]) and scores.shape == (37,)
    capped = FakeRuntime(batches=True, max_batch=4)
    TileScorer(capped, batch=16)(inputs[:10])
    assert capped.calls == [4, 4, 2]


def test_a_runtime_that_refuses_batches_scores_one_tile_per_call_from_then_on(caplog) -> None:
    runtime = FakeRuntime(batches=False)
    scorer = TileScorer(runtime, batch=8)
    inputs = np.random.default_rng(4).normal(size=(5, 3, 8, 8)).astype(np.float32)
    with caplog.at_level(logging.WARNING, logger="inspector.inference.tiling"):
        scores, maps = scorer(inputs)
        assert runtime.calls == [5, 1, 1, 1, 1, 1] and np.array_equal(maps, inputs[:, 0])
        runtime.calls.clear()
        scorer(inputs)
    assert runtime.calls == [1] * 5
    assert [r.getMessage() for r in caplog.records if "one tile per call" in r.getMessage()] != []
    assert len(caplog.records) == 1  # said once, not per frame


def tiled_model(runtime, tiling: TilingSpec | None) -> AnomalyModel:
    """An AnomalyModel around a fake runtime (no bundle files): only what run_frame reads."""
    model = object.__new__(AnomalyModel)
    model.bundle = SimpleNamespace(manifest=SimpleNamespace(tiling=tiling))
    model.preprocessing = Preprocessing(64, 64, mean=(0.0,) * 3, std=(1.0,) * 3)
    model.runtime = runtime
    return model


def test_a_tiled_bundle_finds_a_small_defect_where_it_is() -> None:
    image = np.full((600, 840, 3), 40, np.uint8)
    image[400:406, 660:666] = 255  # a 6 px defect
    frame = Frame(id=1, camera="c", timestamp=0.0, monotonic=0.0, image=image)
    runtime = FakeRuntime(batches=False)
    model = tiled_model(runtime, TilingSpec(tile=64, overlap=8, scale=1.0))
    found = model.run_frame(frame, pixel_threshold=0.5, min_area=1)
    plan = plan_tiles(600, 840, 64, 8)
    assert len(runtime.calls) == 1 + len(plan)  # one refused batch, then one tile per call
    assert found.anomaly_map.shape == (600, 840) and found.score == pytest.approx(1.0)
    region = found.regions[0]
    assert (region.x, region.y, region.width, region.height) == (660, 400, 6, 6)
    # The same frame through an untiled bundle is resized whole to 64 px: the defect melts into its background.
    whole = tiled_model(FakeRuntime(batches=True), None).run_frame(frame, pixel_threshold=0.5, min_area=1)
    assert whole.score < 0.5 and whole.regions == ()


def test_score_frame_matches_scoring_the_tiles_by_hand() -> None:
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (130, 170, 3), dtype=np.uint8)
    plan = plan_tiles(130, 170, tile=64, overlap=10, scale=0.8)
    pre = Preprocessing(64, 64)
    runtime = FakeRuntime(batches=True)
    score, stitched = score_frame(plan, image, pre, TileScorer(runtime))
    tiles = np.stack([pre(t) for t in plan.cut(image)])
    assert score == pytest.approx(float(tiles[:, 0].max()))
    assert stitched.shape == (plan.height, plan.width) == (104, 136)
