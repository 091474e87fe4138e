"""GenICam cameras through harvesters; the only module in the project that imports harvesters or genicam."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import genicam
from genicam.gentl import TimeoutException
from harvesters.core import Callback, Harvester, ImageAcquirer

from inspector.camera.devices import DeviceInfo, GenICamSettings, select_device
from inspector.camera.features import apply_features, enable_software_trigger
from inspector.camera.pixels import SUPPORTED_FORMATS, to_rgb8
from inspector.domain.camera import CameraError, CameraStats
from inspector.domain.frame import Frame

log = logging.getLogger(__name__)

ENV_PRODUCER_PATH = "GENICAM_GENTL64_PATH"

__all__ = ["DeviceInfo", "GenICamCamera", "GenICamSettings", "default_producer_paths", "list_devices"]


def bundled_producer() -> str | None:
    """The ``viky.cti`` test producer shipped inside the genicam wheel, if present."""
    path = Path(genicam.__file__).with_name("viky.cti")
    return str(path) if path.is_file() else None


def _expand(entry: str) -> list[str]:
    path = Path(entry).expanduser()
    if path.is_dir():
        return [str(p) for p in sorted(path.glob("*.cti"))]
    return [str(path)] if path.is_file() else []


def default_producer_paths(producer: str | os.PathLike | None = None) -> list[str]:
    """The GenTL producer (.cti) files to load.

    An explicit ``producer`` (a file, a folder or an ``os.pathsep`` list of them) must name at least one
    .cti file; otherwise ``GENICAM_GENTL64_PATH`` is searched, and the bundled viky.cti is the last fallback.
    """
    if producer:
        paths = [p for entry in str(producer).split(os.pathsep) if entry for p in _expand(entry)]
        if not paths:
            raise CameraError(f"no GenTL producer (.cti) found at {producer}")
        return paths
    paths = [p for entry in os.environ.get(ENV_PRODUCER_PATH, "").split(os.pathsep) if entry for p in _expand(entry)]
    if not paths and (bundled := bundled_producer()):
        paths = [bundled]
    return list(dict.fromkeys(paths))


# One Harvester per producer set per process: a GenTL producer opened by a second Harvester shows no devices.
_pool_lock = threading.RLock()
_pool: dict[tuple[str, ...], list] = {}  # producers -> [Harvester, users]


def _acquire_harvester(producers: tuple[str, ...]) -> Harvester:
    with _pool_lock:
        entry = _pool.get(producers)
        if entry is None:
            harvester = Harvester()
            for path in producers:
                harvester.add_file(path)
            harvester.update()
            entry = _pool[producers] = [harvester, 0]
        entry[1] += 1
        return entry[0]


def _release_harvester(producers: tuple[str, ...]) -> None:
    with _pool_lock:
        entry = _pool.get(producers)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del _pool[producers]
            entry[0].reset()


def _refresh_harvester(producers: tuple[str, ...]) -> bool:
    """Re-enumerate devices; only when one camera uses the Harvester, since update() invalidates its acquirers."""
    with _pool_lock:
        entry = _pool.get(producers)
        if entry is None or entry[1] != 1:
            return False
        entry[0].update()
        return True


def _field(info, name: str) -> str:
    try:
        value = getattr(info, name)
    except Exception:  # genicam raises NotAvailableException for unsupported fields
        return ""
    return "" if value is None else str(value)


def _device_info(info) -> DeviceInfo:
    return DeviceInfo(_field(info, "id_"), _field(info, "serial_number"), _field(info, "model"),
                      _field(info, "vendor"), _field(info, "user_defined_name"), _field(info, "display_name"))


def list_devices(producers: list[str] | str | None = None) -> list[DeviceInfo]:
    """The devices the producers offer (``producers=None``: ``default_producer_paths()``)."""
    if isinstance(producers, list | tuple):
        producers = os.pathsep.join(map(str, producers))
    paths = tuple(default_producer_paths(producers))
    harvester = _acquire_harvester(paths)
    try:
        return [_device_info(info) for info in harvester.device_info_list]
    finally:
        _release_harvester(paths)


# --- the camera -----------------------------------------------------------------------------------------------


class _CountIncomplete(Callback):
    """harvesters drops incomplete buffers inside fetch() and tells only through this event."""

    def __init__(self, stats: CameraStats):
        self._stats = stats

    def emit(self, context=None) -> None:
        self._stats.incomplete += 1


class GenICamCamera:
    """A ``Camera`` over one GenICam device (GenTL producer + harvesters).

    When the device goes away ``grab`` returns None and a background thread reopens it with exponential
    back-off (``reconnect_initial_s`` doubling up to ``reconnect_max_s``); ``stats.reconnects`` counts the
    successful reopenings. ``grab`` never blocks much longer than its timeout.
    """

    def __init__(self, settings: GenICamSettings | None = None, name: str | None = None):
        self.settings = settings or GenICamSettings()
        self.producers = tuple(default_producer_paths(self.settings.producer))
        s = self.settings
        self._named = name is not None
        self.name = name or s.user_name or s.serial or s.device_id or s.model or "genicam"
        self.device: DeviceInfo | None = None
        self._stats = CameraStats()
        self._harvester: Harvester | None = None
        self._ia: ImageAcquirer | None = None
        self._trigger = False
        self._acquiring = False
        self._next_id = 1
        self._last_device_frame: int | None = None
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._reconnected = threading.Event()
        self._reconnector: threading.Thread | None = None

    @property
    def stats(self) -> CameraStats:
        return self._stats

    @property
    def _label(self) -> str:
        return self.device.label if self.device else self.name

    @property
    def acquirer(self) -> ImageAcquirer | None:
        """The harvesters image acquirer in use (diagnostics; tests destroy it to simulate a lost device)."""
        return self._ia

    def _warn(self, message: str) -> None:
        if message not in self._stats.warnings:  # reopening after a loss repeats the same warnings
            self._stats.warnings.append(message)
            log.warning("camera %s: %s", self.name, message)

    def _open(self) -> ImageAcquirer:
        """Find the device, open it and configure it; the Harvester is taken from the pool on first use."""
        if self._harvester is None:
            self._harvester = _acquire_harvester(self.producers)
        devices = [_device_info(info) for info in self._harvester.device_info_list]
        try:
            index = select_device(devices, self.settings, list(self.producers))
        except CameraError:
            if not _refresh_harvester(self.producers):
                raise
            devices = [_device_info(info) for info in self._harvester.device_info_list]
            index = select_device(devices, self.settings, list(self.producers))
        self.device = devices[index]
        if not self._named and self.name == "genicam":
            self.name = self.device.id or self.name
        label = self.device.label
        try:
            ia = self._harvester.create(index)
        except Exception as e:
            raise CameraError(f"cannot open {label}: {e}") from e
        try:
            node_map = ia.remote_device.node_map
            for warning in apply_features(node_map, self.settings.features, label):
                self._warn(warning)
            self._trigger = False
            if self.settings.software_trigger:
                warning = enable_software_trigger(node_map, label)
                self._trigger = warning is None
                if warning:
                    self._warn(warning)
            ia.num_buffers = max(int(self.settings.num_buffers), ia.min_num_buffers)
            ia.add_callback(ImageAcquirer.Events.INCOMPLETE_BUFFER, _CountIncomplete(self._stats))
        except BaseException:
            ia.destroy()
            raise
        return ia

    def start(self) -> None:
        """Open (first time, or after ``close``) and start acquisition."""
        if self._acquiring and self._stats.connected:
            return
        self._stop_reconnecting()
        if self._ia is not None and not self._ia.is_valid():
            self._ia = None
        if self._ia is None:
            try:
                self._ia = self._open()
            except BaseException:
                self._release()
                raise
        try:
            self._ia.start()
        except Exception as e:
            raise CameraError(f"cannot start acquisition on {self._label}: {e}") from e
        self._last_device_frame = None
        self._acquiring = True
        self._stats.connected = True
        self._stats.closed = False
        log.info("camera %s: acquiring from %s", self.name, self._label)

    def stop(self) -> None:
        """Stop acquisition; ``start`` resumes it."""
        self._stop_reconnecting()
        self._acquiring = False
        if self._ia is not None and self._ia.is_valid():
            self._ia.stop()

    def close(self) -> None:
        """Destroy the image acquirer and give the Harvester back (reset when no camera uses it)."""
        self.stop()
        if self._ia is not None:
            self._ia.destroy()
            self._ia = None
        self._stats.connected = False
        self._stats.closed = True
        self._release()

    def _release(self) -> None:
        if self._harvester is not None:
            self._harvester = None
            _release_harvester(self.producers)

    def grab(self, timeout: float | None = None) -> Frame | None:
        """One frame copied out of the driver buffer, or None on timeout, incomplete buffer or lost device."""
        if not self._acquiring:
            raise CameraError(f"camera {self.name} is not started")
        timeout = self.settings.fetch_timeout_s if timeout is None else max(float(timeout), 0.001)
        with self._lock:
            ia = self._ia if self._stats.connected else None
        if ia is None:  # disconnected: wait (at most the timeout) for the reconnect thread
            self._reconnected.wait(timeout)
            return None
        if not ia.is_valid():
            self._lost(ia, "the image acquirer was destroyed")
            return None
        try:
            if self._trigger:
                ia.remote_device.node_map.TriggerSoftware.execute()
            with ia.fetch(timeout=timeout) as buffer:
                return self._frame(buffer)
        except TimeoutException:
            self._stats.timeouts += 1
            return None
        except CameraError:
            raise
        except Exception as e:  # anything else from the driver: treat the device as gone
            self._lost(ia, f"{type(e).__name__}: {e}")
            return None

    def _frame(self, buffer) -> Frame | None:
        """Convert (a copy) inside the ``with`` block, before the buffer goes back to the driver."""
        components = buffer.payload.components if buffer.payload is not None else []
        if not components:
            self._stats.incomplete += 1
            return None
        c = components[0]
        if c.data_format not in SUPPORTED_FORMATS:
            raise CameraError(f"camera {self.name}: pixel format {c.data_format!r} is not supported")
        try:
            image = to_rgb8(c.data, c.width, c.height, c.data_format)
        except ValueError:  # fewer bytes than width x height needs
            self._stats.incomplete += 1
            return None
        now, wall = time.monotonic(), time.time()
        device_frame = _optional(lambda: int(buffer.module.frame_id))
        if device_frame is not None and self._last_device_frame is not None:
            self._stats.dropped += max(device_frame - self._last_device_frame - 1, 0)
        self._last_device_frame = device_frame
        # harvesters gives the device timestamp in ns where the producer can, else in its ticks; 0 = none.
        meta = {"pixel_format": c.data_format, "device_timestamp": _optional(lambda: int(buffer.timestamp)) or None,
                "device_frame_id": device_frame, "device": self._label}
        frame = Frame(self._next_id, self.name, wall, now, image, meta=meta)
        self._next_id += 1
        self._stats.grabbed += 1
        return frame

    # --- loss and reconnection -----------------------------------------------------------------------------

    def _lost(self, ia: ImageAcquirer, reason: str) -> None:
        with self._lock:
            if not self._stats.connected or ia is not self._ia:
                return
            self._stats.connected = False
            self._stats.last_error = f"lost {self._label}: {reason}"
            self._reconnected.clear()
            self._cancel.clear()
            self._reconnector = threading.Thread(target=self._reconnect, name=f"reconnect-{self.name}", daemon=True)
            self._reconnector.start()
        log.warning("camera %s: %s; reconnecting", self.name, self._stats.last_error)

    def _reconnect(self) -> None:
        delay = max(self.settings.reconnect_initial_s, 0.0)
        attempt = 0
        while not self._cancel.wait(delay):
            attempt += 1
            old, self._ia = self._ia, None
            _quietly(old.destroy if old is not None else None)
            try:
                ia = self._open()
                ia.start()
            except Exception as e:
                self._stats.last_error = f"reconnect attempt {attempt} failed: {e}"
                delay = min(max(delay * 2, 0.01), self.settings.reconnect_max_s)
                log.warning("camera %s: %s; next in %.1f s", self.name, self._stats.last_error, delay)
                continue
            with self._lock:
                if self._cancel.is_set():
                    _quietly(ia.destroy)
                    return
                self._ia, self._last_device_frame = ia, None
                self._stats.connected = True
                self._stats.reconnects += 1
                self._reconnected.set()
            log.info("camera %s: reconnected after %d attempt(s)", self.name, attempt)
            return

    def _stop_reconnecting(self) -> None:
        self._cancel.set()
        thread, self._reconnector = self._reconnector, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=max(self.settings.reconnect_max_s, 5.0))


def _optional(read):
    try:
        return read()
    except Exception:
        return None


def _quietly(call) -> None:
    if call is not None:
        try:
            call()
        except Exception as e:
            log.debug("ignored while cleaning up: %s", e)
