"""Tiles for frames larger than the model input: plan, score in batches, stitch one seam-free anomaly map.

A frame is first resized by ``scale`` (1.0: full resolution; 0.5: half), then cut into square tiles of the
model's input side that overlap by ``overlap`` pixels (of the resized frame) and cover it exactly: tiles start
every ``tile - overlap`` pixels and the last row and column are shifted back to end at the border. A frame
smaller than one tile (after scaling) is padded by reflection. Training cuts its images with the same plan, so
the model sees the same pixel scale in training and at the station.

Stitching weighs every tile's map by a separable raised-cosine window that ramps over the overlap and is never
zero, and divides by the summed weights: where tiles agree the result is their value exactly (no seam), and
where they disagree it passes smoothly from one to the other instead of stepping at a tile border.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

log = logging.getLogger(__name__)
DEFAULT_BATCH = 4  # on the CPU a tile is already a large call; bigger batches only grow the kNN distance matrix


def check_tiling(tile: int, overlap: int, scale: float) -> None:
    """``ValueError`` naming the bad value (tile >= 1, 0 <= overlap < tile, scale > 0)."""
    if int(tile) < 1:
        raise ValueError(f"tile side must be at least 1 pixel, got {tile}")
    if not 0 <= int(overlap) < int(tile):
        raise ValueError(f"tile overlap must be at least 0 and less than the tile side ({tile}), got {overlap}")
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"tile scale must be greater than 0, got {scale}")


def tile_starts(length: int, tile: int, overlap: int) -> tuple[int, ...]:
    """Start offsets of tiles of side ``tile`` covering ``0..length`` with ``overlap``; the last ends at the border."""
    if length <= tile:
        return (0,)
    stride = tile - overlap
    count = math.ceil((length - tile) / stride) + 1
    return tuple(min(i * stride, length - tile) for i in range(count))


@lru_cache(maxsize=8)
def blend_window(tile: int, overlap: int) -> np.ndarray:
    """``tile x tile`` float32 weights: 1 inside, a raised-cosine ramp over ``overlap`` pixels at each edge.

    The ramp is sampled at pixel centres, so its smallest weight (at the very edge) is positive, never zero.
    """
    ramp = np.ones(tile, np.float64)
    if overlap > 0:
        rise = 0.5 - 0.5 * np.cos(np.pi * (np.arange(overlap) + 0.5) / overlap)
        ramp[:overlap] = np.minimum(ramp[:overlap], rise)
        ramp[tile - overlap :] = np.minimum(ramp[tile - overlap :], rise[::-1])
    window = np.outer(ramp, ramp).astype(np.float32)
    window.setflags(write=False)
    return window


@dataclass(frozen=True)
class TilePlan:
    """Where the tiles of one frame size lie: offsets in the frame resized by ``scale`` (``height x width``)."""

    frame_height: int
    frame_width: int
    height: int  # the resized frame
    width: int
    tile: int
    overlap: int
    scale: float
    ys: tuple[int, ...]
    xs: tuple[int, ...]

    @property
    def boxes(self) -> list[tuple[int, int]]:
        """``(y, x)`` of every tile's top-left corner in the resized (and padded) frame, row by row."""
        return [(y, x) for y in self.ys for x in self.xs]

    def __len__(self) -> int:
        return len(self.ys) * len(self.xs)

    def resized(self, image: np.ndarray) -> np.ndarray:
        """The frame at the plan's scale, reflect-padded to at least one tile on each side."""
        if image.shape[:2] != (self.frame_height, self.frame_width):
            raise ValueError(f"plan for {self.frame_width}x{self.frame_height} frames, got "
                             f"{image.shape[1]}x{image.shape[0]}")
        if (self.height, self.width) != (self.frame_height, self.frame_width):
            shrink = self.height < self.frame_height
            image = cv2.resize(image, (self.width, self.height),
                               interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        pad_y, pad_x = max(0, self.tile - self.height), max(0, self.tile - self.width)
        if pad_y or pad_x:
            image = cv2.copyMakeBorder(image, 0, pad_y, 0, pad_x, cv2.BORDER_REFLECT_101)
        return image

    def cut(self, image: np.ndarray) -> list[np.ndarray]:
        """The frame's tiles (views into its resized copy), in ``boxes`` order."""
        canvas = self.resized(image)
        t = self.tile
        return [canvas[y : y + t, x : x + t] for y, x in self.boxes]

    def stitch(self, maps: np.ndarray) -> np.ndarray:
        """One map of the resized frame (``height x width``) from the tiles' maps (N x h x w, any h, w)."""
        maps = np.asarray(maps, np.float32)
        if len(maps) != len(self):
            raise ValueError(f"plan has {len(self)} tiles, got {len(maps)} maps")
        t = self.tile
        window = blend_window(t, self.overlap)
        total = np.zeros((max(self.height, t), max(self.width, t)), np.float32)
        weight = np.zeros_like(total)
        for (y, x), tile_map in zip(self.boxes, maps, strict=True):
            if tile_map.shape != (t, t):
                tile_map = cv2.resize(tile_map, (t, t), interpolation=cv2.INTER_LINEAR)
            total[y : y + t, x : x + t] += tile_map * window
            weight[y : y + t, x : x + t] += window
        return (total / weight)[: self.height, : self.width]

    def to_frame(self, stitched: np.ndarray) -> np.ndarray:
        """A stitched map (``height x width``) at frame size."""
        if stitched.shape == (self.frame_height, self.frame_width):
            return stitched
        return cv2.resize(stitched, (self.frame_width, self.frame_height), interpolation=cv2.INTER_LINEAR)


@lru_cache(maxsize=32)
def plan_tiles(frame_height: int, frame_width: int, tile: int, overlap: int, scale: float = 1.0) -> TilePlan:
    """The tiling of a ``frame_width x frame_height`` frame resized by ``scale`` (see the module docstring)."""
    check_tiling(tile, overlap, scale)
    height = max(1, round(frame_height * scale))
    width = max(1, round(frame_width * scale))
    return TilePlan(frame_height, frame_width, height, width, int(tile), int(overlap), float(scale),
                    tile_starts(height, tile, overlap), tile_starts(width, tile, overlap))


def frame_score(stitched: np.ndarray) -> float:
    """The frame's image score: the peak of its stitched anomaly map.

    A tile's own image score re-weights its worst patch by how crowded the memory bank is around it; over the
    thousands of patches of a 5 MP frame that re-weighting is noise, and the largest tile score ranked frames
    worse than the map's peak (benchmarks/large_frames.py: image AUROC 0.765 against 0.951 on the same frames).
    The peak keeps the threshold's meaning whatever the number of tiles; a mean would dilute one small defect.
    """
    values = np.asarray(stitched, np.float64)
    if values.size == 0:
        raise ValueError("an empty anomaly map")
    return float(np.max(values))  # NaN stays NaN: the decision flags a non-finite score


class TileScorer:
    """Scores tile batches through a runtime (``runtime(batch) -> .scores (N,), .maps (N, H, W)``).

    Calls take up to ``batch`` tiles (and no more than the runtime's ``max_batch`` when it says). A runtime whose
    program refuses batches (one exported for a single image) raises on the first batched call; from then on
    every tile goes on its own.
    """

    def __init__(self, runtime: Callable, batch: int = DEFAULT_BATCH) -> None:
        self.runtime = runtime
        self.batch = max(1, min(int(batch), int(getattr(runtime, "max_batch", batch) or 1)))
        self.batched = self.batch > 1

    def __call__(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores (N,) and maps (N, H, W) of preprocessed tiles ``inputs`` (N x 3 x H x W float32)."""
        scores, maps = [], []
        start = 0
        while start < len(inputs):
            size = self.batch if self.batched else 1
            chunk = inputs[start : start + size]
            if len(chunk) > 1:
                try:
                    out = self.runtime(chunk)
                    if len(out.scores) != len(chunk) or len(out.maps) != len(chunk):
                        raise ValueError(f"{len(chunk)} tiles gave {len(out.scores)} scores")
                except Exception as exc:  # noqa: BLE001 - a single-image program: one tile per call from now on
                    log.warning("runtime refused a batch of %d tiles (%s: %s); scoring one tile per call",
                                len(chunk), type(exc).__name__, exc)
                    self.batched = False
                    continue
            else:
                out = self.runtime(chunk)
            scores.append(np.asarray(out.scores, np.float32).reshape(-1))
            maps.append(np.asarray(out.maps, np.float32).reshape(len(chunk), *np.shape(out.maps)[-2:]))
            start += len(chunk)
        if not scores:
            raise ValueError("no tiles to score")
        return np.concatenate(scores), np.concatenate(maps)


def tile_inputs(plan: TilePlan, image: np.ndarray, preprocess: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The frame's tiles, each through ``preprocess`` (the bundle's pre-processing): N x 3 x tile x tile float32."""
    return np.stack([preprocess(t) for t in plan.cut(image)])


Score = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # tile inputs -> scores (N,), maps (N, H, W)


def score_frame(plan: TilePlan, image: np.ndarray, preprocess: Callable[[np.ndarray], np.ndarray],
                score: Score) -> tuple[float, np.ndarray]:
    """A frame's image score (``frame_score``) and its stitched map at the plan's scale (``height x width``)."""
    _, maps = score(tile_inputs(plan, image, preprocess))
    stitched = plan.stitch(maps)
    return frame_score(stitched), stitched
