"""Write, open and check model bundles (a folder or a zip of one)."""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pydantic import ValidationError

from inspector.bundle.manifest import MANIFEST_NAME, SCHEMA_VERSION, Manifest
from inspector.bundle.preprocess import Preprocessing

MANIFEST_HASH_NAME = "manifest.sha256"
SIGNATURE_FILE = "manifest.sig"  # see inspector.bundle.signing
_UNHASHED = (MANIFEST_NAME, MANIFEST_HASH_NAME, SIGNATURE_FILE)


class BundleError(Exception):
    """A bundle is missing, malformed or tampered with; the message says which file and why."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def inside(root: Path, relative: str) -> Path:
    """``root / relative`` when that stays inside ``root`` (no absolute path, no ``..``, no symlink out of it).

    The error names the manifest's entry only: nothing about a file outside the bundle is read or shown.
    """
    pure = PurePosixPath(relative)
    if not relative or pure.is_absolute() or "\\" in relative or any(part in ("..", "") for part in pure.parts):
        raise BundleError(f"{root}: manifest path {relative!r} leaves the bundle (absolute or ..); refused")
    path = root / pure
    if not path.resolve().is_relative_to(root.resolve()):
        raise BundleError(f"{root}: manifest path {relative!r} leaves the bundle through a symlink; refused")
    return path


def hash_files(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` except the manifest, its hash and its signature, by relative path.

    A symlink that leaves the folder is refused, never followed.
    """
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink():
            inside(folder, relative)
        if path.is_file() and relative not in _UNHASHED:
            found[relative] = sha256_file(path)
    return found


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    path = folder / MANIFEST_NAME
    path.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    (folder / MANIFEST_HASH_NAME).write_text(f"{sha256_file(path)}  {MANIFEST_NAME}\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class Bundle:
    """An opened, hash-checked bundle folder (for a zip: its extraction in the cache, held while open)."""

    root: Path
    manifest: Manifest
    lease: _Lease | None = field(default=None, compare=False, repr=False)

    @property
    def preprocessing(self) -> Preprocessing:
        spec = self.manifest.input
        return Preprocessing(spec.height, spec.width, spec.mean, spec.std, spec.resize)

    def path(self, relative: str) -> Path:
        """A file of the bundle; a path that would leave it is a ``BundleError``."""
        return inside(self.root, relative)

    def close(self) -> None:
        """Give back a zip's extraction (removed when no other user holds it). A folder needs nothing."""
        if self.lease is not None:
            self.lease.release()


CACHE_ENV = "INSPECTOR_BUNDLE_CACHE"
STALE_S = 24 * 3600
_UNSAFE_TYPES = {stat.S_IFLNK: "a symlink", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device",
                 stat.S_IFIFO: "a pipe", stat.S_IFSOCK: "a socket"}


def cache_root() -> Path:
    """Where zip bundles are extracted, once per zip content: $INSPECTOR_BUNDLE_CACHE or the temp folder."""
    return Path(os.environ.get(CACHE_ENV) or Path(tempfile.gettempdir()) / "inspector-bundles")


class _Lease:
    """A shared lock on one extraction while a bundle is open; the last one out removes the extraction."""

    def __init__(self, entry: Path) -> None:
        self.entry = entry
        self._handle = open(entry.with_name(entry.name + ".lock"), "a+b")  # noqa: SIM115 - held while open
        fcntl.flock(self._handle, fcntl.LOCK_SH)
        atexit.register(self.release)

    def release(self) -> None:
        if self._handle is None:
            return
        handle, self._handle = self._handle, None
        atexit.unregister(self.release)
        fcntl.flock(handle, fcntl.LOCK_UN)
        _remove_if_unused(self.entry, handle)
        handle.close()


def _remove_if_unused(entry: Path, handle) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # another process (or bundle) still uses it
    shutil.rmtree(entry, ignore_errors=True)
    Path(handle.name).unlink(missing_ok=True)
    fcntl.flock(handle, fcntl.LOCK_UN)
    return True


def _remove_stale(root: Path) -> None:
    """Extractions nobody holds that are older than ``STALE_S`` (left by a process that was killed)."""
    now = time.time()
    for staging in root.glob(".*"):  # an extraction a killed process never finished
        try:
            if staging.is_dir() and now - staging.stat().st_mtime >= STALE_S:
                shutil.rmtree(staging, ignore_errors=True)
        except OSError:
            continue
    for lock in root.glob("*.lock"):
        entry = lock.with_suffix("")
        try:
            if now - lock.stat().st_mtime < STALE_S:
                continue
            with open(lock, "a+b") as handle:
                _remove_if_unused(entry, handle)
        except OSError:
            continue


def _check_members(path: Path, archive: zipfile.ZipFile) -> None:
    for info in archive.infolist():
        name = info.filename
        if name.startswith("/") or ".." in Path(name).parts:
            raise BundleError(f"{path}: unsafe member path {name!r} in zip")
        kind = _UNSAFE_TYPES.get(stat.S_IFMT(info.external_attr >> 16))
        if kind is not None:
            raise BundleError(f"{path}: member {name!r} is {kind}; a bundle holds plain files only")


def _unzip(path: Path) -> tuple[Path, _Lease]:
    """The zip's extraction in the cache, made once per content (sha256) and shared by every open."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale(root)
    entry = root / sha256_file(path)[:32]
    try:
        with zipfile.ZipFile(path) as archive:
            _check_members(path, archive)
            lease = _Lease(entry)
            if not entry.exists():  # an extraction appears whole (renamed into place) or not at all
                staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=root))
                archive.extractall(staging)
                try:
                    staging.rename(entry)
                except OSError:  # another process finished the same extraction first
                    shutil.rmtree(staging, ignore_errors=True)
    except zipfile.BadZipFile as exc:
        raise BundleError(f"{path}: not a valid zip file ({exc})") from exc
    entries = list(entry.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not (entry / MANIFEST_NAME).exists():
        return entries[0], lease
    return entry, lease


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
    """Raise BundleError naming the first missing, changed or unlisted file (or a path leaving the bundle)."""
    for relative in [*manifest.files, *(spec.file for spec in manifest.runtimes)]:
        inside(root, relative)
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
    root, lease = _unzip(path) if path.is_file() else (path, None)
    try:
        manifest = read_manifest(root)
        check_hashes(root, manifest)
        for runtime in manifest.runtimes:
            if runtime.file not in manifest.files:
                raise BundleError(f"{root / runtime.file}: runtime {runtime.name} file is not hashed in the manifest")
    except BaseException:
        if lease is not None:
            lease.release()
        raise
    return Bundle(root=root, manifest=manifest, lease=lease)


def zip_bundle(folder: Path, target: Path) -> Path:
    """Pack a bundle folder into a zip (files stored under the folder's name)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, Path(folder.name) / path.relative_to(folder))
    return target
