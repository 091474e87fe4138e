"""Write, open and check model bundles (a folder or a zip of one)."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from inspector.bundle.manifest import MANIFEST_NAME, SCHEMA_VERSION, Manifest
from inspector.bundle.preprocess import Preprocessing

MANIFEST_HASH_NAME = "manifest.sha256"
_UNHASHED = (MANIFEST_NAME, MANIFEST_HASH_NAME)


class BundleError(Exception):
    """A bundle is missing, malformed or tampered with; the message says which file and why."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hash_files(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` except the manifest and its hash, by POSIX relative path."""
    return {
        path.relative_to(folder).as_posix(): sha256_file(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.relative_to(folder).as_posix() not in _UNHASHED
    }


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    path = folder / MANIFEST_NAME
    path.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    (folder / MANIFEST_HASH_NAME).write_text(f"{sha256_file(path)}  {MANIFEST_NAME}\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class Bundle:
    """An opened, hash-checked bundle folder."""

    root: Path
    manifest: Manifest

    @property
    def preprocessing(self) -> Preprocessing:
        spec = self.manifest.input
        return Preprocessing(spec.height, spec.width, spec.mean, spec.std, spec.resize)

    def path(self, relative: str) -> Path:
        return self.root / relative


def _unzip(path: Path) -> Path:
    target = Path(tempfile.mkdtemp(prefix=f"bundle-{path.stem}-"))
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if member.startswith("/") or ".." in Path(member).parts:
                    raise BundleError(f"{path}: unsafe member path {member!r} in zip")
            archive.extractall(target)
    except zipfile.BadZipFile as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise BundleError(f"{path}: not a valid zip file ({exc})") from exc
    entries = [p for p in target.iterdir()]
    if len(entries) == 1 and entries[0].is_dir() and not (target / MANIFEST_NAME).exists():
        return entries[0]
    return target


def read_manifest(root: Path) -> Manifest:
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise BundleError(f"{root}: no {MANIFEST_NAME}; this is not a model bundle")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: not valid JSON ({exc})") from exc
    _check_manifest_hash(root, path)
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != SCHEMA_VERSION:
        raise BundleError(f"{path}: schema_version {version!r} is not supported (expected {SCHEMA_VERSION})")
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise BundleError(f"{path}: field {field!r}: {first['msg']}") from exc


def _check_manifest_hash(root: Path, manifest_path: Path) -> None:
    hash_path = root / MANIFEST_HASH_NAME
    if not hash_path.is_file():
        raise BundleError(f"{hash_path}: missing; the manifest cannot be checked")
    expected = hash_path.read_text(encoding="utf-8").split()[0] if hash_path.stat().st_size else ""
    if sha256_file(manifest_path) != expected:
        raise BundleError(f"{manifest_path}: sha256 does not match {MANIFEST_HASH_NAME}; the manifest was changed")


def check_hashes(root: Path, manifest: Manifest) -> None:
    """Raise BundleError naming the first missing, changed or unlisted file."""
    for relative, expected in sorted(manifest.files.items()):
        path = root / relative
        if not path.is_file():
            raise BundleError(f"{path}: listed in the manifest but missing")
        actual = sha256_file(path)
        if actual != expected:
            raise BundleError(f"{path}: sha256 {actual[:12]}... does not match the manifest ({expected[:12]}...)")
    unlisted = sorted(set(hash_files(root)) - set(manifest.files))
    if unlisted:
        raise BundleError(f"{root / unlisted[0]}: file is not listed in the manifest")


def open_bundle(path: Path | str) -> Bundle:
    """Open a bundle folder or zip, validate its manifest and check every file's sha256."""
    path = Path(path)
    if not path.exists():
        raise BundleError(f"{path}: bundle not found")
    root = _unzip(path) if path.is_file() else path
    manifest = read_manifest(root)
    check_hashes(root, manifest)
    for runtime in manifest.runtimes:
        if runtime.file not in manifest.files:
            raise BundleError(f"{root / runtime.file}: runtime {runtime.name} file is not hashed in the manifest")
    return Bundle(root=root, manifest=manifest)


def zip_bundle(folder: Path, target: Path) -> Path:
    """Pack a bundle folder into a zip (files stored under the folder's name)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, Path(folder.name) / path.relative_to(folder))
    return target
