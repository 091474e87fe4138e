"""``inspector-train``: synthetic data, anomaly training, evaluation and bundle verification."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

os.environ.setdefault("HF_HUB_OFFLINE", "1")

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Train, evaluate, export and verify inspection models (offline).")
console = Console()
err = Console(stderr=True)


class UserError(Exception):
    """A mistake in the user's input; shown as one line, exit code 2."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from inspector.bundle.store import BundleError
    from inspector.bundle.writer import ExportError
    from training.backbones import BackboneError
    from training.datasets import DatasetError

    return (UserError, BundleError, BackboneError, DatasetError, ExportError, ValueError, FileNotFoundError)


def _run(action: Callable[[], int | None]) -> None:
    try:
        code = action() or 0
    except _user_errors() as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


@app.callback()
def _setup(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(message)s")


@app.command()
def synth(
    out: Annotated[Path, typer.Option(help="Output folder (MVTec AD layout, one folder per product).")],
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same images.")] = 0,
    products: Annotated[str | None, typer.Option(help="Comma-separated products (default: all).")] = None,
    train: Annotated[int, typer.Option(help="Good training images per product.")] = 60,
    test_good: Annotated[int, typer.Option(help="Good test images per product.")] = 20,
    test_defect: Annotated[int, typer.Option(help="Test images per defect type.")] = 8,
    size: Annotated[int, typer.Option(help="Image side in pixels.")] = 256,
) -> None:
    """Render realistic synthetic products with defects and pixel masks."""

    def action() -> None:
        from training.progress import Phases
        from training.synth import generate_dataset

        chosen = [p.strip() for p in products.split(",")] if products else None
        with Phases.live(console) as progress:
            tasks: dict[str, Callable[[int, int], None]] = {}

            def report(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = Phases(progress).task(phase, total)
                tasks[phase](done, total)

            summary = generate_dataset(out, seed, chosen, n_train=train, n_test_good=test_good,
                                       n_test_per_defect=test_defect, size=size, progress=report)
        console.print(f"wrote {out}: " + json.dumps(summary), highlight=False, soft_wrap=True)

    _run(action)


@app.command()
def anomaly(
    data: Annotated[Path, typer.Option(help="Dataset root (MVTec AD or good/defect folder layout).")],
    out: Annotated[Path, typer.Option(help="Bundle folder to write, e.g. models/washer-patchcore.")],
    category: Annotated[str | None, typer.Option(help="Category folder inside an MVTec-style root.")] = None,
    model: Annotated[str, typer.Option(help="patchcore or padim.")] = "patchcore",
    backbone: Annotated[str, typer.Option(help="lite0, lite1 or lite2 (offline ImageNet weights).")] = "lite0",
    image_size: Annotated[int, typer.Option(help="Model input side in pixels (320 by default; 256 halves the "
                                                 "latency for a little quality).")] = 320,
    coreset_ratio: Annotated[float, typer.Option(help="PatchCore memory bank fraction kept.")] = 0.025,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 8,
    target_frr: Annotated[float, typer.Option(help="False-reject rate when no labeled defects exist.")] = 0.01,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing bundle folder.")] = False,
    tile_scale: Annotated[float | None, typer.Option(
        help="Large frames: resize each frame by this factor (1 = full resolution, 0.5 = half), then train and "
             "inspect on tiles of --image-size pixels; the station tiles the same way. Default: off (the whole "
             "frame is resized to --image-size).")] = None,
    tile_overlap: Annotated[int | None, typer.Option(
        help="Pixels (of the resized frame) two neighbouring tiles share, blended without seams "
             "(default: --image-size / 8).")] = None,
) -> None:
    """Train an anomaly model (anomalib) on good images, evaluate it and export a verified bundle."""

    def action() -> int:
        from training.anomaly.models import ModelConfig
        from training.anomaly.train import TrainOptions, train_anomaly
        from training.bundle_latency import print_latency
        from training.progress import Phases

        options = TrainOptions(
            data=data, out=out, category=category, image_size=image_size, batch_size=batch_size,
            target_frr=target_frr, overwrite=overwrite, device=device, tile_scale=tile_scale,
            tile_overlap=tile_overlap,
            model=ModelConfig(architecture=model, backbone=backbone, coreset_ratio=coreset_ratio, seed=seed),
        )
        with Phases.live(console) as progress:
            result = train_anomaly(options, Phases(progress))
        for issue in result.dataset.issues:
            console.print(f"[yellow]skipped[/] {issue}", highlight=False, soft_wrap=True)
        print_metrics(result.metrics)
        console.print(f"bundle written: {result.bundle}", highlight=False, soft_wrap=True)
        print_latency(console, result.bundle)
        return 0

    _run(action)


@app.command()
def evaluate(
    bundle: Annotated[Path, typer.Argument(help="Bundle folder or zip.")],
    data: Annotated[Path, typer.Option(help="Dataset root (MVTec AD or good/defect folder layout).")],
    category: Annotated[str | None, typer.Option(help="Category folder inside an MVTec-style root.")] = None,
    report: Annotated[Path | None, typer.Option(help="Report folder (default: reports/<bundle>-<dataset>).")] = None,
    runtime: Annotated[str, typer.Option(help="auto, torch or onnxruntime.")] = "auto",
) -> None:
    """Score a dataset with an existing bundle at its stored thresholds and write the report."""

    def action() -> int:
        from training.evaluate_bundle import evaluate_bundle
        from training.progress import Phases

        target = report or Path("reports") / f"{bundle.name}-{(category or data.name)}"
        with Phases.live(console) as progress:
            metrics = evaluate_bundle(bundle, data, category, target, runtime, Phases(progress))
        print_metrics(metrics)
        console.print(f"report written: {target}", highlight=False, soft_wrap=True)
        return 0

    _run(action)


@app.command()
def verify(bundle: Annotated[Path, typer.Argument(help="Bundle folder or zip.")],
           trusted_key: Annotated[list[Path] | None, typer.Option(
               help="Public key(s) to trust (default: this machine's signing key, $INSPECTOR_SIGNING_KEY .pub).")]
           = None) -> None:
    """Check the signature, every file's sha256, and that each runtime reproduces the recorded scores."""

    def action() -> int:
        from inspector.bundle.signing import default_key_path, load_public_keys, public_path, verify_bundle
        from inspector.bundle.store import open_bundle
        from inspector.inference.equivalence import check_equivalence

        opened = open_bundle(bundle)
        key = verify_bundle(opened.root, load_public_keys(trusted_key or [public_path(default_key_path())]))
        console.print(f"signature ok: key {key}")
        console.print(f"hashes ok: {len(opened.manifest.files)} files ({opened.manifest.bundle_id})")
        checks = check_equivalence(opened)
        table = Table("runtime", "device", "max rel. score diff", "rel. map diff", "ms per image", "result")
        for c in checks:
            table.add_row(c.runtime, c.device, f"{c.max_rel_diff:.2e}", f"{c.map_rel_diff:.2e}",
                          "-" if c.ms_per_image is None else f"{c.ms_per_image:.1f}",
                          "[green]ok[/]" if c.passed else "[red]FAILED[/]")
        console.print(table)
        failed = [c for c in checks if not c.passed]
        if failed:
            raise UserError(f"{opened.root}: runtime {failed[0].runtime} ({failed[0].device}) does not reproduce "
                            f"the recorded scores within {failed[0].tolerance_rel:.0e}")
        console.print("[green]bundle verified[/]")
        return 0

    _run(action)


@app.command()
def sign(bundle: Annotated[Path, typer.Argument(help="Bundle folder.")],
         signing_key: Annotated[Path | None, typer.Option(
             help="Ed25519 private key (default: $INSPECTOR_SIGNING_KEY, else ~/.config/inspector/signing_key.pem; "
                  "made once when missing).")] = None) -> None:
    """Sign a bundle folder (one made before bundles were signed): its hashes are checked first."""

    def action() -> int:
        from inspector.bundle.signing import key_id, load_or_create_key, sign_bundle
        from inspector.bundle.store import open_bundle

        opened = open_bundle(bundle)
        if opened.lease is not None:
            raise UserError(f"{bundle}: sign the bundle folder, then zip it")
        key = load_or_create_key(signing_key)
        sign_bundle(opened.root, key)
        console.print(f"{bundle}: signed with key {key_id(key.public_key())}")
        return 0

    _run(action)


@app.command("dataset-from-db")
def dataset_from_db(
    out: Annotated[Path, typer.Option(help="Dataset folder to write (MVTec layout: train/, test/, ground_truth/).")],
    database: Annotated[str | None, typer.Option(help="Database URL (default: $INSPECTOR_DATABASE_URL, else the "
                                                      "station's SQLite file).")] = None,
    recipe: Annotated[str | None, typer.Option(help="Only inspections of this recipe name.")] = None,
    artifacts: Annotated[Path | None, typer.Option(help="Artifact folder of the station (default: next to the "
                                                        "SQLite file, or $INSPECTOR_ARTIFACTS).")] = None,
    max_good: Annotated[int, typer.Option(help="Newest good images to take at most.")] = 1000,
    overwrite: Annotated[bool, typer.Option(help="Replace a dataset already in the folder.")] = False,
) -> None:
    """Reviewed inspections as a labeled dataset: good = PASS not escaped or false reject; defects = confirmed or
    escapes, with box masks from their regions."""

    def action() -> int:
        from training.dataset_from_db import dataset_from_db as export

        summary = export(out, database, recipe, artifacts, max_good, overwrite)
        defects = ", ".join(f"{k} {v}" for k, v in sorted(summary.defects.items())) or "none"
        console.print(f"wrote {out}: train/good {summary.train_good}, test/good {summary.test_good}, "
                      f"defects {defects}, masks {summary.masks}", highlight=False, soft_wrap=True)
        if summary.missing:
            console.print(f"[yellow]skipped[/] {len(summary.missing)} inspections whose image file is missing",
                          highlight=False)
        return 0

    _run(action)


def print_metrics(metrics: dict) -> None:
    def fmt(value: object) -> str:
        return "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)

    baseline = metrics.get("baseline") or {}
    table = Table("metric", "model", "naive baseline")
    for key in ("image_auroc", "pixel_auroc", "aupro"):
        table.add_row(key, fmt(metrics.get(key)), fmt(baseline.get(key)))
    held = metrics.get("held_out", {})
    for key in ("f1", "false_reject_rate", "escape_rate"):
        table.add_row(f"{key} (held out)", fmt(held.get(key)), "")
    for point in metrics.get("operating_points") or []:
        table.add_row(f"recall at {100 * point['target_frr']:g}% false rejects", fmt(point["recall"]),
                      f"{point['good_images']} good images")
    threshold = metrics.get("threshold") or {}
    table.add_row("image threshold", fmt(threshold.get("value")), threshold.get("detail", ""))
    console.print(table)


def _register_supervised() -> None:
    """``classify``, ``detect`` and ``segment`` (training/supervised/commands.py)."""
    from training.supervised.commands import register

    register(app, console, _run)


_register_supervised()


def main() -> None:
    app(prog_name="inspector-train")


if __name__ == "__main__":
    sys.exit(main())
