"""Evaluation metrics and threshold calibration for anomaly-detection models.

Conventions: label 1 is a defect, label 0 is good; higher scores are more anomalous and
``score >= threshold`` means FAIL. Maps are ``N x H x W`` float arrays, masks ``N x H x W`` bool.
Everything here is numpy/scipy/scikit-learn; no torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

_SEED = 0  # deterministic pixel subsampling


@dataclass(frozen=True)
class Threshold:
    """A decision threshold (``score >= value`` -> FAIL) and how it was chosen."""

    value: float
    method: str  # "f1" | "target_frr" | "fixed"
    detail: str

    @classmethod
    def fixed(cls, value: float, detail: str = "set by hand") -> Threshold:
        """A threshold given by the user rather than calibrated."""
        return cls(float(value), "fixed", detail)

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- helpers


def _as_scores_labels(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel().astype(bool)
    if s.shape != y.shape:
        raise ValueError(f"scores ({s.size}) and labels ({y.size}) differ in length")
    if s.size == 0:
        raise ValueError("no scores given")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores contain NaN or infinite values")
    return s, y


def _match_maps(maps, masks) -> tuple[np.ndarray, np.ndarray]:
    """Stack maps and masks as N x H x W, resizing maps (bilinear) to the mask size if needed."""
    m = np.asarray(maps, dtype=np.float32)
    g = np.asarray(masks).astype(bool)
    if m.ndim == 2:
        m, g = m[None], g.reshape((1, *g.shape[-2:]))
    if m.ndim != 3 or g.ndim != 3 or m.shape[0] != g.shape[0]:
        raise ValueError(f"maps {m.shape} and masks {g.shape} must both be N x H x W with equal N")
    if m.shape[1:] != g.shape[1:]:
        import cv2

        h, w = g.shape[1:]
        m = np.stack([cv2.resize(x, (w, h), interpolation=cv2.INTER_LINEAR) for x in m])
    return m, g


def _subsample(n: int, k: int) -> np.ndarray | slice:
    """Deterministic random subset of ``k`` out of ``n`` indices (all of them when n <= k)."""
    if n <= k:
        return slice(None)
    return np.sort(np.random.default_rng(_SEED).choice(n, size=k, replace=False))


def _best_f1_threshold(s: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) maximising F1 of ``s >= threshold``; midway into the gap below the cut."""
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    # Candidate cut after the last element of each run of equal scores (descending order).
    last = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    tp = np.cumsum(y_sorted)[last]
    fp = np.cumsum(~y_sorted)[last]
    fn = y.sum() - tp
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    cut_values = s_sorted[last]  # unique scores, descending
    below = np.r_[cut_values[1:], np.nan]  # next lower unique score (NaN for the minimum)
    gap = np.where(np.isnan(below), 0.0, cut_values - np.nan_to_num(below))
    best = np.flatnonzero(np.isclose(f1, f1.max(), rtol=0, atol=1e-12))
    k = best[np.argmax(gap[best])]  # among equal-F1 cuts, the one with the widest margin
    value = cut_values[k] if np.isnan(below[k]) else 0.5 * (cut_values[k] + below[k])
    return float(value), float(f1[k])


def _auroc(s: np.ndarray, y: np.ndarray) -> float | None:
    """Mann-Whitney AUROC with tied scores averaged (equals sklearn's roc_auc_score); None if one class."""
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(s, kind="stable")
    s_sorted = s[order]
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    ends = np.r_[starts[1:], s.size]
    mean_rank = (starts + ends + 1) / 2.0  # 1-based average rank of each run of tied scores
    group = np.repeat(np.arange(starts.size), ends - starts)
    rank_sum = mean_rank[group[y[order]]].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _percent(x: float) -> str:
    return f"{100 * x:.4g}%"


# --------------------------------------------------------------------------- thresholds


def calibrate_image_threshold(scores: np.ndarray, labels: np.ndarray, target_frr: float = 0.01) -> Threshold:
    """F1-optimal threshold when both classes are present, else the (1 - target_frr) quantile of goods."""
    s, y = _as_scores_labels(scores, labels)
    n_def, n_good = int(y.sum()), int((~y).sum())
    if n_def and n_good:
        value, f1 = _best_f1_threshold(s, y)
        return Threshold(value, "f1", f"maximises image F1 ({f1:.3f}) on {s.size} labeled test images "
                                      f"({n_good} good, {n_def} defective)")
    if not n_good:
        raise ValueError("cannot calibrate an image threshold without good images")
    if not 0.0 <= target_frr < 1.0:
        raise ValueError(f"target_frr must lie in [0, 1), got {target_frr}")
    value, tied = _good_quantile(s[~y], target_frr)
    return Threshold(value, "target_frr", f"{100 * (1 - target_frr):.1f}th percentile of {n_good} held-out "
                                          f"good scores (target false-reject rate {_percent(target_frr)}){tied}")


def _good_quantile(good: np.ndarray, target: float) -> tuple[float, str]:
    """The (1 - target) quantile of good scores; just above it when ties there would fail more than one good
    in ``1 / target`` (constant scores would otherwise fail every part, as FAIL is ``score >= threshold``)."""
    good = good.astype(np.float64)
    value = float(np.quantile(good, 1.0 - target))
    failing = float(np.mean(good >= value))
    if failing > max(target, 1.0 / good.size):
        return float(np.nextafter(value, np.inf)), "; just above tied scores"
    return value, ""


def calibrate_pixel_threshold(maps: np.ndarray, masks: np.ndarray | None, good_maps: np.ndarray | None = None,
                              target_fpr: float = 0.01, max_pixels: int = 2_000_000) -> Threshold:
    """Pixel-F1-optimal threshold when masks hold defect pixels, else a quantile of good-image pixels."""
    m = np.asarray(maps, dtype=np.float32)
    goods = [] if good_maps is None else [np.asarray(good_maps, dtype=np.float32).ravel()]
    if masks is not None:
        m, g = _match_maps(m, masks)
        if g.any():
            s = np.concatenate([m.ravel(), *goods])
            y = np.concatenate([g.ravel(), *(np.zeros(x.size, bool) for x in goods)])
            idx = _subsample(s.size, max_pixels)
            s, y = s[idx].astype(np.float64), y[idx]
            value, f1 = _best_f1_threshold(s, y)
            n_maps = m.shape[0] + (0 if good_maps is None else len(good_maps))
            return Threshold(value, "f1", f"maximises pixel F1 ({f1:.3f}) over {s.size:,} labeled pixels "
                                          f"of {n_maps} maps")
        goods.insert(0, m.ravel())  # masks without defect pixels: every map is good
    elif good_maps is None:
        goods = [m.ravel()]
    good = np.concatenate(goods) if goods else np.empty(0, np.float32)
    if good.size == 0:
        raise ValueError("cannot calibrate a pixel threshold without good pixels")
    if not 0.0 <= target_fpr < 1.0:
        raise ValueError(f"target_fpr must lie in [0, 1), got {target_fpr}")
    value, tied = _good_quantile(good, target_fpr)
    return Threshold(value, "target_frr", f"{100 * (1 - target_fpr):.2f}th percentile of {good.size:,} "
                                          f"good-image pixels (target pixel false-positive rate "
                                          f"{_percent(target_fpr)}){tied}")


# --------------------------------------------------------------------------- metrics


def image_auroc(scores, labels) -> float | None:
    """Image-level AUROC; None when only one class is present."""
    return _auroc(*_as_scores_labels(scores, labels))


def pixel_auroc(maps, masks, max_pixels: int = 2_000_000) -> float | None:
    """Pixel-level AUROC over all maps (deterministic subsample above ``max_pixels``); None if one class."""
    m, g = _match_maps(maps, masks)
    s, y = m.ravel(), g.ravel()
    idx = _subsample(s.size, max_pixels)
    return _auroc(s[idx], y[idx])


def _label_regions(masks: np.ndarray) -> tuple[np.ndarray, int]:
    """Label 8-connected defect regions of N x H x W masks, never joining across images."""
    structure = np.zeros((3, 3, 3), dtype=int)
    structure[1] = 1
    regions, n = ndimage.label(masks, structure=structure)
    return regions, int(n)


def pro_curve(maps, masks, num_thresholds: int = 200) -> tuple[np.ndarray, np.ndarray] | None:
    """(FPR, PRO) points from (0, 0) to (1, 1) over ``num_thresholds`` evenly spaced thresholds.

    PRO is the per-region overlap (TPR of each 8-connected ground-truth region) averaged over all
    regions of all images; FPR is over every defect-free pixel. None without regions or good pixels.
    """
    m, g = _match_maps(maps, masks)
    regions, n_regions = _label_regions(g)
    n_neg = int(g.size - g.sum())
    if n_regions == 0 or n_neg == 0:
        return None
    regions = regions.ravel()
    sizes = np.bincount(regions, minlength=n_regions + 1).astype(np.float64)
    w_region = np.zeros(n_regions + 1)
    w_region[1:] = 1.0 / (n_regions * sizes[1:])  # each region weighs 1 / n_regions in total

    s = m.ravel().astype(np.float64)
    lo, hi = float(s.min()), float(s.max())
    t = max(int(num_thresholds), 2)
    if hi > lo:  # pixel counts as positive at threshold k (lo + k * step) iff its bin >= k
        bins = np.clip(np.floor((s - lo) / (hi - lo) * (t - 1) + 1e-9), 0, t - 1).astype(np.intp)
    else:
        bins = np.zeros(s.size, np.intp)
    neg = regions == 0
    fp = np.bincount(bins[neg], minlength=t)[::-1].cumsum()[::-1] / n_neg
    pro = np.bincount(bins, weights=w_region[regions], minlength=t)[::-1].cumsum()[::-1]
    # Highest threshold first, so both curves rise; close with (0, 0) and (1, 1) as MVTec does.
    fprs = np.r_[0.0, np.minimum(fp[::-1], 1.0), 1.0]
    pros = np.r_[0.0, np.minimum(pro[::-1], 1.0), 1.0]
    return fprs, pros


def aupro(maps, masks, fpr_limit: float = 0.3, num_thresholds: int = 200) -> float | None:
    """MVTec AUPRO: area under the PRO-vs-FPR curve up to ``fpr_limit``, divided by ``fpr_limit``."""
    if not 0.0 < fpr_limit <= 1.0:
        raise ValueError(f"fpr_limit must lie in (0, 1], got {fpr_limit}")
    curve = pro_curve(maps, masks, num_thresholds)
    if curve is None:
        return None
    x, y = curve
    i = int(np.searchsorted(x, fpr_limit, side="right"))  # first point beyond the limit
    if i < x.size:
        y_lim = y[i - 1] + (y[i] - y[i - 1]) * (fpr_limit - x[i - 1]) / (x[i] - x[i - 1])
        x, y = np.r_[x[:i], fpr_limit], np.r_[y[:i], y_lim]
    return float(np.trapezoid(y, x) / fpr_limit)


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


OPERATING_FRR = (0.01, 0.001)  # false-reject rates every report gives the recall at


def recall_at_frr(scores, labels, frr: float) -> dict | None:
    """The recall at the strictest threshold that fails at most ``frr`` of the good images (FAIL is
    ``score >= threshold``); with N good images the finest step is 1/N. None without both classes."""
    s, y = _as_scores_labels(scores, labels)
    good = np.sort(s[~y])
    if not good.size or not y.any():
        return None
    allowed = int(np.floor(frr * good.size + 1e-9))  # goods that may fail
    threshold = float(np.nextafter(good[good.size - allowed - 1], np.inf))
    rates = rates_at_threshold(s, y, threshold)
    return {"target_frr": frr, "threshold": threshold, "recall": rates["recall"],
            "false_reject_rate": rates["false_reject_rate"], "good_images": int(good.size)}


def score_distribution(scores, class_names: Sequence[str]) -> dict:
    """Per class: image count and the raw score's minimum, 5th, 50th and 95th percentile and maximum."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    names = np.asarray([str(c) for c in class_names])
    out = {}
    for name in sorted(set(names.tolist()), key=lambda n: (n != "good", n)):
        v = s[names == name]
        low, p5, median, p95, high = np.quantile(v, [0.0, 0.05, 0.5, 0.95, 1.0])
        out[name] = {"images": int(v.size), "min": low, "p5": p5, "median": median, "p95": p95, "max": high}
    return out


def rates_at_threshold(scores, labels, threshold: float) -> dict:
    """Confusion counts and rates of ``score >= threshold`` -> FAIL; undefined rates are None."""
    s, y = _as_scores_labels(scores, labels)
    fail = s >= float(threshold)
    tp, fp = int(np.sum(fail & y)), int(np.sum(fail & ~y))
    fn, tn = int(np.sum(~fail & y)), int(np.sum(~fail & ~y))
    return {
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "false_reject_rate": _ratio(fp, fp + tn),
        "escape_rate": _ratio(fn, fn + tp),
        "tp": tp, "fp": fp, "tn": tn, "fn": fn,
    }


def evaluate(scores, labels, maps=None, masks=None, threshold: Threshold | None = None,
             pixel_threshold: Threshold | None = None) -> dict:
    """All metrics as a JSON-serialisable dict; uncomputable ones are null with a reason in ``notes``."""
    s, y = _as_scores_labels(scores, labels)
    n_def, n_good = int(y.sum()), int((~y).sum())
    notes: list[str] = []
    out: dict = {"counts": {"images": int(s.size), "good": n_good, "defect": n_def}}

    out["image_auroc"] = image_auroc(s, y)
    if out["image_auroc"] is None:
        notes.append(f"image_auroc: needs good and defective images (got {n_good} good, {n_def} defective)")

    out["pixel_auroc"] = out["aupro"] = None
    if maps is None:
        notes.append("pixel_auroc, aupro: no anomaly maps given")
    elif masks is None:
        notes.append("pixel_auroc, aupro: no ground-truth masks given")
    else:
        m, g = _match_maps(maps, masks)
        if not g.any():
            notes.append("pixel_auroc, aupro: masks contain no defect pixels")
        elif g.all():
            notes.append("pixel_auroc, aupro: masks contain no good pixels")
        else:
            out["pixel_auroc"] = pixel_auroc(m, g)
            out["aupro"] = aupro(m, g)
        out["counts"]["defect_pixels"] = int(g.sum())
        out["counts"]["defect_regions"] = _label_regions(g)[1]

    if threshold is None:
        try:
            threshold = calibrate_image_threshold(s, y)
            notes.append("threshold: calibrated on the evaluated images themselves; rates are optimistic")
        except ValueError as e:
            notes.append(f"threshold: {e}")
    out["threshold"] = threshold.to_dict() if threshold else None
    out["rates"] = rates_at_threshold(s, y, threshold.value) if threshold else None
    if out["rates"] is not None:
        undefined = sorted(k for k, v in out["rates"].items() if v is None)
        if undefined:
            notes.append(f"rates: {', '.join(undefined)} undefined (no images in the denominator)")

    points = [recall_at_frr(s, y, frr) for frr in OPERATING_FRR]
    out["operating_points"] = [p for p in points if p is not None]
    if not out["operating_points"]:
        notes.append("operating_points: need good and defective images")

    if pixel_threshold is None and maps is not None:
        try:
            pixel_threshold = calibrate_pixel_threshold(maps, masks)
        except ValueError as e:
            notes.append(f"pixel_threshold: {e}")
    out["pixel_threshold"] = pixel_threshold.to_dict() if pixel_threshold else None
    if maps is None:
        notes.append("pixel_threshold: no anomaly maps given")
    out["notes"] = notes
    return _jsonable(out)


def _jsonable(x):
    """Plain Python types, with non-finite floats as None."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.bool_ | bool):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating | float):
        return float(x) if math.isfinite(x) else None
    return x


# --------------------------------------------------------------------------- baseline


def zscore_baseline(train_images: np.ndarray, test_images: np.ndarray,
                    blur_sigma: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Naive baseline: map = max over channels of |x - per-pixel train mean| / (per-pixel train std + eps).

    Images are ``N x H x W x C`` (or ``N x H x W``) of one size; ``eps`` is 1% of the global training std.
    The map is lightly Gaussian-blurred (``blur_sigma`` pixels) and the image score is its maximum.
    Returns ``(scores, maps)``.
    """
    train = np.asarray(train_images, dtype=np.float32)
    test = np.asarray(test_images, dtype=np.float32)
    if train.ndim == 3:
        train = train[..., None]
    if test.ndim == 3:
        test = test[..., None]
    if train.shape[1:] != test.shape[1:]:
        raise ValueError(f"train {train.shape[1:]} and test {test.shape[1:]} images differ in size")
    mean, std = train.mean(axis=0), train.std(axis=0)
    eps = max(1e-6, 0.01 * float(train.std()))
    maps = np.empty(test.shape[:3], np.float32)
    for i, x in enumerate(test):
        z = (np.abs(x - mean) / (std + eps)).max(axis=-1)
        maps[i] = ndimage.gaussian_filter(z, blur_sigma) if blur_sigma > 0 else z
    scores = maps.reshape(len(maps), -1).max(axis=1).astype(np.float64)
    return scores, maps
