"""Content-addressed artifacts on disk (PNG images, heatmap overlays, thumbnails)."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Sensor noise defeats deflate's string matching: Huffman coding alone writes camera frames and heatmap overlays
# about 5% smaller than OpenCV's default (level 3) in half its time (benchmarks/station_throughput.py).
PNG_COMPRESSION = 1
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
        return asdict(self)

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


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder, fsync, rename, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def encode_png(image: np.ndarray, compression: int = PNG_COMPRESSION) -> bytes:
    """PNG bytes of an HxW gray or HxWx3 RGB uint8 image."""
    array = np.ascontiguousarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    elif array.ndim != 2:
        raise ValueError(f"expected HxW or HxWx3, got shape {array.shape}")
    ok, buffer = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, compression,
                                               cv2.IMWRITE_PNG_STRATEGY, PNG_STRATEGY])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buffer.tobytes()


class ArtifactStore:
    """Files named by their sha256 under ``root/ab/cdef....png``: written once, atomically, deduplicated."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def put_png(self, array: np.ndarray, kind: str = "image") -> StoredArtifact:
        data = encode_png(array)
        return self.put_bytes(data, kind, suffix=".png", media_type="image/png",
                              width=int(array.shape[1]), height=int(array.shape[0]))

    def put_bytes(self, data: bytes, kind: str, *, suffix: str = ".bin", media_type: str = "application/octet-stream",
                  width: int | None = None, height: int | None = None) -> StoredArtifact:
        sha = hashlib.sha256(data).hexdigest()
        relpath = f"{sha[:2]}/{sha[2:]}{suffix}"
        path = self.root / relpath
        if not (path.is_file() and path.stat().st_size == len(data)):
            write_atomic(path, data)
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
        """A stored PNG back as an RGB (or gray) uint8 array."""
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


def thumbnail(image: np.ndarray, max_side: int = 128) -> np.ndarray:
    """The image shrunk so that its longer side is at most ``max_side`` (never enlarged)."""
    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1.0:
        return np.ascontiguousarray(image)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
