"""Load and validate labeled data, train (probe or fine-tune), evaluate on held-out images, report, export."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inspector.bundle.manifest import DatasetSpec, ThresholdSpec
from inspector.bundle.preprocess import Preprocessing
from inspector.bundle.writer import BundleInfo, ExportError
from training.backbones import backbone_spec
from training.devices import pick_device
from training.progress import Phases
from training.supervised import report
from training.supervised.data import LabeledDataset
from training.supervised.export import write_supervised_bundle
from training.supervised.few_shot import class_counts, too_few, wilson
from training.supervised.masks import load_dataset
from training.supervised.metrics import best_box_threshold, box_f1, confusion_matrix
from training.supervised.models import ModelSpec, build_model, export_module
from training.supervised.probe import ORIENTATIONS, ProbeClassifier, check_views, fit_probe, resolve_head
from training.supervised.tasks import Evaluation, Task, detection_confusion, make_task, normalised
from training.supervised.tensors import (
    TaskDataset,
    augmentations,
    balanced_sampler,
    collate,
    load_items,
    pixel_class_weights,
    split,
)
from training.supervised.train import FitOptions, FitResult, fit

log = logging.getLogger(__name__)
EQUIVALENCE_SAMPLES = 4
# A fine-tuned classifier's input (a probe reads at its backbone's size, see input_size); detection and
# segmentation train slower.
DEFAULT_IMAGE_SIZE = {"classification": 224, "detection": 128, "segmentation": 128}
# The probe's encoder when none is asked for: on benchmarks/fewshot.py Lite2 at its native size lifted the worst
# surface from 0.81 to 0.88 macro F1 (galaxies no longer taken for stains) and the mean from 0.926 to 0.94.
PROBE_BACKBONE = "lite2"
DEFAULT_BACKBONE = "lite0"


@dataclass(frozen=True)
class SupervisedOptions:
    task: str
    data: Path
    out: Path
    category: str | None = None
    backbone: str | None = None  # None: PROBE_BACKBONE for a probe, else DEFAULT_BACKBONE
    image_size: int | None = None  # None: see input_size()
    pretrained: bool = True
    fit: FitOptions = field(default_factory=FitOptions)
    head: str = "auto"  # classification: auto, probe or fine-tune (see training.supervised.probe)
    probe_views: int = ORIENTATIONS  # a probe averages the image's flips and quarter turns, or reads it once (1)
    device: str = "auto"
    resume: bool = False
    overwrite: bool = False
    export: bool = True


@dataclass
class SupervisedResult:
    bundle: Path | None
    metrics: dict
    dataset: LabeledDataset
    fit: FitResult


def input_size(task: str, head: str, backbone: str, image_size: int | None) -> int:
    """The asked size, else for a probe the backbone's native input size (to a multiple of 32: Lite0 224,
    Lite2 256), else the task's default."""
    if image_size:
        return image_size
    if head == "probe":
        return backbone_spec(backbone).input_size // 32 * 32
    return DEFAULT_IMAGE_SIZE[task]


def checkpoint_dir(out: Path) -> Path:
    """Where the per-epoch checkpoint lives: next to the bundle, removed once the bundle is written."""
    return out.with_name(f"{out.name}.checkpoints")


def _thresholds(task: str, val: Evaluation | None, n_val: int) -> tuple[ThresholdSpec, ThresholdSpec]:
    if task == "classification":
        return (ThresholdSpec(value=0.5, method="fixed", detail="FAIL when 1 - P(good) >= 0.5"),
                ThresholdSpec(value=0.5, method="unused", detail="a classifier has no pixel output"))
    if task == "segmentation":
        return (ThresholdSpec(value=0.5, method="fixed", detail="FAIL when the largest defect probability >= 0.5"),
                ThresholdSpec(value=0.5, method="fixed", detail="pixels with 1 - P(background) >= 0.5 are defect"))
    value, f1 = best_box_threshold(val.predictions) if val is not None else (0.5, float("nan"))
    detail = f"box score with the best box F1 ({f1:.3f}) on {n_val} validation images"
    return (ThresholdSpec(value=value, method="box_f1", detail=detail),
            ThresholdSpec(value=value, method="box_f1", detail=f"boxes at or over this score are regions; {detail}"))


def _write_report(folder: Path, task: Task, metrics: dict, test: Evaluation, items, threshold: float) -> None:
    names = task.class_names
    report.write_json(folder / "metrics.json", metrics)
    images = [item.image for item in items]
    if task.name == "classification":
        predicted = [p for p, _ in test.predictions]
        report.plot_confusion(folder / "confusion_matrix.png", np.array(test.metrics["confusion_matrix"]), names,
                              "test images")
        report.plot_classifications(folder / "predictions.png", images, [i.label for i in items], predicted,
                                    [c for _, c in test.predictions], names)
    elif task.name == "detection":
        matrix = detection_confusion(test.predictions, threshold, len(names))
        report.plot_confusion(folder / "confusion_matrix.png", matrix, [*names, "background"],
                              f"test boxes at score >= {threshold:.2f}, IoU >= 0.5")
        report.plot_detections(folder / "predictions.png", images, test.predictions, names, threshold)
    else:
        truth = [item.class_map for item in items]
        matrix = sum((confusion_matrix(t.ravel(), p.ravel(), len(names)) for t, p in zip(truth, test.predictions,
                                                                                         strict=True)),
                     np.zeros((len(names), len(names)), np.int64))
        report.plot_confusion(folder / "confusion_matrix.png", matrix, names, "test pixels")
        report.plot_segmentations(folder / "predictions.png", images, truth, test.predictions, names)


def _equivalence_picks(labels: list[int]) -> list[int]:
    """The first image of each class, then the next ones, up to ``EQUIVALENCE_SAMPLES``."""
    firsts = list(dict.fromkeys(labels))
    picks = [labels.index(c) for c in firsts][:EQUIVALENCE_SAMPLES]
    picks += [i for i in range(len(labels)) if i not in picks][: EQUIVALENCE_SAMPLES - len(picks)]
    return sorted(picks)


def train_supervised(options: SupervisedOptions, phases: Phases | None = None) -> SupervisedResult:
    """The whole command: data -> trained model -> metrics and report -> verified bundle."""
    phases = phases or Phases.quiet()
    task_name = options.task
    check_views(options.probe_views)
    if options.export and Path(options.out).exists() and not options.overwrite:
        raise ExportError(f"{options.out}: already exists; choose another --out or pass --overwrite")
    dataset = load_dataset(task_name, options.data, options.category)
    for issue in dataset.issues:
        log.warning("skipped %s", issue)
    train_idx, val_idx, test_idx = split(dataset.samples, seed=options.fit.seed)
    labels = [dataset.samples[i].label for i in train_idx]
    counts = class_counts(labels, dataset.class_names)
    warnings = too_few(counts)
    for warning in warnings:
        log.warning("%s", warning)
    head = resolve_head(options.head, counts, options.pretrained) if task_name == "classification" else "fine-tune"
    if head == "probe" and options.resume:
        raise ValueError("--resume: no checkpoint to resume from; the probe head keeps none (it fits in "
                         "seconds), run again without --resume")
    backbone = options.backbone or (PROBE_BACKBONE if head == "probe" else DEFAULT_BACKBONE)
    spec = backbone_spec(backbone)
    image_size = input_size(task_name, head, backbone, options.image_size)
    pre = Preprocessing(image_size, image_size, spec.mean, spec.std)
    model_spec = ModelSpec(task_name, backbone, len(dataset.class_names), image_size, options.pretrained)
    device = pick_device(options.device)
    items = load_items(dataset.samples, pre, phases.task("Loading images", len(dataset.samples)))
    train_items = [items[i] for i in train_idx]
    val_items = [items[i] for i in val_idx] or train_items
    test_items = [items[i] for i in test_idx] or val_items
    weights = pixel_class_weights(train_items, len(dataset.class_names)) if task_name == "segmentation" else None
    task = make_task(task_name, dataset.class_names, pre, weights)
    ckpt = checkpoint_dir(Path(options.out))
    started = time.perf_counter()
    if head == "probe":
        model = ProbeClassifier(model_spec, options.probe_views).to(device)
        fitted = fit_probe(model, train_items, val_items, dataset.class_names, pre, device,
                           on_step=phases.task("Fitting the probe", None))
    else:
        model = build_model(model_spec).to(device)
        train_set = TaskDataset(task_name, train_items, augmentations(task_name, pre, train=True))
        meta = {"task": task_name, "classes": list(dataset.class_names), "backbone": backbone,
                "image_size": image_size, "pretrained": options.pretrained, "epochs": options.fit.epochs,
                "train_images": len(train_items)}
        fitted = fit(model, task, train_set, collate(task_name), val_items, options.fit, device,
                     pretrained=options.pretrained,
                     sampler_factory=lambda epoch: balanced_sampler(labels, options.fit.seed + epoch),
                     checkpoint_dir=ckpt, resume=options.resume, meta=meta, on_step=phases.task("Training", None))
    train_seconds = time.perf_counter() - started
    model.eval()
    evaluate = phases.task("Evaluating", 2)
    val = task.evaluate(model, val_items, device)
    evaluate(1, 2)
    test = task.evaluate(model, test_items, device)
    evaluate(2, 2)
    image_thr, pixel_thr = _thresholds(task_name, val, len(val_items))
    metrics = {"task": task_name, "test": test.metrics, "validation": val.metrics,
               "split": {"train": len(train_items), "validation": len(val_idx), "test": len(test_idx)},
               "training": {"head": head, "backbone": backbone, "pretrained": options.pretrained,
                            "image_size": image_size, "device": str(device),
                            "epochs_run": len(fitted.history), "best_epoch": fitted.best_epoch + 1,
                            "stopped_early": fitted.stopped_early, "seconds": round(train_seconds, 2),
                            "history": fitted.history,
                            **({"probe_views": options.probe_views} if head == "probe" else {})},
               "warnings": warnings}
    accuracy = metrics["test"].get("accuracy")
    if task_name == "classification" and accuracy is not None and len(test_idx) < 200:
        metrics["test"]["accuracy_interval_95"] = wilson(round(accuracy * len(test_idx)), len(test_idx))
    if task_name == "detection":
        metrics["test"]["box_f1_at_threshold"] = box_f1(test.predictions, image_thr.value)
    result = SupervisedResult(bundle=None, metrics=metrics, dataset=dataset, fit=fitted)
    if not options.export:
        return result
    model = model.cpu()
    view = export_module(model, task_name, image_size)
    picks = _equivalence_picks([item.label for item in test_items])
    info = BundleInfo(
        name=Path(options.out).name,
        architecture={"classification": "timm-pooled-probe" if head == "probe" else "timm-linear-head",
                      "detection": "fcos-fpn", "segmentation": "fpn-decoder"}[task_name],
        backbone=spec.timm_name, preprocessing=pre, class_names=dataset.class_names,
        image_threshold=image_thr, pixel_threshold=pixel_thr, metrics=metrics,
        dataset=DatasetSpec(fingerprint=dataset.fingerprint(), layout=dataset.layout,
                            category=options.category, train_images=len(train_items),
                            test_images=len(test_idx), skipped_files=len(dataset.issues)),
    )
    exporting = phases.task("Exporting and checking runtimes", 1)
    result.bundle = write_supervised_bundle(
        view, task_name, info, Path(options.out), normalised([test_items[i] for i in picks], pre),
        extra=lambda folder: _write_report(folder / "report", task, metrics, test, test_items, image_thr.value),
        overwrite=options.overwrite)
    exporting(1, 1)
    shutil.rmtree(ckpt, ignore_errors=True)
    return result
