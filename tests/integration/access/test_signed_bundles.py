"""`inspector-train verify` and the station refuse a bundle changed after signing, or one whose paths leave it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from inspector.station.errors import ModelRefused
from inspector.station.runtime import StationRuntime
from tests.integration.station.conftest import write_station
from tests.unit.inspector.bundle.test_signing import rewrite_manifest
from training.cli import app as train_cli


def _copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_bundle, tmp_path / "bundle"))


def _passing_everything(m: dict) -> None:
    m["image_threshold"]["value"] = 1e6
    m["pixel_threshold"]["value"] = 1e6


def test_verify_accepts_the_signed_bundle(tiny_bundle: Path) -> None:
    result = CliRunner().invoke(train_cli, ["verify", str(tiny_bundle)])
    assert result.exit_code == 0, result.output
    assert "signature ok" in result.output and "bundle verified" in result.output


def test_verify_refuses_rewritten_thresholds_naming_the_signature(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = _copy(tiny_bundle, tmp_path)
    rewrite_manifest(bundle, _passing_everything)
    result = CliRunner().invoke(train_cli, ["verify", str(bundle)])
    assert result.exit_code != 0 and "signature" in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_verify_refuses_a_path_out_of_the_bundle(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = _copy(tiny_bundle, tmp_path)
    rewrite_manifest(bundle, lambda m: m["files"].update({"../../../../etc/passwd": "0" * 64}))
    result = CliRunner().invoke(train_cli, ["verify", str(bundle)])
    assert result.exit_code != 0 and "leaves the bundle" in result.output and "root:" not in result.output


def _station(tmp_path: Path, bundle: Path, **security) -> Path:
    config = write_station(tmp_path, bundle)
    data = yaml.safe_load(config.read_text())
    data["security"].update(security)
    config.write_text(yaml.safe_dump(data))
    return config


def test_the_station_refuses_a_bundle_changed_after_signing(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = _copy(tiny_bundle, tmp_path)
    rewrite_manifest(bundle, _passing_everything)
    runtime = StationRuntime(_station(tmp_path, bundle))
    try:
        with pytest.raises(ModelRefused, match="signature does not match"):
            runtime.start(1)
    finally:
        runtime.close()


def test_an_unsigned_bundle_is_refused_unless_the_config_allows_it(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = _copy(tiny_bundle, tmp_path)
    (bundle / "manifest.sig").unlink()
    runtime = StationRuntime(_station(tmp_path, bundle))
    try:
        with pytest.raises(ModelRefused, match="not signed"):
            runtime.start(1)
    finally:
        runtime.close()
    allowed = StationRuntime(_station(tmp_path, bundle, allow_unsigned_bundles=True))
    try:
        allowed.start(2)
        assert allowed.wait(60) and allowed.counters.snapshot().inspected == 2
    finally:
        allowed.close()


def test_sign_signs_a_bundle_with_a_given_key(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = _copy(tiny_bundle, tmp_path)
    key = tmp_path / "keys" / "other.pem"
    result = CliRunner().invoke(train_cli, ["sign", str(bundle), "--signing-key", str(key)])
    assert result.exit_code == 0, result.output
    refused = CliRunner().invoke(train_cli, ["verify", str(bundle)])  # this machine's key does not trust it
    assert refused.exit_code != 0 and "does not trust" in refused.output
    trusted = CliRunner().invoke(train_cli, ["verify", str(bundle), "--trusted-key", str(key.with_suffix(".pub"))])
    assert trusted.exit_code == 0, trusted.output
