"""Metrics, threshold calibration and the z-score baseline."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from training import metrics as M


def _reference_aupro(maps, masks, limit=0.3, num_thresholds=200):
    """Slow, literal AUPRO: loop over thresholds and regions."""
    regions = [ndimage.label(g, structure=np.ones((3, 3)))[0] for g in masks]
    region_masks = [r == k for r in regions for k in range(1, r.max() + 1)]
    region_maps = [m for m, r in zip(maps, regions, strict=True) for _ in range(r.max())]
    points = [(0.0, 0.0), (1.0, 1.0)]
    for t in np.linspace(maps.min(), maps.max(), num_thresholds):
        pred = maps >= t
        fpr = (pred & ~masks).sum() / (~masks).sum()
        pro = np.mean([(m >= t)[g].mean() for m, g in zip(region_maps, region_masks, strict=True)])
        points.append((fpr, pro))
    x, y = np.array(sorted(points)).T
    y_lim = np.interp(limit, x, y)
    keep = x <= limit
    return np.trapezoid(np.r_[y[keep], y_lim], np.r_[x[keep], limit]) / limit


# --------------------------------------------------------------------------- AUROC


@pytest.mark.parametrize("case", ["perfect", "random", "inverted", "ties"])
def test_image_auroc_matches_sklearn(case):
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(30), np.ones(20)].astype(int)
    scores = {
        "perfect": labels + rng.random(50) * 0.5,
        "random": rng.random(50),
        "inverted": -labels + rng.random(50) * 0.5,
        "ties": rng.integers(0, 4, 50).astype(float) + labels,
    }[case]
    got = M.image_auroc(scores, labels)
    assert got == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    if case == "perfect":
        assert got == 1.0
    if case == "inverted":
        assert got == 0.0


def test_auroc_is_none_for_one_class():
    assert M.image_auroc([0.1, 0.5, 0.9], [0, 0, 0]) is None
    assert M.image_auroc([0.1, 0.5], [1, 1]) is None
    assert M.pixel_auroc(np.random.rand(2, 8, 8), np.zeros((2, 8, 8), bool)) is None


def test_pixel_auroc_matches_sklearn_and_resizes_maps():
    rng = np.random.default_rng(1)
    masks = np.zeros((4, 32, 32), bool)
    masks[:2, 8:16, 8:16] = True
    maps = rng.random((4, 32, 32)) + masks * 0.4
    assert M.pixel_auroc(maps, masks) == pytest.approx(roc_auc_score(masks.ravel(), maps.ravel()))
    low_res = masks[:, 2::4, 2::4].astype(float)  # 8x8 maps against 32x32 masks
    assert M.pixel_auroc(low_res, masks) > 0.95
    # deterministic subsampling above max_pixels stays close to the exact value
    sub = M.pixel_auroc(maps, masks, max_pixels=2000)
    assert sub == M.pixel_auroc(maps, masks, max_pixels=2000)
    assert sub == pytest.approx(M.pixel_auroc(maps, masks), abs=0.05)


# --------------------------------------------------------------------------- AUPRO


def test_aupro_perfect_map_is_one():
    masks = np.zeros((3, 32, 32), bool)
    masks[0, 4:10, 4:10] = masks[1, 20:30, 3:6] = True
    assert M.aupro(masks.astype(float), masks) == pytest.approx(1.0)


def test_aupro_constant_map_is_the_diagonal():
    masks = np.zeros((2, 16, 16), bool)
    masks[0, 2:5, 2:5] = True
    # one curve point (1, 1): the chord from (0, 0); area to 0.3 is 0.3^2 / 2, normalised 0.15
    assert M.aupro(np.full(masks.shape, 0.7), masks) == pytest.approx(0.15)
    assert M.aupro(np.full(masks.shape, 0.7), masks, fpr_limit=1.0) == pytest.approx(0.5)


def test_aupro_weighs_regions_equally():
    masks = np.zeros((2, 40, 40), bool)
    masks[0, 5:25, 5:25] = True  # 400-pixel region, detected
    masks[0, 32:34, 32:34] = True  # 4-pixel region, missed
    maps = np.zeros(masks.shape)
    maps[0, 5:25, 5:25] = 1.0
    fprs, pros = M.pro_curve(maps, masks)
    assert pros[np.flatnonzero(fprs == 0)[-1]] == pytest.approx(0.5)  # per-region overlap 0.5 at FPR 0
    # curve (0, 0.5) -> (1, 1): area to 0.3 is 0.3 * (0.5 + 0.65) / 2
    assert M.aupro(maps, masks) == pytest.approx(0.575)
    assert M.aupro(maps, masks, fpr_limit=0.01) == pytest.approx(0.5025)
    assert M.pixel_auroc(maps, masks) > 0.99  # pixel AUROC barely notices the missed region


def test_aupro_matches_literal_reference():
    rng = np.random.default_rng(2)
    masks = np.zeros((5, 24, 24), bool)
    masks[0, 3:9, 3:9] = masks[0, 15:20, 10:22] = masks[2, 0:4, 0:24] = masks[3, 10:12, 10:11] = True
    maps = ndimage.gaussian_filter(rng.random(masks.shape), (0, 1, 1)) + 0.15 * masks
    for limit in (0.05, 0.3, 1.0):
        assert M.aupro(maps, masks, fpr_limit=limit, num_thresholds=50) == pytest.approx(
            _reference_aupro(maps, masks, limit, 50), abs=1e-9)


def test_aupro_none_without_regions_and_fast():
    assert M.aupro(np.random.rand(2, 8, 8), np.zeros((2, 8, 8), bool)) is None
    rng = np.random.default_rng(3)
    masks = np.zeros((100, 256, 256), bool)
    masks[::2, 100:140, 60:90] = masks[::3, 10:14, 200:250] = True
    maps = rng.random(masks.shape, dtype=np.float32) + 0.3 * masks
    start = time.perf_counter()
    value = M.aupro(maps, masks)
    assert time.perf_counter() - start < 2.0
    assert 0.0 < value < 1.0


# --------------------------------------------------------------------------- thresholds


def test_f1_threshold_separates_with_margin():
    goods, defects = np.array([0.1, 0.3, 0.2, 0.45, 0.4]), np.array([0.9, 0.8, 1.2, 0.85])
    scores, labels = np.r_[goods, defects], np.r_[np.zeros(5), np.ones(4)]
    t = M.calibrate_image_threshold(scores, labels)
    assert t.method == "f1"
    assert t.value == pytest.approx((0.45 + 0.8) / 2)  # midway between last good and first defect
    assert "F1" in t.detail and "9 labeled test images" in t.detail
    assert M.rates_at_threshold(scores, labels, t.value)["f1"] == 1.0


def test_f1_threshold_is_optimal_on_overlapping_scores():
    rng = np.random.default_rng(4)
    labels = rng.random(200) < 0.3
    scores = rng.normal(size=200) + 1.2 * labels
    t = M.calibrate_image_threshold(scores, labels)
    best = max(M.rates_at_threshold(scores, labels, c)["f1"] for c in scores)
    assert M.rates_at_threshold(scores, labels, t.value)["f1"] == pytest.approx(best)
    assert not np.any(scores == t.value)  # placed in a gap, not on a sample


def test_target_frr_threshold_is_the_quantile():
    goods = np.random.default_rng(5).random(20)
    t = M.calibrate_image_threshold(goods, np.zeros(20))
    assert t.method == "target_frr"
    assert t.value == pytest.approx(np.quantile(goods, 0.99))
    assert t.detail == "99.0th percentile of 20 held-out good scores (target false-reject rate 1%)"
    t10 = M.calibrate_image_threshold(goods, np.zeros(20), target_frr=0.1)
    assert t10.value == pytest.approx(np.quantile(goods, 0.9))
    assert M.rates_at_threshold(goods, np.zeros(20), t10.value)["false_reject_rate"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="good"):
        M.calibrate_image_threshold([0.5, 0.6], [1, 1])


def test_pixel_threshold_f1_and_quantile():
    masks = np.zeros((3, 16, 16), bool)
    masks[0, 4:8, 4:8] = True
    maps = np.where(masks, 0.9, 0.2) + np.random.default_rng(6).random(masks.shape) * 0.05
    t = M.calibrate_pixel_threshold(maps, masks)
    assert t.method == "f1" and maps[~masks].max() < t.value < maps[masks].min()
    sub = M.calibrate_pixel_threshold(maps, masks, max_pixels=300)
    assert sub == M.calibrate_pixel_threshold(maps, masks, max_pixels=300)  # deterministic
    assert "300 labeled pixels" in sub.detail
    good = np.random.default_rng(7).random((4, 16, 16))
    q = M.calibrate_pixel_threshold(good, None, target_fpr=0.05)
    assert q.method == "target_frr" and q.value == pytest.approx(np.quantile(good, 0.95))
    q2 = M.calibrate_pixel_threshold(maps, np.zeros_like(masks), good_maps=good, target_fpr=0.05)
    assert q2.value == pytest.approx(np.quantile(np.r_[maps.ravel(), good.ravel()], 0.95))


# --------------------------------------------------------------------------- rates and evaluate


def test_rates_at_threshold_counts():
    scores = np.array([0.1, 0.6, 0.2, 0.9, 0.4, 0.7])
    labels = np.array([0, 0, 0, 1, 1, 1])
    r = M.rates_at_threshold(scores, labels, 0.5)
    assert (r["tp"], r["fp"], r["tn"], r["fn"]) == (2, 1, 2, 1)
    assert r["precision"] == pytest.approx(2 / 3) and r["recall"] == pytest.approx(2 / 3)
    assert r["f1"] == pytest.approx(2 / 3)
    assert r["false_reject_rate"] == pytest.approx(1 / 3) and r["escape_rate"] == pytest.approx(1 / 3)
    assert M.rates_at_threshold(scores, labels, 0.7)["tp"] == 2  # score == threshold fails


def test_evaluate_only_goods_gives_nulls_with_notes():
    scores = np.random.default_rng(8).random(10)
    out = M.evaluate(scores, np.zeros(10))
    assert out["image_auroc"] is None and out["pixel_auroc"] is None and out["aupro"] is None
    assert out["threshold"]["method"] == "target_frr"
    assert out["rates"]["escape_rate"] is None and out["rates"]["false_reject_rate"] is not None
    notes = " ".join(out["notes"])
    assert "image_auroc" in notes and "no anomaly maps" in notes and "escape_rate" in notes
    assert json.loads(json.dumps(out)) == out


def test_evaluate_full():
    rng = np.random.default_rng(9)
    masks = np.zeros((8, 32, 32), bool)
    masks[4:, 10:20, 10:20] = True
    maps = rng.random(masks.shape) + masks
    labels = masks.any(axis=(1, 2))
    scores = maps.max(axis=(1, 2))
    out = M.evaluate(scores, labels, maps, masks, threshold=M.Threshold.fixed(1.5))
    assert out["image_auroc"] == 1.0 and out["pixel_auroc"] > 0.9 and out["aupro"] > 0.9
    assert out["threshold"] == {"value": 1.5, "method": "fixed", "detail": "set by hand"}
    assert out["pixel_threshold"]["method"] == "f1"
    assert out["counts"] == {"images": 8, "good": 4, "defect": 4, "defect_pixels": 400, "defect_regions": 4}
    assert out["rates"]["tp"] == 4 and out["notes"] == []
    json.dumps(out, allow_nan=False)


# --------------------------------------------------------------------------- baseline


def _texture(rng, size=160):
    tex = ndimage.gaussian_filter(rng.normal(size=(size, size)), 2)
    return 1 / (1 + np.exp(-3 * tex / tex.std()))  # high-contrast bright and dark blotches in [0, 1]


def _add_blob(img, rng, radius=5):
    yy, xx = np.ogrid[: img.shape[0], : img.shape[1]]
    y, x = rng.integers(radius + 3, img.shape[0] - radius - 3, 2)
    blob = (yy - y) ** 2 + (xx - x) ** 2 <= radius**2
    img[blob] = 1.0
    return blob


def test_zscore_baseline_finds_blob_on_aligned_images():
    rng = np.random.default_rng(10)
    tex = _texture(rng)[:64, :64, None].repeat(3, axis=-1)

    def shot():
        return tex + rng.normal(0, 0.01, tex.shape)

    train = np.stack([shot() for _ in range(20)])
    test = np.stack([shot() for _ in range(20)])
    blobs = [_add_blob(test[i], rng) for i in range(10, 20)]
    scores, maps = M.zscore_baseline(train, test)
    labels = np.r_[np.zeros(10), np.ones(10)]
    assert maps.shape == (20, 64, 64)
    assert M.image_auroc(scores, labels) == 1.0
    for i, blob in enumerate(blobs, start=10):
        assert blob[np.unravel_index(maps[i].argmax(), blob.shape)]


def test_zscore_baseline_fails_on_shifted_textures():
    rng = np.random.default_rng(0)
    tex = _texture(rng)

    def crop():
        y, x = rng.integers(0, 96, 2)
        return tex[y : y + 64, x : x + 64, None].repeat(3, axis=-1).copy()

    train = np.stack([crop() for _ in range(30)])
    test = np.stack([crop() for _ in range(40)])
    for i in range(20, 40):
        _add_blob(test[i], rng)
    scores, _ = M.zscore_baseline(train, test)
    assert 0.3 < M.image_auroc(scores, np.r_[np.zeros(20), np.ones(20)]) < 0.7


# --------------------------------------------------------------------------- operating points


def test_recall_at_frr_fails_at_most_that_share_of_goods():
    goods = np.arange(100, dtype=float)  # 0 .. 99
    defects = np.array([50.0, 98.5, 99.0, 120.0])
    scores, labels = np.r_[goods, defects], np.r_[np.zeros(100), np.ones(4)]
    one, tenth = (M.recall_at_frr(scores, labels, frr) for frr in (0.01, 0.001))
    assert one["false_reject_rate"] == pytest.approx(0.01) and tenth["false_reject_rate"] == 0.0
    assert one["recall"] == pytest.approx(3 / 4) and tenth["recall"] == pytest.approx(1 / 4)
    assert one["good_images"] == 100 and 98.0 < one["threshold"] <= 98.5
    assert M.recall_at_frr(goods, np.zeros(100), 0.01) is None
    out = M.evaluate(scores, labels)
    assert [p["recall"] for p in out["operating_points"]] == [one["recall"], tenth["recall"]]


def test_score_distribution_per_class_keeps_raw_scores():
    scores = np.array([0.1, 0.3, 0.2, 5.0, 7.0])
    out = M.score_distribution(scores, ["good", "good", "good", "crack", "crack"])
    assert list(out) == ["good", "crack"]
    assert out["good"]["images"] == 3 and out["good"]["median"] == pytest.approx(0.2)
    assert out["crack"]["min"] == 5.0 and out["crack"]["max"] == 7.0  # not rescaled


@pytest.mark.parametrize("constant", [0.0, 3.5])
def test_good_only_calibration_on_tied_scores_does_not_fail_everything(constant):
    goods = np.full(40, constant)
    t = M.calibrate_image_threshold(goods, np.zeros(40))
    assert M.rates_at_threshold(goods, np.zeros(40), t.value)["false_reject_rate"] == 0.0
    assert "tied" in t.detail
    maps = np.full((3, 8, 8), constant)
    p = M.calibrate_pixel_threshold(maps, None)
    assert not (maps >= p.value).any()
