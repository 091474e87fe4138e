"""A report folder for an evaluated anomaly model: metrics.json, ROC, score histogram, heat-map grid."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from inspector.render import colour_scale, overlay  # noqa: E402
from training.metrics import _jsonable, image_auroc  # noqa: E402

DPI = 100
GRID_MAX = 16
GRID_COLS = 4
_DEFECT_COLORS = ["tab:red", "tab:blue", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive",
                  "tab:cyan", "tab:gray"]
_ARRAY_KEYS = ("scores", "maps", "labels")  # baseline entries that are data, not metrics


def write_report(out_dir: Path, metrics: dict, scores: np.ndarray, labels: np.ndarray,
                 class_names: Sequence[str], threshold: float, images: Sequence[np.ndarray] | None = None,
                 maps: Sequence[np.ndarray] | None = None, masks: Sequence[np.ndarray] | None = None,
                 names: Sequence[str] | None = None, baseline: dict | None = None,
                 pixel_threshold: float | None = None) -> list[Path]:
    """Write the report files into ``out_dir`` and return their paths.

    ``class_names[i]`` is the defect type of sample ``i`` ("good", "scratch", ...). ``baseline`` holds
    baseline metrics, optionally with ``scores`` (same order as ``scores``) and a display ``name``.
    The heat-map grid is written only when ``images`` are given; its heat is drawn by the station's renderer,
    scaled from ``pixel_threshold`` as the operator and QA see it.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel().astype(bool)
    class_names = [str(c) for c in class_names]
    if not (scores.size == labels.size == len(class_names)):
        raise ValueError("scores, labels and class_names must have one entry per sample")
    threshold = float(threshold)

    payload = dict(metrics)
    if baseline is not None:
        payload["baseline"] = {k: v for k, v in baseline.items() if k not in _ARRAY_KEYS}
    paths = [out_dir / "metrics.json"]
    paths[0].write_text(json.dumps(_jsonable(payload), indent=2) + "\n")

    paths.append(_plot_roc(out_dir / "roc.png", scores, labels, threshold, baseline))
    paths.append(_plot_histogram(out_dir / "score_histogram.png", scores, class_names, threshold))
    if images is not None:
        names = [str(n) for n in names] if names is not None else [f"#{i}" for i in range(scores.size)]
        for what, seq in (("images", images), ("maps", maps), ("masks", masks), ("names", names)):
            if seq is not None and len(seq) != scores.size:
                raise ValueError(f"{what} has {len(seq)} entries for {scores.size} scores")
        paths.append(_plot_grid(out_dir / "heatmap_grid.png", scores, labels, class_names, threshold,
                                images, maps, masks, names, pixel_threshold))
    return paths


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _plot_roc(path: Path, scores: np.ndarray, labels: np.ndarray, threshold: float,
              baseline: dict | None) -> Path:
    fig, ax = plt.subplots(figsize=(6, 5.5))
    curves = [("model", scores)]
    if baseline is not None and baseline.get("scores") is not None:
        curves.append((str(baseline.get("name", "baseline")), np.asarray(baseline["scores"], float).ravel()))
    if labels.all() or not labels.any():
        ax.text(0.5, 0.5, "ROC needs both good and defective images\n"
                f"({int((~labels).sum())} good, {int(labels.sum())} defective)",
                ha="center", va="center", fontsize=12, transform=ax.transAxes)
    else:
        for (label, s), color in zip(curves, ("tab:blue", "tab:orange"), strict=False):
            fpr, tpr, _ = roc_curve(labels, s)
            ax.plot(fpr, tpr, color=color, lw=2, label=f"{label} (AUROC {image_auroc(s, labels):.3f})")
        fail = scores >= threshold
        ax.plot(fail[~labels].mean(), fail[labels].mean(), "o", color="crimson", ms=8,
                label=f"model at threshold {threshold:.4g}")
        ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="chance (AUROC 0.500)")
        ax.legend(loc="lower right", fontsize=10)
    ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), aspect="equal",
           xlabel="false-reject rate (good images flagged)", ylabel="detection rate (defects flagged)",
           title=f"Image-level ROC ({int((~labels).sum())} good, {int(labels.sum())} defective)")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _plot_histogram(path: Path, scores: np.ndarray, class_names: list[str], threshold: float) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    classes = sorted(set(class_names), key=lambda c: (c != "good", c))
    lo, hi = float(min(scores.min(), threshold)), float(max(scores.max(), threshold))
    log = lo > 0 and hi / lo > 20  # heavy-tailed positive scores: log bins keep the goods visible
    if hi <= lo:
        bins = np.linspace(lo - 0.5, lo + 0.5, 11)
    elif log:
        bins = np.geomspace(lo, hi * (1 + 1e-9), 31)
    else:
        bins = np.linspace(lo, hi + 1e-9 * max(1.0, abs(hi)), 31)
    names = np.asarray(class_names)
    defects = iter(_DEFECT_COLORS * (1 + len(classes) // len(_DEFECT_COLORS)))
    colors = {c: "tab:green" if c == "good" else next(defects) for c in classes}
    for c in classes:
        s = scores[names == c]
        ax.hist(s, bins=bins, alpha=0.55, color=colors[c], edgecolor=colors[c], label=f"{c} ({s.size})")
    ax.axvline(threshold, color="crimson", lw=2, ls="--", label=f"threshold {threshold:.4g}")
    if log:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="anomaly score" + (" (log scale)" if log else "") + ";  score >= threshold -> FAIL",
           ylabel="images", title=f"Anomaly scores by class ({scores.size} images)")
    ax.legend(fontsize=9, ncols=2 if len(classes) > 6 else 1, loc="best")
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def _pick_hard_cases(scores: np.ndarray, labels: np.ndarray, k: int = GRID_MAX) -> list[int]:
    """Up to ``k`` indices: highest-scoring goods and lowest-scoring defects, about half each."""
    goods = [int(i) for i in np.flatnonzero(~labels)[np.argsort(-scores[~labels], kind="stable")]]
    defects = [int(i) for i in np.flatnonzero(labels)[np.argsort(scores[labels], kind="stable")]]
    n_good = min(len(goods), max(k // 2, k - len(defects)))
    n_def = min(len(defects), k - n_good)
    return goods[:n_good] + defects[:n_def]


def _to_rgb(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if img.dtype != np.uint8:
        img = np.clip(img.astype(np.float64) * (255.0 if img.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return img


def _plot_grid(path: Path, scores, labels, class_names, threshold, images, maps, masks, names,
               pixel_threshold: float | None) -> Path:
    picked = _pick_hard_cases(scores, labels)
    rows = max(1, -(-len(picked) // GRID_COLS))
    fig, axes = plt.subplots(rows, GRID_COLS, figsize=(3.2 * GRID_COLS, 3.5 * rows + 0.6), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    scale = None
    for ax, i in zip(axes.ravel(), picked, strict=False):
        img = _to_rgb(images[i])
        h, w = img.shape[:2]
        if maps is not None:
            heat = np.asarray(maps[i], np.float32)
            scale = colour_scale(heat, pixel_threshold)
            img = overlay(img, heat, scale)
        ax.imshow(img)
        if masks is not None and masks[i] is not None and np.any(masks[i]):
            g = cv2.resize(np.asarray(masks[i], np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
            ax.contour(g, levels=[0.5], colors="white", linewidths=1.5)
        fail = scores[i] >= threshold
        wrong = fail != labels[i]
        verdict = "FAIL" if fail else "PASS"
        ax.set_title(f"{_short(names[i])}\n{class_names[i]} | {scores[i]:.3g} -> {verdict}",
                     fontsize=10, color="crimson" if wrong else "black")
    heading = "Hardest cases: highest-scoring goods, lowest-scoring defects"
    sub = f"threshold {threshold:.4g}; red title = wrong decision"
    if maps is not None and scale is not None:
        basis = f"pixel threshold {scale:.3g}" if pixel_threshold else f"half the map maximum ({scale:.3g})"
        sub += f"; heat as the station shows it: orange at the {basis}, red at 1.2x; white outline = defect mask"
    fig.suptitle(f"{heading}\n{sub}", fontsize=11)
    return _save(fig, path)


def _short(name: str, limit: int = 28) -> str:
    return name if len(name) <= limit else "..." + name[-(limit - 3):]
