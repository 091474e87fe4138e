"""The start-up equivalence check scores the runtime the station will run, once, against the typed record."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from inspector.bundle.equivalence import EquivalenceRecord, describe_latency, read_equivalence
from inspector.bundle.manifest import EQUIVALENCE_NAME
from inspector.bundle.store import Bundle, BundleError, hash_files, open_bundle, read_manifest, write_manifest
from inspector.inference import equivalence
from inspector.inference.anomaly import AnomalyModel
from inspector.inference.runtimes import RawOutput, load_runtime

pytestmark = pytest.mark.slow


class Counting:
    """A runtime seen through a counter; ``scale`` perturbs its scores (a runtime that drifted)."""

    def __init__(self, runtime, scale: float = 1.0) -> None:
        self.inner, self.scale, self.calls = runtime, scale, 0
        self.name, self.device = runtime.name, runtime.device

    def __call__(self, batch: np.ndarray) -> RawOutput:
        self.calls += 1
        out = self.inner(batch)
        return RawOutput(out.scores * self.scale, out.maps)

    def run_raw(self, batch: np.ndarray) -> list[np.ndarray]:
        return self.inner.run_raw(batch)


def test_the_check_scores_the_given_runtime_and_loads_no_other(tiny_bundle: Path, monkeypatch) -> None:
    bundle = open_bundle(tiny_bundle)
    runtime = Counting(load_runtime(bundle, "onnxruntime"))
    monkeypatch.setattr(equivalence, "load_runtime", lambda *a, **k: pytest.fail("loaded another runtime"))
    check = equivalence.require_equivalence(bundle, runtime)
    samples = read_equivalence(bundle).record.samples
    assert check.passed and check.key == "onnxruntime:cpu" and runtime.calls == samples


def test_a_runtime_that_drifted_is_refused_even_when_a_fresh_one_would_pass(tiny_bundle: Path) -> None:
    bundle = open_bundle(tiny_bundle)
    drifted = Counting(load_runtime(bundle, "onnxruntime"), scale=1.01)
    with pytest.raises(BundleError, match="onnxruntime on cpu differs"):
        equivalence.require_equivalence(bundle, drifted)


def test_a_bound_model_is_loaded_and_checked_once(tiny_bundle: Path, monkeypatch) -> None:
    loads = []
    real = load_runtime
    monkeypatch.setattr("inspector.inference.bundle_model.load_runtime",
                        lambda *a, **k: loads.append(a[1:]) or real(*a, **k))
    monkeypatch.setattr(equivalence, "load_runtime", lambda *a, **k: pytest.fail("loaded another runtime"))
    model = AnomalyModel.open(tiny_bundle, "onnxruntime", image_threshold=7.0, min_area=25)
    assert loads == [("onnxruntime", None, None, None)]
    assert (model.image_threshold, model.min_area) == (7.0, 25)
    assert model.load_check.key == "onnxruntime:cpu" and model.load_check.ms_per_image > 0  # the station's own time
    assert model.pixel_threshold == model.bundle.manifest.pixel_threshold.value


def test_the_record_is_typed_and_a_malformed_one_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    record = read_equivalence(open_bundle(tiny_bundle)).record
    assert isinstance(record, EquivalenceRecord) and record.task == "anomaly" and record.reference.scores
    assert set(record.runtimes) == {"torch:cpu", "onnxruntime:cpu"}
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, copy)
    data = json.loads((copy / EQUIVALENCE_NAME).read_text())
    data["reference"]["scores"] = "lots"
    (copy / EQUIVALENCE_NAME).write_text(json.dumps(data))
    manifest = read_manifest(copy)
    write_manifest(copy, manifest.model_copy(update={"files": hash_files(copy)}))
    with pytest.raises(BundleError, match=r"equivalence.json: not a valid equivalence record \(field 'reference"):
        read_equivalence(Bundle(copy, read_manifest(copy)))


class DriftsWhenBatched(Counting):
    """Right one image at a time, off by 1 % when it scores several at once."""

    def __init__(self, runtime) -> None:
        super().__init__(runtime)
        self.max_batch = runtime.max_batch

    def __call__(self, batch: np.ndarray) -> RawOutput:
        out = self.inner(batch)
        return RawOutput(out.scores * (1.01 if len(batch) > 1 else 1.0), out.maps)


@pytest.mark.parametrize("name", ["onnxruntime", "torch"])
def test_anomaly_bundles_take_batches_that_agree_with_single_images(tiny_bundle: Path, name: str) -> None:
    bundle = open_bundle(tiny_bundle)
    runtime = load_runtime(bundle, name)
    assert bundle.manifest.runtime(name).dynamic_batch and runtime.max_batch > 1
    inputs = read_equivalence(bundle).inputs
    batched = runtime(np.concatenate([inputs, inputs[:1]]))  # five images, one call
    single = [runtime(inputs[i : i + 1]) for i in range(len(inputs))]
    np.testing.assert_allclose(batched.scores[:-1], np.concatenate([s.scores for s in single]), rtol=1e-4)
    np.testing.assert_allclose(batched.maps[:-1], np.concatenate([s.maps for s in single]), rtol=1e-4, atol=1e-4)


def test_a_runtime_whose_batches_drift_is_refused(tiny_bundle: Path) -> None:
    bundle = open_bundle(tiny_bundle)
    with pytest.raises(BundleError, match="onnxruntime on cpu differs"):
        equivalence.require_equivalence(bundle, DriftsWhenBatched(load_runtime(bundle, "onnxruntime")))


def test_reduced_precision_is_kept_only_where_the_equivalence_check_passes(tiny_bundle: Path, caplog) -> None:
    """The CUDA path's fp16, exercised on the CPU with bfloat16: the model keeps reduced precision exactly when
    that runtime reproduces the recorded scores, else it runs full precision (which does)."""
    bundle = open_bundle(tiny_bundle)
    half_check = equivalence.check_runtime(bundle, load_runtime(bundle, "torch", half=True))
    with caplog.at_level("INFO"):
        model = AnomalyModel.open(tiny_bundle, "torch", half=True)
    assert model.runtime.half is half_check.passed
    assert equivalence.check_runtime(bundle, model.runtime).passed
    assert ("reduced precision" in caplog.text) and (half_check.passed or "running full precision" in caplog.text)


def test_full_precision_is_the_default_off_cuda(tiny_bundle: Path) -> None:
    assert load_runtime(open_bundle(tiny_bundle), "torch").half is False


class Sleepy:
    """A runtime whose first call takes 150 ms longer than the others (a runtime warming up)."""

    def __init__(self, runtime) -> None:
        self.inner, self.calls = runtime, 0
        self.name, self.device = runtime.name, runtime.device

    def __call__(self, batch: np.ndarray) -> RawOutput:
        self.calls += 1
        time.sleep(0.17 if self.calls == 1 else 0.02)
        return self.inner(batch)


def test_the_check_times_each_image_and_leaves_out_the_first_call(tiny_bundle: Path) -> None:
    bundle = open_bundle(tiny_bundle)
    check = equivalence.check_runtime(bundle, Sleepy(load_runtime(bundle, "onnxruntime")))
    assert check.passed and 20 <= check.ms_per_image < 170, check
    assert equivalence.per_image_ms([170.0, 20.0, 30.0, 25.0]) == 25.0
    assert equivalence.per_image_ms([9.0]) == 9.0 and equivalence.per_image_ms([]) is None


def test_the_record_keeps_each_runtimes_time_per_image_from_export(tiny_bundle: Path) -> None:
    record = read_equivalence(open_bundle(tiny_bundle)).record
    times = {key: diff.ms_per_image for key, diff in record.runtimes.items()}
    assert set(times) == {"torch:cpu", "onnxruntime:cpu"} and all(ms > 0 for ms in times.values()), times
    described = describe_latency(record)
    assert described.startswith(("torch:cpu ", "onnxruntime:cpu ")) and described.count(" ms") == 2, described
    older = record.model_copy(update={"runtimes": {k: d.model_copy(update={"ms_per_image": None})
                                                   for k, d in record.runtimes.items()}})
    assert describe_latency(older) is None  # a bundle from before the timing: nothing to say
