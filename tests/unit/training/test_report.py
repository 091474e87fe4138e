"""The report folder: metrics.json and the three figures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training import metrics as M
from training.report import _pick_hard_cases, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _fake_run(n_good=8, n_def=8, size=48, seed=0):
    rng = np.random.default_rng(seed)
    n = n_good + n_def
    labels = np.r_[np.zeros(n_good), np.ones(n_def)].astype(bool)
    class_names = ["good"] * n_good + [("scratch", "dent")[i % 2] for i in range(n_def)]
    images = [rng.integers(60, 200, (size, size, 3), dtype=np.uint8) for _ in range(n)]
    masks = [np.zeros((size, size), bool) for _ in range(n)]
    for m in masks[n_good:]:
        y, x = rng.integers(5, size - 15, 2)
        m[y : y + 8, x : x + 8] = True
    # maps at a quarter of the image size, as a model would give them
    maps = [rng.random((size // 4, size // 4)) + 2.0 * m[::4, ::4] for m in masks]
    scores = np.array([mp.max() for mp in maps]) + rng.normal(0, 0.3, n)
    return scores, labels, class_names, images, maps, masks


def _assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5_000


def test_report_writes_all_files(tmp_path):
    scores, labels, class_names, images, maps, masks = _fake_run()
    metrics = M.evaluate(scores, labels)
    base_scores = np.random.default_rng(1).random(scores.size)
    baseline = {"name": "z-score", "scores": base_scores, **M.evaluate(base_scores, labels)}
    names = [f"part_{i:03d}.png" for i in range(scores.size)]
    out = tmp_path / "report"
    paths = write_report(out, metrics, scores, labels, class_names, metrics["threshold"]["value"],
                         images=images, maps=maps, masks=masks, names=names, baseline=baseline)
    assert [p.name for p in paths] == ["metrics.json", "roc.png", "score_histogram.png", "heatmap_grid.png"]
    for p in paths[1:]:
        _assert_png(p)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["baseline"]["image_auroc"] == baseline["image_auroc"]
    assert "scores" not in saved["baseline"]
    assert {k: v for k, v in saved.items() if k != "baseline"} == metrics


def test_report_without_images_or_defects(tmp_path):
    scores = np.random.default_rng(2).random(12)
    labels = np.zeros(12)
    metrics = M.evaluate(scores, labels)
    paths = write_report(tmp_path, metrics, scores, labels, ["good"] * 12, metrics["threshold"]["value"])
    assert [p.name for p in paths] == ["metrics.json", "roc.png", "score_histogram.png"]
    for p in paths[1:]:
        _assert_png(p)
    assert json.loads(paths[0].read_text()) == metrics


def test_report_grid_with_grayscale_images_and_no_maps(tmp_path):
    scores, labels, class_names, images, _, _ = _fake_run(n_good=3, n_def=2)
    gray = [img[..., 0] for img in images]
    paths = write_report(tmp_path, {}, scores, labels, class_names, 1.0, images=gray)
    _assert_png(paths[-1])
    with pytest.raises(ValueError, match="maps"):
        write_report(tmp_path, {}, scores, labels, class_names, 1.0, images=gray, maps=[np.zeros((4, 4))])


def test_hard_cases_come_first():
    scores = np.array([0.1, 0.9, 0.5, 0.3, 0.95, 0.2])
    labels = np.array([0, 0, 0, 1, 1, 1], bool)
    assert _pick_hard_cases(scores, labels, k=4) == [1, 2, 5, 3]  # top goods, then bottom defects
    assert _pick_hard_cases(scores, labels, k=16) == [1, 2, 0, 5, 3, 4]
    many_goods = np.r_[np.zeros(20), np.ones(2)].astype(bool)
    picked = _pick_hard_cases(np.arange(22.0), many_goods)
    assert len(picked) == 16 and picked[-2:] == [20, 21]  # the few defects are all shown
