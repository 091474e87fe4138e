"""CSV and HTML exports, and the reviewed dataset that trains a bundle with ``inspector-train anomaly``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inspector.review.context import ReviewContext
from inspector.review.export import write_csv, write_html_report
from inspector.review.queries import ReviewFilter
from inspector.storage.records import InspectionRecord
from tests.unit.inspector.review.factories import START, STEP
from training.cli import app
from training.datasets import load_anomaly_dataset

Filled = tuple[ReviewContext, dict[str, int]]
runner = CliRunner()


def review_all(ctx: ReviewContext, records: list[InspectionRecord], ids: dict[str, int]) -> None:
    """Review like QA would, using the simulator's truth: confirm, false reject, escape."""
    for r in records:
        if r.verdict == "FAIL":
            if r.truth_defective:
                ctx.reviews.confirm(ids[r.uid], r.truth_defect)
            else:
                ctx.reviews.false_reject(ids[r.uid])
        elif r.truth_defective:
            ctx.reviews.escape(ids[r.uid], r.truth_defect)


def test_csv_export_writes_the_filtered_rows(filled: Filled, tmp_path: Path) -> None:
    ctx, _ = filled
    filters = ReviewFilter(station="line-1", min_score=0.2)
    written = write_csv(ctx, tmp_path / "rows.csv", filters)
    with (tmp_path / "rows.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert written == len(rows) == ctx.queries.count(filters) > 0
    assert {r["station"] for r in rows} == {"line-1"} and min(float(r["score"]) for r in rows) >= 0.2
    assert rows[0]["acquired_at"] > rows[-1]["acquired_at"] and "+00:00" in rows[0]["acquired_at"]


def test_html_report_for_a_shift_embeds_charts_and_examples(filled: Filled, records: list[InspectionRecord],
                                                            tmp_path: Path, test_output: Path) -> None:
    ctx, ids = filled
    review_all(ctx, records, ids)
    shift = ReviewFilter(start=START, end=START + STEP * 40)
    summary = write_html_report(ctx, tmp_path / "report.html", shift, title="Shift report", by="shift")
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert summary.total == len(records) and summary.failed == sum(r.verdict == "FAIL" for r in records)
    assert summary.escapes == sum(r.verdict == "PASS" and bool(r.truth_defective) for r in records) > 0
    assert summary.examples == 6 and text.count("data:image/png;base64,") == 3 + 6
    assert "Shift report" in text and "first-pass yield" in text and "Defect" in text
    if ctx.engine.dialect.name == "sqlite":
        (test_output / "review_report.html").write_text(text, encoding="utf-8")


@pytest.mark.slow
def test_reviewed_dataset_trains_an_anomaly_bundle_and_a_classifier(filled: Filled, records: list[InspectionRecord],
                                                   tmp_path: Path) -> None:
    ctx, ids = filled
    if ctx.engine.dialect.name != "sqlite":
        pytest.skip("training once is enough; the export queries are covered on PostgreSQL below")
    review_all(ctx, records, ids)
    out = tmp_path / "dataset"
    result = runner.invoke(app, ["dataset-from-db", "--out", str(out), "--database", str(ctx.url), "--recipe",
                                 "washer", "--artifacts", str(ctx.store.root)])
    assert result.exit_code == 0, result.output
    washer = [r for r in records if r.recipe == "washer"]
    good = [r for r in washer if (r.verdict == "PASS" and not r.truth_defective) or
            (r.verdict == "FAIL" and not r.truth_defective)]
    dataset = load_anomaly_dataset(out)
    assert len(dataset.train) + sum(s.label == 0 for s in dataset.test) == len(good)
    defects = [s for s in dataset.test if s.label == 1]
    assert len(defects) == sum(bool(r.truth_defective) for r in washer)
    assert {s.defect_type for s in defects} <= {"scratch", "crack", "dent", "stain"}
    assert any(s.mask_path for s in defects) and json.loads((out / "dataset.json").read_text())["recipe"] == "washer"
    again = runner.invoke(app, ["dataset-from-db", "--out", str(out), "--database", str(ctx.url), "--artifacts",
                               str(ctx.store.root)])
    assert again.exit_code == 2 and "not empty" in again.output
    bundle = tmp_path / "bundle"
    trained = runner.invoke(app, ["anomaly", "--data", str(out), "--out", str(bundle), "--image-size", "64",
                                  "--backbone", "lite0", "--device", "cpu"])
    assert trained.exit_code == 0, trained.output
    assert (bundle / "manifest.json").is_file() and "bundle written" in trained.output
    assert runner.invoke(app, ["verify", str(bundle)]).exit_code == 0

    # The same export trains a supervised classifier on the reviewed classes (good + each confirmed defect).
    classifier = tmp_path / "classifier"
    trained = runner.invoke(app, ["classify", "--data", str(out), "--out", str(classifier), "--image-size", "64",
                                  "--epochs", "2", "--batch-size", "8", "--device", "cpu"])
    assert trained.exit_code == 0, trained.output
    manifest = json.loads((classifier / "manifest.json").read_text())
    assert manifest["task"] == "classification"
    assert set(manifest["class_names"]) == {"good"} | {s.defect_type for s in defects}
    assert runner.invoke(app, ["verify", str(classifier)]).exit_code == 0


def test_dataset_export_queries_on_every_backend(filled: Filled, records: list[InspectionRecord],
                                                 tmp_path: Path) -> None:
    from inspector.review.dataset_export import export_dataset

    ctx, ids = filled
    review_all(ctx, records, ids)
    summary = export_dataset(ctx.queries, ctx.store, tmp_path / "ds", recipe="pcb")
    pcb = [r for r in records if r.recipe == "pcb"]
    assert summary.train_good + summary.test_good == sum(not r.truth_defective for r in pcb)
    assert sum(summary.defects.values()) == sum(bool(r.truth_defective) for r in pcb) and not summary.missing


def test_dataset_from_db_errors_are_one_line(tmp_path: Path) -> None:
    from inspector.storage.database import default_sqlite_url

    dead = runner.invoke(app, ["dataset-from-db", "--out", str(tmp_path / "a"), "--database",
                               "postgresql://nobody@127.0.0.1:1/none", "--artifacts", str(tmp_path)])
    assert dead.exit_code == 2 and dead.output.startswith("error: database") and "unavailable" in dead.output
    (tmp_path / "empty").mkdir()  # an empty, never migrated database
    old = runner.invoke(app, ["dataset-from-db", "--out", str(tmp_path / "b"), "--database",
                              default_sqlite_url(tmp_path / "empty"), "--artifacts", str(tmp_path)])
    assert old.exit_code == 2 and "inspector db upgrade" in old.output
    assert len(dead.output.strip().splitlines()) == 1
