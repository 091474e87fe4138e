"""Bundle hashing and refusal, on a hand-made bundle (no model needed)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inspector.bundle.manifest import (
    DatasetSpec,
    EquivalenceSpec,
    InputSpec,
    Manifest,
    RuntimeSpec,
    ThresholdSpec,
)
from inspector.bundle.store import (
    CACHE_ENV,
    STALE_S,
    BundleError,
    hash_files,
    open_bundle,
    write_manifest,
    zip_bundle,
)


def make_bundle(folder: Path) -> Path:
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"not really onnx")
    (folder / "report").mkdir()
    (folder / "report" / "metrics.json").write_text("{}")
    threshold = ThresholdSpec(value=1.5, method="f1", detail="test")
    manifest = Manifest(
        name="t", bundle_id="t-1", task="anomaly", architecture="patchcore", backbone="tf_efficientnet_lite0",
        input=InputSpec(height=8, width=8, mean=(0.5,) * 3, std=(0.5,) * 3), class_names=("good",),
        image_threshold=threshold, pixel_threshold=threshold, metrics={},
        dataset=DatasetSpec(fingerprint="f", layout="mvtec", train_images=1, test_images=1),
        versions={}, created=datetime.now(UTC),
        runtimes=(RuntimeSpec(name="onnxruntime", file="model.onnx", format="onnx", devices=("cpu",)),),
        equivalence=EquivalenceSpec(samples=0, tolerance_rel=1e-3, max_rel_diff={}, passed=True),
        files=hash_files(folder),
    )
    write_manifest(folder, manifest)
    return folder


def test_opens_a_good_bundle_folder_and_zip(tmp_path: Path) -> None:
    folder = make_bundle(tmp_path / "b")
    assert open_bundle(folder).manifest.image_threshold.value == 1.5
    archive = zip_bundle(folder, tmp_path / "b.zip")
    assert open_bundle(archive).preprocessing.height == 8


def test_changed_file_is_named(tmp_path: Path) -> None:
    folder = make_bundle(tmp_path / "b")
    (folder / "model.onnx").write_bytes(b"tampered")
    with pytest.raises(BundleError, match=r"model\.onnx: sha256"):
        open_bundle(folder)


def test_missing_and_extra_files_are_named(tmp_path: Path) -> None:
    folder = make_bundle(tmp_path / "b")
    (folder / "report" / "metrics.json").unlink()
    with pytest.raises(BundleError, match=r"metrics\.json: listed in the manifest but missing"):
        open_bundle(folder)
    folder = make_bundle(tmp_path / "c")
    (folder / "extra.bin").write_bytes(b"x")
    with pytest.raises(BundleError, match=r"extra\.bin: file is not listed"):
        open_bundle(folder)


def test_edited_manifest_is_refused(tmp_path: Path) -> None:
    folder = make_bundle(tmp_path / "b")
    path = folder / "manifest.json"
    path.write_text(path.read_text().replace('"value": 1.5', '"value": 99.0'))
    with pytest.raises(BundleError, match="the manifest was changed"):
        open_bundle(folder)


def test_unsupported_schema_and_bad_field_are_named(tmp_path: Path) -> None:
    folder = make_bundle(tmp_path / "b")
    data = json.loads((folder / "manifest.json").read_text())
    data["schema_version"] = 7
    path = folder / "manifest.json"
    path.write_text(json.dumps(data))
    import hashlib

    (folder / "manifest.sha256").write_text(hashlib.sha256(path.read_bytes()).hexdigest())
    with pytest.raises(BundleError, match="schema_version 7"):
        open_bundle(folder)
    data["schema_version"] = 1
    data["input"]["height"] = -1
    path.write_text(json.dumps(data))
    (folder / "manifest.sha256").write_text(hashlib.sha256(path.read_bytes()).hexdigest())
    with pytest.raises(BundleError, match="input.height"):
        open_bundle(folder)


def test_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="bundle not found"):
        open_bundle(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="not a model bundle"):
        open_bundle(tmp_path / "empty")
    (tmp_path / "bad.zip").write_bytes(b"zip?")
    with pytest.raises(BundleError, match="not a valid zip"):
        open_bundle(tmp_path / "bad.zip")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(root))
    return root


def test_a_zip_is_extracted_once_shared_and_removed_on_close(tmp_path: Path, cache: Path) -> None:
    archive = zip_bundle(make_bundle(tmp_path / "b"), tmp_path / "b.zip")
    first, second = open_bundle(archive), open_bundle(archive)
    assert first.root == second.root and first.root.is_relative_to(cache)
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 1
    first.close()
    assert second.root.is_dir()  # still held by the second
    second.close()
    second.close()  # idempotent
    assert list(cache.iterdir()) == []
    for _ in range(3):
        open_bundle(archive).close()
    assert list(cache.iterdir()) == []  # opening and closing leaves nothing behind


def test_a_stale_extraction_nobody_holds_is_removed_at_the_next_open(tmp_path: Path, cache: Path) -> None:
    archive = zip_bundle(make_bundle(tmp_path / "b"), tmp_path / "b.zip")
    bundle = open_bundle(archive)
    entry = bundle.lease.entry
    bundle.lease._handle.close()  # as if its process had been killed: the lock went, the files stayed
    bundle.lease._handle = None
    lock = entry.with_name(entry.name + ".lock")
    os.utime(lock, (time.time() - STALE_S - 10,) * 2)
    other = zip_bundle(make_bundle(tmp_path / "c"), tmp_path / "c.zip")
    fresh = open_bundle(other)
    assert not entry.exists() and not lock.exists() and fresh.root.is_dir()
    fresh.close()


@pytest.mark.parametrize("mode, kind", [(stat.S_IFLNK | 0o777, "a symlink"), (stat.S_IFCHR | 0o644, "a device")])
def test_a_symlink_or_device_member_is_refused_in_one_line(tmp_path: Path, cache: Path, mode: int,
                                                           kind: str) -> None:
    archive = zip_bundle(make_bundle(tmp_path / "b"), tmp_path / "b.zip")
    with zipfile.ZipFile(archive, "a") as zf:
        info = zipfile.ZipInfo("b/escape")
        info.external_attr = mode << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(BundleError, match=f"member 'b/escape' is {kind}") as caught:
        open_bundle(archive)
    assert "\n" not in str(caught.value) and not any(cache.glob("*/b/escape"))


@pytest.mark.parametrize("value", ["NaN", "Infinity"])
def test_a_manifest_threshold_that_is_not_finite_is_refused(tmp_path: Path, value: str) -> None:
    folder = make_bundle(tmp_path / "b")
    text = (folder / "manifest.json").read_text().replace('"value": 1.5', f'"value": {value}', 1)
    (folder / "manifest.json").write_text(text)
    (folder / "manifest.sha256").write_text(f"{hashlib.sha256(text.encode()).hexdigest()}  manifest.json\n")
    with pytest.raises(BundleError, match=r"field 'image_threshold.value'"):
        open_bundle(folder)
