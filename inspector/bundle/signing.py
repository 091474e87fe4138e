"""Bundle signatures: Ed25519 over ``manifest.json`` (which holds the sha256 of every other file).

``inspector-train`` signs with its key (made once, 0600, at ``$INSPECTOR_SIGNING_KEY`` or
``~/.config/inspector/signing_key.pem``, the public key beside it as ``.pub``); the station trusts the public keys
in its config (by default that same local ``.pub``). ``manifest.sig`` names the key by its id.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from inspector.bundle.manifest import MANIFEST_NAME
from inspector.bundle.store import BundleError

SIGNATURE_NAME = "manifest.sig"
KEY_ENV = "INSPECTOR_SIGNING_KEY"


def default_key_path() -> Path:
    return Path(os.environ.get(KEY_ENV) or Path.home() / ".config" / "inspector" / "signing_key.pem").expanduser()


def public_path(private: Path) -> Path:
    return private.with_suffix(".pub")


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_or_create_key(path: Path | None = None) -> Ed25519PrivateKey:
    """The signing key at ``path``; made once (0600, its public key beside it) when there is none."""
    path = path or default_key_path()
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise BundleError(f"{path}: the signing key is readable by others (chmod 600 it)")
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise BundleError(f"{path}: not an Ed25519 private key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    public_path(path).write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                serialization.PublicFormat.SubjectPublicKeyInfo))
    return key


def load_public_keys(paths: list[Path]) -> dict[str, Ed25519PublicKey]:
    """Trusted keys by id; a missing or malformed file is a ``BundleError`` naming it."""
    keys = {}
    for path in paths:
        try:
            key = serialization.load_pem_public_key(Path(path).expanduser().read_bytes())
        except (OSError, ValueError) as exc:
            raise BundleError(f"{path}: not a readable public key ({exc.__class__.__name__})") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise BundleError(f"{path}: not an Ed25519 public key")
        keys[key_id(key)] = key
    return keys


def sign_bundle(folder: Path, key: Ed25519PrivateKey) -> Path:
    manifest = (folder / MANIFEST_NAME).read_bytes()
    record = {"algorithm": "ed25519", "key_id": key_id(key.public_key()),
              "signature": base64.b64encode(key.sign(manifest)).decode()}
    path = folder / SIGNATURE_NAME
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def verify_bundle(root: Path, trusted: dict[str, Ed25519PublicKey]) -> str:
    """The id of the trusted key that signed the manifest; ``BundleError`` naming the signature otherwise."""
    path = root / SIGNATURE_NAME
    if not path.is_file():
        raise BundleError(f"{root}: the bundle is not signed (no {SIGNATURE_NAME}); the station refuses unsigned "
                          "bundles unless security.allow_unsigned_bundles is set")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        signature = base64.b64decode(record["signature"], validate=True)
        kid = str(record["key_id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"{path}: malformed signature record") from exc
    key = trusted.get(kid)
    if key is None:
        raise BundleError(f"{path}: signature by key {kid}, which this station does not trust "
                          f"(trusted: {', '.join(sorted(trusted)) or 'none'})")
    try:
        key.verify(signature, (root / MANIFEST_NAME).read_bytes())
    except InvalidSignature as exc:
        raise BundleError(f"{path}: the signature does not match the manifest; the bundle was changed after it "
                          "was signed") from exc
    return kid
