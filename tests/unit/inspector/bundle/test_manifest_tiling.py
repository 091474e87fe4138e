"""The optional tiling field: old manifests load unchanged, untiled ones are written without it, bad specs fail."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from inspector.bundle.manifest import (
    DatasetSpec,
    EquivalenceSpec,
    InputSpec,
    Manifest,
    RuntimeSpec,
    ThresholdSpec,
    TilingSpec,
)


def manifest(**changes) -> Manifest:
    threshold = ThresholdSpec(value=1.5, method="f1", detail="test")
    fields = dict(
        name="t", bundle_id="t-1", task="anomaly", architecture="patchcore", backbone="tf_efficientnet_lite0",
        input=InputSpec(height=64, width=64, mean=(0.5,) * 3, std=(0.5,) * 3), class_names=("good",),
        image_threshold=threshold, pixel_threshold=threshold, metrics={},
        dataset=DatasetSpec(fingerprint="f", layout="mvtec", train_images=1, test_images=1),
        versions={}, created=datetime(2026, 1, 1, tzinfo=UTC),
        runtimes=(RuntimeSpec(name="onnxruntime", file="model.onnx", format="onnx", devices=("cpu",)),),
        equivalence=EquivalenceSpec(samples=0, tolerance_rel=1e-3, max_rel_diff={}, passed=True), files={},
    )
    return Manifest(**{**fields, **changes})


def test_an_untiled_manifest_is_written_as_before_and_an_old_one_loads() -> None:
    text = manifest().model_dump_json()
    assert "tiling" not in json.loads(text)
    assert Manifest.model_validate_json(text).tiling is None


def test_a_tiled_manifest_round_trips() -> None:
    tiled = manifest(tiling=TilingSpec(tile=64, overlap=8, scale=0.5))
    data = json.loads(tiled.model_dump_json())
    assert data["tiling"] == {"tile": 64, "overlap": 8, "scale": 0.5}
    assert Manifest.model_validate(data) == tiled


@pytest.mark.parametrize(("tiling", "message"), [
    ({"tile": 32, "overlap": 4, "scale": 1.0}, "not the input size"),
    ({"tile": 64, "overlap": 64, "scale": 1.0}, "less than the tile side"),
    ({"tile": 64, "overlap": -1, "scale": 1.0}, "greater than or equal to 0"),
    ({"tile": 64, "overlap": 8, "scale": 0.0}, "greater than 0"),
    ({"tile": 64, "overlap": 8, "scale": 1.0, "stride": 3}, "Extra inputs"),
])
def test_a_tiling_that_does_not_fit_the_input_is_refused(tiling: dict, message: str) -> None:
    data = json.loads(manifest().model_dump_json())
    with pytest.raises(ValidationError, match=message):
        Manifest.model_validate({**data, "tiling": tiling})


def test_only_anomaly_bundles_are_tiled() -> None:
    """A supervised runner resizes whole frames; a tiling it would ignore is refused at open."""
    data = json.loads(manifest().model_dump_json())
    with pytest.raises(ValidationError, match="tiling is for anomaly bundles"):
        Manifest.model_validate({**data, "task": "classification", "tiling": {"tile": 64, "overlap": 8, "scale": 1}})
