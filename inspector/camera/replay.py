"""Replay camera: frames from a folder of images or a video file, paced at a chosen frame rate."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np

from inspector.domain.camera import CameraError, CameraStats
from inspector.domain.frame import Frame

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})


class ReplayCamera:
    """A ``Camera`` that plays back a folder of images (sorted by name) or a video readable by cv2.

    ``fps=None`` emits frames as fast as ``grab`` is called; otherwise one frame every ``1/fps`` s, and
    ``grab`` returns None (counted in ``stats.timeouts``) when the next frame is not due within its timeout.
    With ``loop=False`` the camera returns None once every frame was played (see ``exhausted``).
    """

    def __init__(self, path: str | Path, fps: float | None = None, loop: bool = True, name: str | None = None):
        self.path = Path(path)
        if fps is not None and fps <= 0:
            raise ValueError(f"fps must be positive or None, got {fps}")
        self.fps = fps
        self.loop = loop
        self.name = name or self.path.name or str(self.path)
        self._stats = CameraStats()
        self._files: list[Path] = []
        self._capture: cv2.VideoCapture | None = None
        self._index = 0  # next file (folder) or frame number (video)
        self._next_id = 1
        self._due = 0.0  # monotonic time the next frame is due
        self._started = False
        self.exhausted = False
        if not self.path.exists():
            raise CameraError(f"replay source {self.path} does not exist")
        if self.path.is_dir():
            self._files = sorted(p for p in self.path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not self._files:
                raise CameraError(f"replay folder {self.path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        else:
            self._open_video().release()

    @property
    def stats(self) -> CameraStats:
        return self._stats

    @property
    def is_video(self) -> bool:
        return not self._files

    def _open_video(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise CameraError(f"cannot read video {self.path}")
        ok, _ = capture.read()
        if not ok:
            capture.release()
            raise CameraError(f"cannot read a frame from video {self.path}")
        capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
        return capture

    def start(self) -> None:
        """Open the source and start again from its first frame; a folder none of whose images can be read
        is a ``CameraError`` here, at once, not a run that waits forever."""
        self.stop()
        if self.is_video:
            self._capture = self._open_video()
        else:
            self._first_readable()
        self._index = 0
        self._due = time.monotonic()
        self.exhausted = False
        self._started = True
        self._stats.connected = True
        self._stats.closed = False

    def stop(self) -> None:
        """Stop playback; ``start`` begins again from the first frame."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None
        self._started = False
        self._stats.connected = False

    def close(self) -> None:
        self.stop()
        self._stats.closed = True

    def grab(self, timeout: float) -> Frame | None:
        """The next frame, or None when it is not due within ``timeout`` s or playback ended (``loop=False``)."""
        if not self._started:
            raise CameraError(f"replay camera {self.name} is not started")
        timeout = max(float(timeout), 0.0)
        if self.exhausted:
            time.sleep(timeout)
            return None
        if self.fps is not None:
            wait = self._due - time.monotonic()
            if wait > timeout:
                time.sleep(timeout)
                self._stats.timeouts += 1
                return None
            if wait > 0:
                time.sleep(wait)
        image, meta = self._read_next()
        if image is None:
            self.exhausted = True
            return None
        now = time.monotonic()
        if self.fps is not None:
            # Keep the cadence but never build up a backlog after a slow consumer.
            self._due = max(self._due + 1.0 / self.fps, now - 1.0 / self.fps)
        frame = Frame(self._next_id, self.name, time.time(), now, image, meta=meta)
        self._next_id += 1
        self._stats.grabbed += 1
        return frame

    def _first_readable(self) -> None:
        for path in self._files:
            if cv2.imread(str(path), cv2.IMREAD_COLOR) is not None:
                return
        raise CameraError(f"replay folder {self.path}: none of its {len(self._files)} images can be read "
                          f"(first: {self._files[0].name})")

    def _read_next(self) -> tuple[np.ndarray | None, dict[str, object]]:
        return self._read_video() if self.is_video else self._read_file()

    def _read_file(self) -> tuple[np.ndarray | None, dict[str, object]]:
        for _ in range(len(self._files)):
            if self._index >= len(self._files):
                if not self.loop:
                    return None, {}
                self._index = 0
            path = self._files[self._index]
            self._index += 1
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                self._stats.dropped += 1
                self._stats.last_error = f"cannot read image {path}"
                log.warning("replay %s: cannot read image %s; skipped", self.name, path)
                continue
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), {"source": str(path), "index": self._index - 1}
        raise CameraError(f"replay folder {self.path}: none of its {len(self._files)} images can be read")

    def _read_video(self) -> tuple[np.ndarray | None, dict[str, object]]:
        assert self._capture is not None
        ok, bgr = self._capture.read()
        if not ok and self.loop and self._index > 0:
            self._capture.release()
            self._capture = self._open_video()
            self._index = 0
            ok, bgr = self._capture.read()
        if not ok:
            return None, {}
        self._index += 1
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), {"source": str(self.path), "index": self._index - 1}
