"""GenICamCamera against the real GenTL producer viky.cti shipped in the genicam wheel (3 devices, 400x400 RGBa8)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("harvesters")
from inspector.camera import genicam as gc  # noqa: E402
from inspector.domain.camera import Camera, CameraError  # noqa: E402
from tests.conftest import skip_without  # noqa: E402

VIKY = gc.bundled_producer()


@pytest.fixture(autouse=True)
def _viky() -> None:
    if VIKY is None:
        skip_without("the genicam wheel ships no viky.cti")


IDS = {"0": "VikyTL_DEV_red", "1": "VikyTL_DEV_green", "2": "VikyTL_DEV_blue"}


@pytest.fixture
def open_camera() -> Iterator[Callable[..., gc.GenICamCamera]]:
    """Start a viky camera from settings keywords; every camera is closed at the end of the test."""
    cameras: list[gc.GenICamCamera] = []

    def make(start: bool = True, **settings) -> gc.GenICamCamera:
        settings.setdefault("reconnect_initial_s", 0.05)
        camera = gc.GenICamCamera(gc.GenICamSettings(producer=VIKY, **settings))
        cameras.append(camera)
        if start:
            camera.start()
        return camera

    yield make
    for camera in cameras:
        camera.close()
    assert gc._pool == {}, "every Harvester is reset once its cameras are closed"


def grab(camera: gc.GenICamCamera, timeout: float = 2.0):
    frame = camera.grab(timeout)
    assert frame is not None, camera.stats
    return frame


def test_lists_all_three_devices() -> None:
    devices = gc.list_devices([VIKY])
    assert [(d.id, d.serial, d.model) for d in devices] == [(i, s, "Viky") for s, i in IDS.items()]
    assert all(d.vendor and d.display_name for d in devices)


def test_producer_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(gc.ENV_PRODUCER_PATH, raising=False)
    assert gc.default_producer_paths() == [VIKY]  # the bundled fallback
    assert gc.default_producer_paths(VIKY) == [VIKY]
    (tmp_path / "b.cti").write_bytes(b"")
    (tmp_path / "a.cti").write_bytes(b"")
    monkeypatch.setenv(gc.ENV_PRODUCER_PATH, f"{tmp_path}:{VIKY}")
    assert gc.default_producer_paths() == [str(tmp_path / "a.cti"), str(tmp_path / "b.cti"), VIKY]
    with pytest.raises(CameraError, match="nowhere"):
        gc.default_producer_paths(str(tmp_path / "nowhere"))


@pytest.mark.parametrize("serial", sorted(IDS))
def test_choose_device_by_serial_and_by_id(open_camera, serial: str) -> None:
    by_serial = open_camera(serial=serial)
    assert isinstance(by_serial, Camera)
    frame = grab(by_serial)
    assert by_serial.device.id == IDS[serial]
    assert frame.image.shape == (400, 400, 3) and frame.image.dtype == np.uint8
    assert frame.meta["pixel_format"] == "RGBa8" and frame.camera == serial
    by_serial.close()
    by_id = open_camera(device_id=IDS[serial])
    grab(by_id)
    assert by_id.device.serial == serial


def test_several_cameras_share_one_producer(open_camera) -> None:
    cameras = [open_camera(serial=s) for s in sorted(IDS)]
    assert [grab(c).meta["device"] for c in cameras] == [c.device.label for c in cameras]


@pytest.mark.parametrize("fps", [10.0, 40.0])
def test_frame_rate_follows_acquisition_frame_rate(open_camera, fps: float) -> None:
    camera = open_camera(features={"AcquisitionFrameRate": fps})
    grab(camera)
    stamps = [grab(camera).monotonic for _ in range(int(fps * 0.5) + 1)]
    measured = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert measured == pytest.approx(fps, rel=0.25)


def test_width_height_and_mono8(open_camera) -> None:
    camera = open_camera(features={"Height": 240, "PixelFormat": "Mono8", "Width": 320})
    frame = grab(camera)
    assert frame.image.shape == (240, 320, 3) and frame.meta["pixel_format"] == "Mono8"
    image = frame.image.astype(int)
    assert np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 1], image[..., 2])


def test_missing_feature_is_a_warning_not_an_error(open_camera, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="inspector.camera.genicam"):
        camera = open_camera(serial="1", features={"ExposureTime": 5000.0, "AcquisitionFrameRate": 30})
    [warning] = camera.stats.warnings
    assert "ExposureTime" in warning and "VikyTL_DEV_green" in warning
    assert any("ExposureTime" in r.getMessage() and "VikyTL_DEV_green" in r.getMessage() for r in caplog.records)
    assert camera.acquirer.remote_device.node_map.AcquisitionFrameRate.value == 30.0
    grab(camera)


@pytest.mark.parametrize(
    ("features", "expected"),
    [({"Width": 5000}, ("Width", "5000", "100..800")), ({"PixelFormat": "BayerRG8"}, ("PixelFormat", "RGBa8, Mono8"))],
)
def test_rejected_value_is_an_error_and_releases_the_device(open_camera, features, expected) -> None:
    with pytest.raises(CameraError) as info:
        open_camera(serial="0", features=features)
    assert all(text in str(info.value) for text in expected), info.value
    grab(open_camera(serial="0"))  # the failed start left the device free


def test_stop_and_start_again(open_camera) -> None:
    camera = open_camera()
    first = grab(camera)
    camera.stop()
    with pytest.raises(CameraError, match="not started"):
        camera.grab(0.1)
    camera.start()
    assert grab(camera).id == first.id + 1
    assert camera.stats.connected


def test_close_destroys_and_the_device_reopens(open_camera) -> None:
    camera = open_camera(serial="2")
    grab(camera)
    camera.close()
    assert camera.acquirer is None and not camera.stats.connected
    grab(open_camera(serial="2"))  # another camera gets the released device
    camera.close()  # closing twice is harmless


def test_reopen_the_same_camera_after_close(open_camera) -> None:
    camera = open_camera(serial="2")
    grab(camera)
    camera.close()
    camera.start()
    assert grab(camera).meta["device_frame_id"] == 1


def test_lost_device_reconnects_without_blocking(open_camera) -> None:
    camera = open_camera(serial="1", features={"AcquisitionFrameRate": 50})
    grab(camera)
    camera.acquirer.destroy()  # the device goes away underneath the adapter
    started = time.monotonic()
    assert camera.grab(0.1) is None
    assert not camera.stats.connected and "VikyTL_DEV_green" in camera.stats.last_error
    frame, slowest = None, 0.0
    while frame is None and time.monotonic() - started < 5.0:
        t0 = time.monotonic()
        frame = camera.grab(0.1)
        slowest = max(slowest, time.monotonic() - t0)
    assert frame is not None, camera.stats
    assert camera.stats.connected and camera.stats.reconnects == 1
    assert slowest < 0.5  # grab never blocked much longer than its timeout
    assert frame.image.shape == (400, 400, 3)


def test_missing_device_lists_the_devices_seen(open_camera) -> None:
    with pytest.raises(CameraError) as info:
        open_camera(serial="9")
    message = str(info.value)
    assert "serial='9'" in message and all(device_id in message for device_id in IDS.values())


def test_frames_are_copies_of_the_driver_buffers(open_camera) -> None:
    camera = open_camera(num_buffers=3, features={"AcquisitionFrameRate": 100})
    first = grab(camera)
    kept = first.image.copy()
    # A real picture (viky draws a coloured ball on white): a view of the driver buffer would already be
    # blank here, since viky clears a buffer when it goes back to the queue.
    assert kept.min() == 0 and kept.max() == 255
    later = [grab(camera) for _ in range(8)]  # every driver buffer is refilled more than once
    assert np.array_equal(first.image, kept)
    assert not np.array_equal(later[-1].image, kept), "viky's ball should move between frames"
    assert len({f.id for f in [first, *later]}) == 9


def test_timeout_returns_none_and_counts(open_camera) -> None:
    camera = open_camera(features={"AcquisitionFrameRate": 2})
    grab(camera)
    started = time.monotonic()
    assert camera.grab(0.05) is None
    assert time.monotonic() - started < 0.4
    assert camera.stats.timeouts == 1


def test_frames_the_consumer_missed_count_as_dropped(open_camera) -> None:
    camera = open_camera(num_buffers=3, features={"AcquisitionFrameRate": 100})
    grab(camera)
    time.sleep(0.3)  # ~30 frames arrive, 3 buffers hold them
    for _ in range(6):
        grab(camera)
    assert camera.stats.dropped > 5


def test_software_trigger_falls_back_to_free_run_with_a_warning(open_camera) -> None:
    camera = open_camera(software_trigger=True)
    assert any("software trigger" in w and "TriggerMode" in w for w in camera.stats.warnings)
    grab(camera)
