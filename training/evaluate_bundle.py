"""``inspector-train evaluate``: score any dataset with an exported bundle at its stored thresholds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inspector.bundle.store import open_bundle
from inspector.inference.runtimes import load_runtime
from inspector.inference.tiling import TileScorer
from training.anomaly.tiled import score_tiled, tiled_frames
from training.datasets import load_anomaly_dataset
from training.evaluation import evaluate_scores, load_eval_data, write_eval_report
from training.metrics import Threshold
from training.progress import Phases


def evaluate_bundle(
    bundle_path: Path, data: Path, category: str | None, report: Path, runtime: str = "auto",
    phases: Phases | None = None,
) -> dict:
    """Score the dataset's test split (and its train split for the baseline), write the report, return metrics."""
    phases = phases or Phases.quiet()
    bundle = open_bundle(bundle_path)
    manifest = bundle.manifest
    if manifest.task != "anomaly":
        raise ValueError(f"{bundle_path}: task {manifest.task!r} is not an anomaly bundle")
    dataset = load_anomaly_dataset(data, category)
    pre = bundle.preprocessing
    engine = load_runtime(bundle, runtime)
    if manifest.tiling is not None:  # scored tile by tile and stitched, as the station does
        test, tiled = score_tiled(dataset.test, pre, manifest.tiling, TileScorer(engine),
                                  phases.task(f"Scoring tiles ({engine.name}, {engine.device})", len(dataset.test)))
        train = tiled_frames(dataset.train, pre, manifest.tiling, None,
                             phases.task("Loading training images", len(dataset.train)))
        scores_arr, maps_arr = tiled.scores, tiled.maps
    else:
        test = load_eval_data(dataset.test, pre, phases.task("Loading test images", len(dataset.test)))
        train = load_eval_data(dataset.train, pre, phases.task("Loading training images", len(dataset.train)))
        scoring = phases.task(f"Scoring ({engine.name}, {engine.device})", len(test.inputs))
        scores, maps = [], []
        for i in range(len(test.inputs)):
            out = engine(test.inputs[i : i + 1])
            scores.append(out.scores)
            maps.append(out.maps)
            scoring(i + 1, len(test.inputs))
        scores_arr, maps_arr = np.concatenate(scores), np.concatenate(maps)
    thresholds = (
        Threshold(**manifest.image_threshold.model_dump()),
        Threshold(**manifest.pixel_threshold.model_dump()),
    )
    metrics, image_thr, pixel_thr = evaluate_scores(test, scores_arr, maps_arr, thresholds=thresholds,
                                                    baseline_train=train)
    metrics["bundle"] = {"bundle_id": manifest.bundle_id, "runtime": engine.name, "device": engine.device}
    metrics["dataset"] = {"root": str(data), "category": dataset.category, "fingerprint": dataset.fingerprint(),
                          "skipped": [str(i) for i in dataset.issues]}
    write_eval_report(report, metrics, test, scores_arr, maps_arr, image_thr.value, pixel_thr.value)
    return metrics
