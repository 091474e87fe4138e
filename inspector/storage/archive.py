"""Content-addressed artifacts on disk (PNG images, anomaly maps, thumbnails; heatmap overlays of older records)."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import cv2
import numpy as np

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Sensor noise defeats deflate's string matching: Huffman coding alone writes camera frames and heatmap overlays
# about 5% smaller than OpenCV's default (level 3) in half its time (benchmarks/station_throughput.py).
PNG_COMPRESSION = 1
JPEG_QUALITY = 90  # thumbnails: a 128 px JPEG encodes in 0.05 ms against 0.86 ms as PNG, at a sixth of the size
PNG_STRATEGY = cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY


@dataclass(frozen=True)
class StoredArtifact:
    """An artifact written under an :class:`ArtifactStore` root; ``relpath`` is relative to that root."""

    sha256: str
    relpath: str
    bytes: int
    width: int | None
    height: int | None
    kind: str = "image"
    media_type: str = "image/png"

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoredArtifact:
        return cls(**data)


def fsync_dir(folder: Path) -> None:
    """Make a rename or unlink in ``folder`` durable (no-op where directories can't be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder, fsync, rename, fsync the folder
    (``durable=False`` leaves both fsyncs to the caller: see :meth:`ArtifactStore.batch`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def _syncfs() -> Callable[[int], int] | None:
    """Linux's syncfs(2): one call makes every file written on a file system durable (None elsewhere)."""
    try:
        return ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None


SYNCFS = _syncfs()


def sync_files(root: Path, paths: list[Path]) -> None:
    """Make files written without fsync durable, with their folder entries: one syncfs of the file system under
    ``root`` where the platform has it, else an fsync of each file and folder. Raises ``OSError``."""
    if not paths:
        return
    if SYNCFS is not None:
        fd = os.open(root, os.O_RDONLY)
        try:
            if SYNCFS(fd) != 0:
                code = ctypes.get_errno()
                raise OSError(code, f"syncfs of {root}: {os.strerror(code)}")
        finally:
            os.close(fd)
        return
    for path in paths:
        with path.open("rb") as handle:
            os.fsync(handle.fileno())
    for folder in {path.parent for path in paths}:
        fsync_dir(folder)


def encode_png(image: np.ndarray, compression: int = PNG_COMPRESSION) -> bytes:
    """PNG bytes of an HxW gray or HxWx3 RGB uint8 image (or an HxW uint16 gray one)."""
    array = np.ascontiguousarray(image)
    if array.dtype != np.uint8 and not (array.dtype == np.uint16 and array.ndim == 2):
        raise ValueError(f"expected a uint8 image or a 16-bit gray one, got {array.dtype} {array.shape}")
    if array.ndim == 3 and array.shape[2] == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    elif array.ndim != 2:
        raise ValueError(f"expected HxW or HxWx3, got shape {array.shape}")
    ok, buffer = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, compression,
                                               cv2.IMWRITE_PNG_STRATEGY, PNG_STRATEGY])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buffer.tobytes()


def encode_jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """JPEG bytes of an HxW gray or HxWx3 RGB uint8 image."""
    array = np.ascontiguousarray(image)
    if array.dtype != np.uint8 or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ValueError(f"expected an HxW or HxWx3 uint8 image, got {array.dtype} {array.shape}")
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".jpg", array, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buffer.tobytes()


ANOMALY_MAP_KIND = "anomaly_map"
ANOMALY_MAP_KEY = "inspector-anomaly-map"  # the PNG tEXt keyword holding the map's scale (JSON)
ANOMALY_MAP_LEVELS = 4096  # grey levels per 1.0 of the colour scale (the pixel threshold): 16-bit covers 0..16x
ANOMALY_MAP_MAX_SIDE = 256  # a map is stored at most this many pixels on its longer side


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_text(data: bytes) -> dict[str, str]:
    """The tEXt chunks of PNG ``data`` as {keyword: text}."""
    found, offset = {}, 8
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + length]
        if kind == b"tEXt" and b"\0" in body:
            key, _, text = body.partition(b"\0")
            found[key.decode("latin-1")] = text.decode("latin-1")
        if kind == b"IEND":
            break
        offset += 12 + length
    return found


@dataclass(frozen=True)
class AnomalyMapScale:
    """How to read a stored anomaly map back: grey level / ``levels`` is the value relative to ``colour_scale``.

    ``colour_scale`` is what the renderer counted as 1.0 (the model's pixel threshold, ``scale_from``
    "pixel_threshold"; or half the map's maximum when the model had none, "half_max"), so the raw map is
    ``level / levels * colour_scale``. Values above 65535 / ``levels`` (16x) were stored as that.
    """

    levels: float
    colour_scale: float
    scale_from: str = "pixel_threshold"


def encode_anomaly_map(relative: np.ndarray, colour_scale: float, scale_from: str = "pixel_threshold",
                       max_side: int = ANOMALY_MAP_MAX_SIDE) -> bytes:
    """A compact 16-bit gray PNG of an anomaly map given relative to its colour scale (1.0 = the pixel threshold),
    shrunk to at most ``max_side``; the scale travels inside the file (a tEXt chunk), so equal files mean equal maps.
    """
    values = np.nan_to_num(np.asarray(relative, np.float32), nan=0.0, posinf=65535 / ANOMALY_MAP_LEVELS, neginf=0.0)
    if values.ndim == 3:
        values = values.squeeze()
    if values.ndim != 2:
        raise ValueError(f"expected an HxW anomaly map, got shape {values.shape}")
    values = thumbnail(values, max_side)
    levels = np.clip(np.rint(values * ANOMALY_MAP_LEVELS), 0, 65535).astype(np.uint16)
    meta = json.dumps({"levels": ANOMALY_MAP_LEVELS, "colour_scale": float(colour_scale), "scale_from": scale_from},
                      sort_keys=True)
    png = encode_png(levels)
    end = png.rindex(b"IEND") - 4
    return png[:end] + _png_chunk(b"tEXt", ANOMALY_MAP_KEY.encode("latin-1") + b"\0" + meta.encode()) + png[end:]


def decode_anomaly_map(data: bytes) -> tuple[np.ndarray, AnomalyMapScale]:
    """A map stored by :func:`encode_anomaly_map`: float32 values relative to its colour scale, and the scale."""
    text = _png_text(data).get(ANOMALY_MAP_KEY)
    if text is None:
        raise ValueError("not an anomaly map: the PNG has no scale")
    meta = json.loads(text)
    levels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if levels is None or levels.dtype != np.uint16 or levels.ndim != 2:
        raise ValueError("not an anomaly map: expected a 16-bit gray PNG")
    scale = AnomalyMapScale(float(meta["levels"]), float(meta["colour_scale"]), str(meta.get("scale_from", "")))
    return levels.astype(np.float32) / np.float32(scale.levels), scale


class ArtifactStore:
    """Files named by their sha256 under ``root/ab/cdef....png``: written once, atomically, deduplicated."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._usage: int | None = None  # bytes under root, counted on first use and kept up to date after
        self._unsynced: list[Path] | None = None  # inside batch(): files written, not yet durable

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Writes inside skip their own two fsyncs; leaving the block makes them all durable at once (one syncfs
        on Linux) or raises ``OSError``. A batch of a few dozen pictures then costs one sync instead of ~100."""
        self._unsynced = []
        try:
            yield
            sync_files(self.root, self._unsynced)
        finally:
            self._unsynced = None

    def usage(self) -> int:
        """Bytes the artifacts take (counted once by walking the folders, then kept up to date by this store)."""
        if self._usage is None:
            total = 0
            for folder in os.scandir(self.root):
                if not folder.is_dir(follow_symlinks=False) or len(folder.name) != 2:
                    continue
                for entry in os.scandir(folder.path):
                    if entry.is_file(follow_symlinks=False) and not entry.name.startswith(".tmp-"):
                        try:
                            total += entry.stat(follow_symlinks=False).st_size
                        except OSError:
                            pass
            self._usage = total
        return self._usage

    def delete(self, key: str | StoredArtifact) -> int:
        """Remove an artifact's file; the bytes freed (0 when it was not there)."""
        try:
            path = self.path(key)
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        if self._usage is not None:
            self._usage = max(0, self._usage - size)
        return size

    def put_anomaly_map(self, relative: np.ndarray, colour_scale: float, scale_from: str = "pixel_threshold",
                        max_side: int = ANOMALY_MAP_MAX_SIDE) -> StoredArtifact:
        """Store a map relative to its colour scale compactly (see :func:`encode_anomaly_map`)."""
        data = encode_anomaly_map(relative, colour_scale, scale_from, max_side)
        width, height = fitted_size(relative.shape[1], relative.shape[0], max_side)
        return self.put_bytes(data, ANOMALY_MAP_KIND, suffix=".png", media_type="image/png", width=width,
                              height=height)

    def read_anomaly_map(self, key: str | StoredArtifact) -> tuple[np.ndarray, AnomalyMapScale]:
        return decode_anomaly_map(self.read_bytes(key))

    def put_jpeg(self, array: np.ndarray, kind: str = "thumbnail") -> StoredArtifact:
        """A lossy picture for browsing only (thumbnails): never the evidence, which is PNG."""
        data = encode_jpeg(array)
        return self.put_bytes(data, kind, suffix=".jpg", media_type="image/jpeg",
                              width=int(array.shape[1]), height=int(array.shape[0]))

    def put_png(self, array: np.ndarray, kind: str = "image") -> StoredArtifact:
        data = encode_png(array)
        return self.put_bytes(data, kind, suffix=".png", media_type="image/png",
                              width=int(array.shape[1]), height=int(array.shape[0]))

    def put_bytes(self, data: bytes, kind: str, *, suffix: str = ".bin", media_type: str = "application/octet-stream",
                  width: int | None = None, height: int | None = None) -> StoredArtifact:
        sha = hashlib.sha256(data).hexdigest()
        relpath = f"{sha[:2]}/{sha[2:]}{suffix}"
        path = self.root / relpath
        try:
            existing = path.stat().st_size if path.is_file() else None
        except OSError:
            existing = None
        if existing != len(data):
            write_atomic(path, data, durable=self._unsynced is None)
            if self._unsynced is not None:
                self._unsynced.append(path)
            if self._usage is not None:
                self._usage += len(data) - (existing or 0)
        return StoredArtifact(sha, relpath, len(data), width, height, kind, media_type)

    def path(self, key: str | StoredArtifact) -> Path:
        """The file of an artifact given the artifact, its relpath or its sha256."""
        if isinstance(key, StoredArtifact):
            return self.root / key.relpath
        if _SHA256.match(key):
            matches = sorted((self.root / key[:2]).glob(f"{key[2:]}.*"))
            if not matches:
                raise FileNotFoundError(f"no artifact {key} under {self.root}")
            return matches[0]
        candidate = (self.root / key).resolve()
        if not candidate.is_relative_to(self.root.resolve()):
            raise ValueError(f"artifact path {key!r} leaves the store root")
        return candidate

    def read_bytes(self, key: str | StoredArtifact) -> bytes:
        return self.path(key).read_bytes()

    def read_png(self, key: str | StoredArtifact) -> np.ndarray:
        """A stored PNG (or JPEG thumbnail) back as an RGB (or gray) uint8 array."""
        buffer = np.frombuffer(self.read_bytes(key), dtype=np.uint8)
        image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
        if image is None:
            raise ValueError(f"artifact {key} is not a decodable image")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if image.ndim == 3 else image

    def verify(self, artifact: StoredArtifact | str) -> bool:
        """True when the file exists and its sha256 matches the name it is stored under."""
        if isinstance(artifact, StoredArtifact):
            sha, key = artifact.sha256, artifact.relpath
        else:
            key = artifact
            sha = artifact if _SHA256.match(artifact) else artifact.replace("/", "").split(".", 1)[0]
        try:
            path = self.path(key)
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
        except (OSError, ValueError):
            return False
        return digest.hexdigest() == sha


def fitted_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) shrunk so that the longer side is at most ``max_side`` (never enlarged)."""
    scale = max_side / max(height, width)
    if scale >= 1.0:
        return int(width), int(height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def thumbnail(image: np.ndarray, max_side: int = 128) -> np.ndarray:
    """The image shrunk so that its longer side is at most ``max_side`` (never enlarged)."""
    height, width = image.shape[:2]
    size = fitted_size(width, height, max_side)
    if size == (width, height):
        return np.ascontiguousarray(image)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
