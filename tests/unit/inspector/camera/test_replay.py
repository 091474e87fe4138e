"""Replay camera: folders of images, MJPG video, pacing and errors."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.camera.replay import ReplayCamera
from inspector.domain.camera import Camera, CameraError

SIZE = (24, 32)  # H, W


def solid(value: int) -> np.ndarray:
    """An RGB image whose red channel is ``value`` (green and blue fixed), so the order is visible."""
    image = np.zeros((*SIZE, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = value, 10, 240
    return image


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for i, suffix in enumerate([".png", ".bmp", ".tif"]):
        cv2.imwrite(str(tmp_path / f"img_{i}{suffix}"), cv2.cvtColor(solid(50 * (i + 1)), cv2.COLOR_RGB2BGR))
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (SIZE[1], SIZE[0]))
    assert writer.isOpened()
    for i in range(4):
        writer.write(cv2.cvtColor(solid(40 + 50 * i), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def reds(camera: ReplayCamera, n: int) -> list[int]:
    frames = [camera.grab(1.0) for _ in range(n)]
    return [int(np.median(f.image[..., 0])) for f in frames]


def test_folder_plays_in_sorted_order_and_loops(folder: Path) -> None:
    camera = ReplayCamera(folder, name="replay")
    assert isinstance(camera, Camera)
    camera.start()
    frame = camera.grab(1.0)
    assert frame.image.shape == (*SIZE, 3) and frame.image.dtype == np.uint8
    assert tuple(frame.image[0, 0]) == (50, 10, 240)  # RGB, not BGR
    assert frame.camera == "replay" and frame.meta["source"].endswith("img_0.png")
    assert reds(camera, 5) == [100, 150, 50, 100, 150]
    assert camera.stats.grabbed == 6 and camera.stats.connected
    camera.close()
    assert not camera.stats.connected


def test_folder_without_loop_ends(folder: Path) -> None:
    camera = ReplayCamera(folder, loop=False)
    camera.start()
    assert reds(camera, 3) == [50, 100, 150]
    assert camera.grab(0.01) is None and camera.exhausted
    camera.start()  # a restart plays from the first image again
    assert reds(camera, 1) == [50]


def test_frame_ids_run_on(folder: Path) -> None:
    camera = ReplayCamera(folder)
    camera.start()
    assert [camera.grab(1.0).id for _ in range(4)] == [1, 2, 3, 4]


def test_video_plays_and_loops(video: Path) -> None:
    camera = ReplayCamera(video)
    camera.start()
    values = reds(camera, 6)
    expected = [40, 90, 140, 190, 40, 90]
    assert all(abs(v - e) <= 6 for v, e in zip(values, expected, strict=True)), values  # MJPG is lossy
    camera.close()


def test_video_without_loop_ends(video: Path) -> None:
    camera = ReplayCamera(video, loop=False)
    camera.start()
    assert all(camera.grab(1.0) is not None for _ in range(4))
    assert camera.grab(0.01) is None and camera.exhausted


def test_fps_paces_frames_and_honours_the_timeout(folder: Path) -> None:
    camera = ReplayCamera(folder, fps=20.0)
    camera.start()
    camera.grab(1.0)
    start = time.monotonic()
    for _ in range(4):
        assert camera.grab(1.0) is not None
    elapsed = time.monotonic() - start
    assert 0.15 <= elapsed <= 0.4, elapsed  # 4 frames at 20 fps = 0.2 s
    # The next frame is due in 50 ms: a 5 ms grab gives up on time and counts a timeout.
    start = time.monotonic()
    assert camera.grab(0.005) is None
    assert time.monotonic() - start < 0.1
    assert camera.stats.timeouts == 1


def test_no_fps_is_as_fast_as_asked(folder: Path) -> None:
    camera = ReplayCamera(folder)
    camera.start()
    start = time.monotonic()
    for _ in range(30):
        camera.grab(0.0)
    assert time.monotonic() - start < 0.5


def test_unreadable_image_is_skipped_and_counted(folder: Path) -> None:
    (folder / "img_1.bmp").write_bytes(b"this is no bitmap")
    camera = ReplayCamera(folder)
    camera.start()
    assert reds(camera, 3) == [50, 150, 50]
    assert camera.stats.dropped == 1
    assert "img_1.bmp" in camera.stats.last_error


def test_folder_of_only_unreadable_images_is_an_error_at_start(tmp_path: Path) -> None:
    """Before, start() succeeded and every grab raised: the station retried forever (a hang)."""
    (tmp_path / "a.png").write_bytes(b"broken")
    (tmp_path / "b.png").write_bytes(b"broken too")
    camera = ReplayCamera(tmp_path)
    with pytest.raises(CameraError, match=f"{tmp_path}: none of its 2 images can be read"):
        camera.start()


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(CameraError, match="nowhere"):
        ReplayCamera(missing)


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(CameraError, match=str(tmp_path)):
        ReplayCamera(tmp_path)


def test_unreadable_video_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.avi"
    path.write_bytes(b"garbage" * 100)
    with pytest.raises(CameraError, match="broken.avi"):
        ReplayCamera(path)


def test_grab_before_start_is_an_error(folder: Path) -> None:
    with pytest.raises(CameraError, match="not started"):
        ReplayCamera(folder).grab(0.1)
