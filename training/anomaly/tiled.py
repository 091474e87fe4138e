"""Training and evaluation on tiles of large frames, with the station's own tiling (``inspector.inference.tiling``).

Training tiles are cut from the full-size images with the plan the station will use, so the model sees the same
pixel scale in both. Test frames are scored tile by tile and stitched with the station's code; metrics and the
report see each frame at the plan's scale (``height x width`` of the resized frame).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from inspector.bundle.manifest import TilingSpec
from inspector.bundle.preprocess import Preprocessing
from inspector.inference.tiling import Score, TilePlan, frame_score, plan_tiles, tile_inputs
from training.datasets import Sample, read_image, read_mask
from training.evaluation import EvalData
from training.progress import Update

OnFrame = Callable[[TilePlan, np.ndarray], None]  # (plan, the frame's preprocessed tiles)


def default_overlap(tile: int) -> int:
    """An eighth of the tile side: a few feature cells of blending at the cost of about 30 % more tiles."""
    return tile // 8


def tiled_frames(samples: Sequence[Sample], pre: Preprocessing, tiling: TilingSpec, on_frame: OnFrame | None,
                 progress: Update | None = None) -> EvalData:
    """Read each frame once, hand its tiles to ``on_frame`` (if any), and keep it (and its mask) at the plan's scale.

    Every frame is tiled at its own size; for the report all are shown at the first frame's scaled size.
    ``EvalData.inputs`` stays empty: the tiles went to ``on_frame``.
    """
    size: tuple[int, int] | None = None  # (width, height) of the evaluation
    images, masks, has_mask = [], [], []
    for i, sample in enumerate(samples):
        image = read_image(sample.path)
        plan = plan_tiles(image.shape[0], image.shape[1], tiling.tile, tiling.overlap, tiling.scale)
        if on_frame is not None:
            on_frame(plan, tile_inputs(plan, image, pre))
        size = size or (plan.width, plan.height)
        images.append(_resize(image, size, cv2.INTER_AREA))
        if sample.mask_path is not None:
            mask = read_mask(sample.mask_path, image.shape[:2]).astype(np.uint8) * 255
            masks.append(_resize(mask, size, cv2.INTER_AREA) >= 128)
            has_mask.append(True)
        else:
            masks.append(np.zeros(size[::-1], bool))
            has_mask.append(sample.label == 0)
        if progress:
            progress(i + 1, len(samples))
    height, width = (size or (0, 0))[::-1]
    return EvalData(
        names=[f"{s.defect_type}/{s.path.name}" for s in samples],
        images=np.stack(images) if images else np.zeros((0, height, width, 3), np.uint8),
        inputs=np.zeros((0, 3, pre.height, pre.width), np.float32),
        labels=np.array([s.label for s in samples], dtype=np.int64),
        class_names=[s.defect_type for s in samples],
        masks=np.stack(masks) if masks else np.zeros((0, height, width), bool),
        has_mask=np.array(has_mask, dtype=bool),
    )


def _resize(array: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    return array if array.shape[1::-1] == size else cv2.resize(array, size, interpolation=interpolation)


def training_tiles(samples: Sequence[Sample], pre: Preprocessing, tiling: TilingSpec,
                   progress: Update | None = None) -> tuple[EvalData, np.ndarray]:
    """The training frames at the plan's scale (for the naive baseline) and all their tiles (N x 3 x t x t)."""
    tiles: list[np.ndarray] = []
    frames = tiled_frames(samples, pre, tiling, lambda _plan, inputs: tiles.append(inputs), progress)
    stacked = np.concatenate(tiles) if tiles else np.zeros((0, 3, pre.height, pre.width), np.float32)
    return frames, stacked


@dataclass(frozen=True)
class TiledScores:
    """Frame scores (the peak of the stitched map) and stitched maps at the evaluation size, and each frame's
    highest-scoring tile with its score and map (the samples the exported single-tile program is checked on)."""

    scores: np.ndarray  # (N,)
    maps: np.ndarray  # (N, h, w)
    top_inputs: np.ndarray  # (N, 3, t, t)
    top_scores: np.ndarray  # (N,)
    top_maps: np.ndarray  # (N, t, t)
    tiles: int  # tiles scored in all


def score_tiled(samples: Sequence[Sample], pre: Preprocessing, tiling: TilingSpec, score: Score,
                progress: Update | None = None) -> tuple[EvalData, TiledScores]:
    """Score every frame tile by tile with ``score`` (tile inputs -> scores, maps) and stitch its map."""
    found: list[tuple[float, np.ndarray, np.ndarray, float, np.ndarray]] = []
    count = 0

    def on_frame(plan: TilePlan, inputs: np.ndarray) -> None:
        nonlocal count
        scores, maps = score(inputs)
        top = int(np.argmax(scores))
        stitched = plan.stitch(maps)
        found.append((frame_score(stitched), stitched, inputs[top], float(scores[top]), maps[top]))
        count += len(inputs)

    frames = tiled_frames(samples, pre, tiling, on_frame, progress)
    size = frames.images.shape[2:0:-1]
    t = pre.height
    return frames, TiledScores(
        scores=np.array([f[0] for f in found], np.float32),
        maps=np.stack([_resize(f[1], size, cv2.INTER_LINEAR) for f in found]) if found
        else np.zeros((0, *frames.images.shape[1:3]), np.float32),
        top_inputs=np.stack([f[2] for f in found]) if found else np.zeros((0, 3, t, t), np.float32),
        top_scores=np.array([f[3] for f in found], np.float32),
        top_maps=np.stack([np.asarray(f[4], np.float32) for f in found]) if found else np.zeros((0, t, t), np.float32),
        tiles=count,
    )
