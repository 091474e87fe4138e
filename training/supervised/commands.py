"""``inspector-train classify|detect|segment``: train on labeled data (a probe or fine-tuning) and export a bundle."""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

FORMATS = {
    "classification": "class folders ROOT/<class>/<image>, or an MVTec-layout folder (classes: good + test/<type>)",
    "detection": "ROOT/images/<image> + ROOT/annotations.json (COCO boxes), or an MVTec-layout folder with masks",
    "segmentation": "an MVTec-layout folder: ground_truth/<type>/<stem>_mask.png gives each pixel's class",
}
COMMANDS = {"classify": "classification", "detect": "detection", "segment": "segmentation"}


def _command(task: str, console: Console, run: Callable[[Callable[[], int | None]], None]):
    def command(
        data: Annotated[Path, typer.Option(help=f"Dataset: {FORMATS[task]}.")],
        out: Annotated[Path, typer.Option(help="Bundle folder to write, e.g. models/washer-defects.")],
        backbone: Annotated[str | None, typer.Option(help="lite0, lite1 or lite2 (offline ImageNet weights; default "
                                                          "lite2 for a probe, lite0 otherwise).")] = None,
        epochs: Annotated[int, typer.Option(help="Training epochs in all (head-only ones included).")] = 20,
        image_size: Annotated[int | None, typer.Option(help="Model input side in pixels (multiple of 32; default: "
                                                              "a probe's backbone's own (256 for lite2), 224 for "
                                                              "a fine-tuned classifier, 128 otherwise).")] = None,
        category: Annotated[str | None, typer.Option(help="Category folder inside a multi-product root.")] = None,
        batch_size: Annotated[int, typer.Option(help="Images per training step.")] = 16,
        lr: Annotated[float, typer.Option(help="Learning rate of the new head (AdamW).")] = 3e-3,
        backbone_lr_factor: Annotated[float, typer.Option(help="Backbone rate as a fraction of --lr once "
                                                               "unfrozen.")] = 0.5,
        freeze_epochs: Annotated[int | None, typer.Option(help="Epochs with the backbone frozen (default: a "
                                                               "quarter of --epochs, at least 1).")] = None,
        patience: Annotated[int, typer.Option(help="Stop after this many epochs without a better validation "
                                                   "score.")] = 4,
        head: Annotated[str, typer.Option(help="classify only: probe (a linear head on frozen features, "
                                               "deterministic, for tens of images per class), fine-tune, or auto "
                                               "(fine-tune once every class has 50 training images).")] = "auto",
        probe_views: Annotated[int, typer.Option(help="classify with a probe: 8 averages each image's flips and "
                                                      "quarter turns (8x the encoder work per image, more "
                                                      "accurate), 1 reads it as it is.")] = 8,
        scratch: Annotated[bool, typer.Option("--scratch", help="Random backbone weights (for comparisons).")] = False,
        resume: Annotated[bool, typer.Option(help="Continue from the checkpoint of an interrupted run.")] = False,
        amp: Annotated[bool, typer.Option(help="Mixed precision (CUDA only; ignored on the CPU).")] = True,
        device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
        seed: Annotated[int, typer.Option(help="Random seed (split, sampling, augmentation).")] = 0,
        overwrite: Annotated[bool, typer.Option(help="Replace an existing bundle folder.")] = False,
    ) -> None:
        def action() -> int:
            from training.bundle_latency import print_latency
            from training.progress import Phases
            from training.supervised.pipeline import SupervisedOptions, train_supervised
            from training.supervised.train import FitOptions

            fit = FitOptions(epochs=epochs, freeze_epochs=freeze_epochs, batch_size=batch_size, lr=lr,
                             backbone_lr_factor=backbone_lr_factor, patience=patience, amp=amp, seed=seed)
            options = SupervisedOptions(task=task, data=data, out=out, category=category, backbone=backbone,
                                        image_size=image_size, pretrained=not scratch, fit=fit, head=head,
                                        probe_views=probe_views, device=device,
                                        resume=resume, overwrite=overwrite)
            with Phases.live(console) as progress:
                result = train_supervised(options, Phases(progress))
            console.print(result.dataset.summary(), highlight=False, soft_wrap=True)
            for warning in result.metrics["warnings"]:
                console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
            print_history(console, result.fit.history)
            print_supervised_metrics(console, result.metrics)
            console.print(f"bundle written: {result.bundle}", highlight=False, soft_wrap=True)
            print_latency(console, result.bundle)
            return 0

        run(action)

    command.__doc__ = (f"Train a {task} model (frozen backbone first, then all layers; classify: a linear probe on "
                       "frozen features while classes are small), evaluate it on held-out images and export a "
                       "verified bundle.")
    return command


def print_history(console: Console, history: list[dict]) -> None:
    if not history:
        return
    score = next(k for k in history[0] if k not in ("epoch", "phase", "loss", "lr_head", "lr_backbone"))
    table = Table("epoch", "phase", "loss", f"val {score}", "lr head", "lr backbone")
    for row in history:
        table.add_row(str(row["epoch"]), row["phase"], f"{row['loss']:.4f}", f"{row[score]:.4f}",
                      f"{row['lr_head']:.2e}", f"{row['lr_backbone']:.2e}")
    console.print(table)


def print_supervised_metrics(console: Console, metrics: dict) -> None:
    keys = {"classification": ("accuracy", "macro_f1"), "detection": ("map_50", "map", "box_f1_at_threshold"),
            "segmentation": ("mean_iou", "mean_dice")}[metrics["task"]]
    table = Table("metric", "test", "validation")
    for key in keys:
        test, val = metrics["test"].get(key), metrics["validation"].get(key)
        table.add_row(key, "n/a" if test is None else f"{test:.4f}", "n/a" if val is None else f"{val:.4f}")
    interval = metrics["test"].get("accuracy_interval_95")
    if interval:
        table.add_row("accuracy 95 % interval", f"{interval[0]:.3f} – {interval[1]:.3f}", "")
    split = metrics["split"]
    table.add_row("images train/val/test", f"{split['train']}/{split['validation']}/{split['test']}", "")
    console.print(table)


def register(app: typer.Typer, console: Console, run: Callable[[Callable[[], int | None]], None]) -> None:
    """Add the three supervised commands to ``app``."""
    for name, task in COMMANDS.items():
        app.command(name)(_command(task, console, run))
