"""The bundle's ``report/`` folder: metrics.json, the confusion matrix and predictions drawn on images (PNGs)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

GRID_MAX = 16
GRID_COLS = 4
TILE = 192
GREEN, RED, YELLOW = (40, 200, 40), (230, 40, 40), (250, 210, 0)
_PALETTE = np.array([(0, 0, 0), (230, 40, 40), (40, 120, 255), (250, 160, 0), (170, 60, 220), (0, 200, 200),
                     (255, 90, 170), (120, 200, 40)], np.uint8)


def write_json(path: Path, metrics: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2, default=float) + "\n", encoding="utf-8")
    return path


def plot_confusion(path: Path, matrix: np.ndarray, names: Sequence[str], title: str,
                   xlabel: str = "predicted", ylabel: str = "true") -> Path:
    """Counts and row-normalised colours (matplotlib, headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    side = 1.2 + 0.6 * len(names)
    fig, ax = plt.subplots(figsize=(side + 1.0, side), dpi=100)
    ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center",
                    color="white" if rows[i, j] > 0.5 else "black")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _text(image: np.ndarray, text: str, y: int, color: tuple[int, int, int]) -> None:
    cv2.putText(image, text, (3, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, (3, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1, cv2.LINE_AA)


def _tile(image: np.ndarray) -> tuple[np.ndarray, float]:
    scale = TILE / max(image.shape[:2])
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)), scale


def _grid(tiles: list[np.ndarray]) -> np.ndarray:
    tiles = tiles[:GRID_MAX]
    cols = min(GRID_COLS, len(tiles))
    rows = -(-len(tiles) // cols)
    canvas = np.full((rows * (TILE + 4), cols * (TILE + 4), 3), 255, np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        canvas[r * (TILE + 4): r * (TILE + 4) + tile.shape[0], c * (TILE + 4): c * (TILE + 4) + tile.shape[1]] = tile
    return canvas


def _save(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    return path


def _spread(n: int, limit: int = GRID_MAX) -> list[int]:
    return sorted({int(i) for i in np.linspace(0, n - 1, min(n, limit))}) if n else []


def plot_classifications(path: Path, images: Sequence[np.ndarray], truth: Sequence[int], predicted: Sequence[int],
                         confidence: Sequence[float], names: Sequence[str]) -> Path:
    """Each image with 'predicted (p)' in green when right, red when wrong, and the true class."""
    wrong = [i for i in range(len(images)) if truth[i] != predicted[i]]
    right = [i for i in range(len(images)) if truth[i] == predicted[i]]
    chosen = (wrong + [right[i] for i in _spread(len(right))])[:GRID_MAX]
    tiles = []
    for i in chosen:
        tile, _ = _tile(images[i])
        ok = truth[i] == predicted[i]
        _text(tile, f"{names[predicted[i]]} {confidence[i]:.2f}", 14, GREEN if ok else RED)
        _text(tile, f"true: {names[truth[i]]}", tile.shape[0] - 6, (255, 255, 255))
        tiles.append(tile)
    return _save(path, _grid(tiles))


def plot_detections(path: Path, images: Sequence[np.ndarray], detections: Sequence, names: Sequence[str],
                    threshold: float) -> Path:
    """Ground-truth boxes in green, predictions at or over ``threshold`` in red with class and score."""
    tiles = []
    for i in _spread(len(images)):
        tile, scale = _tile(images[i])
        det = detections[i]
        for box in np.asarray(det.gt_boxes).reshape(-1, 4):
            x0, y0, x1, y1 = (int(round(v * scale)) for v in box)
            cv2.rectangle(tile, (x0, y0), (x1, y1), GREEN, 1)
        for box, score, label in zip(det.boxes, det.scores, det.labels, strict=True):
            if score < threshold:
                continue
            x0, y0, x1, y1 = (int(round(v * scale)) for v in box)
            cv2.rectangle(tile, (x0, y0), (x1, y1), RED, 1)
            cv2.putText(tile, f"{names[int(label)]} {score:.2f}", (x0, max(10, y0 - 3)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.35, YELLOW, 1, cv2.LINE_AA)
        tiles.append(tile)
    return _save(path, _grid(tiles))


def plot_segmentations(path: Path, images: Sequence[np.ndarray], truth: Sequence[np.ndarray],
                       predicted: Sequence[np.ndarray], names: Sequence[str]) -> Path:
    """Image | true classes | predicted classes, one row per image (class colours, background black)."""
    rows = []
    for i in _spread(len(images), 8):
        image, _ = _tile(images[i])
        size = (image.shape[1], image.shape[0])
        panes = [image]
        for classes in (truth[i], predicted[i]):
            colored = _PALETTE[np.asarray(classes) % len(_PALETTE)]
            colored = cv2.resize(colored, size, interpolation=cv2.INTER_NEAREST)
            panes.append(cv2.addWeighted(image, 0.5, colored, 0.5, 0))
        row = np.concatenate(panes, axis=1)
        present = sorted({int(v) for v in np.unique(truth[i])} | {int(v) for v in np.unique(predicted[i])} - {0})
        _text(row, " ".join(names[c] for c in present if c) or "background", 14, (255, 255, 255))
        rows.append(row)
    return _save(path, np.concatenate(rows, axis=0))
