"""Inspection records: what the writer journals, built from a domain Inspection, JSON round trip."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.domain.inspection import Decision, DefectRegion, Inspection, ModelOutput, Reason, ReasonCode, Verdict
from inspector.render import DEFAULT_OPACITY, overlay
from inspector.storage.archive import ArtifactStore, encode_png, thumbnail
from inspector.storage.records import InspectionRecord, ModelRecord, build_record, core_record, store_artifacts
from tests.unit.inspector.storage.factories import EPOCH, make_inspection


def test_record_round_trips_through_json(tmp_path: Path) -> None:
    record = build_record(make_inspection(3, size=200), ArtifactStore(tmp_path))
    assert InspectionRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record


def test_record_dict_is_the_dataclass_dict_and_shares_no_mutable_value(tmp_path: Path) -> None:
    record = build_record(make_inspection(3, size=200), ArtifactStore(tmp_path))
    assert record.models and record.regions and record.latencies_ms and record.image is not None
    data = record.to_dict()
    expected = asdict(record)
    expected.update(reasons=list(record.reasons), reason_codes=list(record.reason_codes),
                    models=[asdict(m) for m in record.models], regions=[asdict(r) for r in record.regions])
    assert data == expected
    data["latencies_ms"]["total"] = -1.0
    data["image"]["relpath"] = "elsewhere"
    assert record.latencies_ms.get("total") != -1.0 and record.image.relpath != "elsewhere"


def test_record_describes_the_inspection(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    record = build_record(make_inspection(1, size=200), store)
    assert (record.frame_id, record.camera, record.station, record.recipe, record.recipe_version) == (
        1, "cam0", "line-1", "washer", 3)
    assert (record.acquired_at, record.verdict, record.bundle_id, record.score) == (EPOCH + 1, "FAIL", "bundle-a", 0.9)
    assert (record.truth_defective, record.truth_defect, len(record.regions)) == (True, "scratch", 1)
    assert record.reason_codes == ("score_over_threshold",) and record.reasons == ("score 0.90 >= 0.50",)
    assert record.models == (ModelRecord(0, "bundle-a", 0.9, 0.5, 0.4, None, 5.0),)
    assert (record.image.kind, record.heatmap.kind, record.thumbnail.kind) == ("image", "anomaly_map", "thumbnail")
    assert (record.thumbnail.width, record.heatmap.width) == (128, 200)  # a map up to 256 px keeps its size
    assert all(store.verify(a) for a in (record.image, record.heatmap, record.thumbnail))


def test_no_map_no_heatmap_and_unknown_truth(tmp_path: Path) -> None:
    inspection = make_inspection(2, with_map=False)
    inspection = type(inspection)(**{**inspection.__dict__, "frame": type(inspection.frame)(
        **{**inspection.frame.__dict__, "truth": None})})
    record = build_record(inspection, ArtifactStore(tmp_path))
    assert record.heatmap is None and record.truth_defective is None and record.truth_defect is None


def test_a_journal_entry_written_before_per_model_records_still_loads(tmp_path: Path) -> None:
    entry = build_record(make_inspection(1), ArtifactStore(tmp_path)).to_dict()
    del entry["models"], entry["reason_codes"]  # what the journal held before migration 0003
    record = InspectionRecord.from_dict(entry)
    assert record.models == () and record.reason_codes == () and record.bundle_id == "bundle-a"


def _two_model_inspection(deciding: int | None, kept: tuple[DefectRegion, ...]) -> Inspection:
    base = make_inspection(1, size=64)
    inside = DefectRegion(x=2, y=2, width=6, height=6, area=30, score=0.9)
    outside = DefectRegion(x=50, y=50, width=6, height=6, area=30, score=0.8, class_name="scratch")
    anomaly = replace(base.outputs[0], regions=(inside, outside))
    detector = ModelOutput(model="detector-b", score=0.7, image_threshold=0.02, pixel_threshold=0.03,
                           regions=(outside,), latency_ms=2.5)
    verdict = Verdict.FAIL if kept else Verdict.PASS
    codes = (Reason(ReasonCode.REGION_OVER_THRESHOLD, "1 defect region(s)", "detector-b"),) if kept else (
        Reason(ReasonCode.PASS, "all models within thresholds"),)
    return replace(base, outputs=(anomaly, detector), decision=Decision(verdict, codes, kept, deciding))


@pytest.mark.parametrize("deciding, headline", [(0, ("bundle-a", 0.9, 0.5, 0.4)),
                                                (1, ("detector-b", 0.7, 0.02, 0.03))])
def test_every_model_is_recorded_in_order_and_the_headline_is_the_deciding_one(tmp_path: Path, deciding: int,
                                                                               headline: tuple) -> None:
    inspection = _two_model_inspection(deciding=deciding, kept=(DefectRegion(2, 2, 6, 6, 30, 0.9),))
    record = build_record(inspection, ArtifactStore(tmp_path))
    assert [(m.position, m.bundle_id, m.score, m.image_threshold, m.pixel_threshold) for m in record.models] == [
        (0, "bundle-a", 0.9, 0.5, 0.4), (1, "detector-b", 0.7, 0.02, 0.03)]
    assert (record.bundle_id, record.score, record.image_threshold, record.pixel_threshold) == headline
    assert record.reason_codes == ("region_over_threshold",)


def test_only_the_decisions_regions_are_stored(tmp_path: Path) -> None:
    """Regions the decision dropped (outside the ROI, say) are not evidence of this verdict: never stored."""
    kept = (DefectRegion(x=2, y=2, width=6, height=6, area=30, score=0.9),)
    store = ArtifactStore(tmp_path)
    assert [(r.x, r.y) for r in build_record(_two_model_inspection(0, kept), store).regions] == [(2, 2)]
    assert build_record(_two_model_inspection(0, ()), store).regions == ()


def test_the_archived_map_renders_the_renderers_picture_scaled_from_the_pixel_threshold(tmp_path: Path) -> None:
    inspection = make_inspection(1, size=48)
    heat = np.full((48, 48), 0.04, np.float32)
    heat[10:20] = 0.8  # 2x the pixel threshold (0.4): red
    heat[47, 47] = 4.0  # one hot pixel: a frame's maximum is no scale
    inspection = replace(inspection, outputs=(replace(inspection.outputs[0], anomaly_map=heat),))
    store = ArtifactStore(tmp_path)
    stored = build_record(inspection, store).heatmap
    relative, scale = store.read_anomaly_map(stored)
    assert (scale.colour_scale, scale.scale_from) == (0.4, "pixel_threshold")
    assert np.abs(relative * scale.colour_scale - heat).max() <= 0.4 / scale.levels / 2 + 1e-6  # raw values back
    rendered = overlay(inspection.frame.image, relative, 1.0, DEFAULT_OPACITY)
    assert np.array_equal(rendered, overlay(inspection.frame.image, heat, 0.4, DEFAULT_OPACITY))
    assert np.array_equal(rendered[30:40], inspection.frame.image[30:40])  # below the threshold: untouched
    assert not np.array_equal(rendered[10:20], inspection.frame.image[10:20])


def test_the_map_is_stored_compactly_and_round_trips_within_its_quantisation(tmp_path: Path) -> None:
    """A 1024 px map is kept at 256 px in 16 bits relative to its pixel threshold: far smaller than the overlay
    was, and rendered back at frame size it matches the live picture up to resampling and rounding."""
    size = 1024
    inspection = make_inspection(1, size=size)
    rng = np.random.default_rng(5)
    coarse = rng.random((32, 32), dtype=np.float32) * 0.8  # a model's map is coarse, upsampled to the frame
    heat = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_LINEAR)
    inspection = replace(inspection, outputs=(replace(inspection.outputs[0], anomaly_map=heat),))
    store = ArtifactStore(tmp_path)
    stored = build_record(inspection, store).heatmap
    assert (stored.kind, stored.width, stored.height) == ("anomaly_map", 256, 256)
    overlay_png = len(encode_png(overlay(inspection.frame.image, heat, 0.4)))
    assert stored.bytes * 10 < overlay_png, (stored.bytes, overlay_png)
    relative, scale = store.read_anomaly_map(stored)
    shrunk = cv2.resize(heat, (256, 256), interpolation=cv2.INTER_AREA) / np.float32(0.4)
    assert np.abs(relative - shrunk).max() <= 0.5 / scale.levels + 1e-6  # only the rounding to 1/4096
    live = overlay(inspection.frame.image, heat, 0.4).astype(int)
    review = overlay(inspection.frame.image, relative, 1.0).astype(int)
    assert np.abs(live - review).mean() < 0.5 and np.percentile(np.abs(live - review), 99) <= 8


def test_a_map_without_a_pixel_threshold_keeps_the_scale_it_was_drawn_with(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    heat = np.linspace(0, 3, 32 * 32, dtype=np.float32).reshape(32, 32)
    heat[0, 0] = np.nan
    for hot, expected_scale in ((None, 1.5), (np.inf, 1.0)):  # half the maximum; an infinite one gives no scale
        if hot is not None:
            heat[0, 1] = hot
        inspection = make_inspection(1, size=32)
        inspection = replace(inspection, outputs=(replace(inspection.outputs[0], anomaly_map=heat,
                                                          pixel_threshold=None),))
        relative, scale = store.read_anomaly_map(build_record(inspection, store).heatmap)
        assert (scale.scale_from, scale.colour_scale) == ("half_max", expected_scale)
        drawn = overlay(inspection.frame.image, relative, 1.0).astype(int)
        off = np.abs(drawn - overlay(inspection.frame.image, heat, expected_scale))
        assert off.max() <= 3 and (off == 0).mean() > 0.99  # a value rounded across a colour step, at most


def test_a_pass_the_policy_does_not_keep_has_a_thumbnail_only(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    inspection = make_inspection(2, size=200)
    ramp = np.linspace(0, 255, 200, dtype=np.float32)
    smooth = np.stack([np.add.outer(ramp, ramp) / 2, np.tile(ramp, (200, 1)), np.tile(ramp[:, None], (1, 200))], -1)
    inspection = replace(inspection, frame=replace(inspection.frame, image=smooth.astype(np.uint8)))
    record = store_artifacts(core_record(inspection), inspection, store, keep_images=False,
                             not_kept_why="archive policy keeps 1 PASS image in 50")
    assert (record.image, record.heatmap, record.artifacts) == (None, None, "not_kept")
    assert record.thumbnail.kind == "thumbnail" and store.verify(record.thumbnail)
    assert record.artifacts_error == "archive policy keeps 1 PASS image in 50"
    bare = store_artifacts(core_record(inspection), inspection, store, keep_images=False, keep_thumbnail=False)
    assert (bare.image, bare.heatmap, bare.thumbnail, bare.artifacts) == (None, None, None, "not_kept")
    assert [p.name for p in tmp_path.rglob("*.*")] == [record.thumbnail.relpath.split("/")[1]]
    assert record.thumbnail.media_type == "image/jpeg" and record.thumbnail.relpath.endswith(".jpg")
    small = thumbnail(inspection.frame.image, 128)
    back = store.read_png(record.thumbnail)
    assert back.shape == small.shape and np.abs(back.astype(int) - small.astype(int)).mean() < 2
    assert InspectionRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
