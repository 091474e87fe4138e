"""Signed bundles: an Ed25519 signature over the manifest, and manifest paths that stay inside the bundle."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from inspector.bundle.signing import key_id, load_or_create_key, sign_bundle, verify_bundle
from inspector.bundle.store import MANIFEST_HASH_NAME, BundleError, open_bundle
from tests.unit.inspector.bundle.test_store import make_bundle

SECRET = "TOP-SECRET-outside-the-bundle\n"


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def signed(tmp_path: Path, key: Ed25519PrivateKey) -> Path:
    folder = make_bundle(tmp_path / "b")
    sign_bundle(folder, key)
    return folder


def _trust(key: Ed25519PrivateKey) -> dict:
    return {key_id(key.public_key()): key.public_key()}


def rewrite_manifest(folder: Path, change) -> None:
    """Edit manifest.json and recompute manifest.sha256, as someone with a shell would."""
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))
    (folder / MANIFEST_HASH_NAME).write_text(hashlib.sha256(path.read_bytes()).hexdigest() + "\n")


def test_a_signed_bundle_verifies_with_its_key(signed: Path, key: Ed25519PrivateKey) -> None:
    assert verify_bundle(open_bundle(signed).root, _trust(key)) == key_id(key.public_key())


def test_rewritten_thresholds_with_a_recomputed_hash_are_refused_naming_the_signature(
        signed: Path, key: Ed25519PrivateKey) -> None:
    rewrite_manifest(signed, lambda m: m["image_threshold"].update(value=1e6))
    bundle = open_bundle(signed)  # the hashes agree: that is what made this hole
    assert bundle.manifest.image_threshold.value == 1e6
    with pytest.raises(BundleError, match="signature does not match the manifest"):
        verify_bundle(bundle.root, _trust(key))


def test_an_unsigned_bundle_and_an_untrusted_key_are_refused(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    folder = make_bundle(tmp_path / "u")
    with pytest.raises(BundleError, match="not signed"):
        verify_bundle(folder, _trust(key))
    sign_bundle(folder, Ed25519PrivateKey.generate())
    with pytest.raises(BundleError, match="which this station does not trust"):
        verify_bundle(folder, _trust(key))


@pytest.mark.parametrize("entry", ["../secret.txt", "{outside}", "report/../../secret.txt"])
def test_a_manifest_path_that_leaves_the_bundle_is_refused_without_reading_it(
        tmp_path: Path, key: Ed25519PrivateKey, entry: str) -> None:
    folder = make_bundle(tmp_path / "b")
    outside = tmp_path / "secret.txt"
    outside.write_text(SECRET)
    entry = entry.format(outside=outside)
    digest = hashlib.sha256(SECRET.encode()).hexdigest()
    rewrite_manifest(folder, lambda m: m["files"].update({entry: "0" * 64}))
    sign_bundle(folder, key)  # even a trusted signature does not make it acceptable
    with pytest.raises(BundleError, match="leaves the bundle") as refused:
        open_bundle(folder)
    message = str(refused.value)
    assert "TOP-SECRET" not in message and digest[:6] not in message and "\n" not in message


def test_a_runtime_file_outside_the_bundle_is_refused(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    folder = make_bundle(tmp_path / "b")
    (tmp_path / "evil.onnx").write_bytes(b"evil")
    rewrite_manifest(folder, lambda m: m["runtimes"][0].update(file="../evil.onnx"))
    with pytest.raises(BundleError, match="leaves the bundle"):
        open_bundle(folder)


def test_a_symlink_out_of_the_bundle_is_refused(tmp_path: Path) -> None:
    folder = make_bundle(tmp_path / "b")
    (tmp_path / "secret.txt").write_text(SECRET)
    os.symlink(tmp_path / "secret.txt", folder / "report" / "metrics.json.link")
    with pytest.raises(BundleError, match="through a symlink") as refused:
        open_bundle(folder)
    assert "TOP-SECRET" not in str(refused.value)


def test_the_key_is_made_once_with_private_permissions(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.pem"
    first = load_or_create_key(path)
    assert (path.stat().st_mode & 0o777) == 0o600 and path.with_suffix(".pub").is_file()
    assert key_id(load_or_create_key(path).public_key()) == key_id(first.public_key())
