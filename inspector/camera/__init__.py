"""Camera adapters behind ``inspector.domain.camera.Camera``: GenICam (harvesters) and replay.

``inspector.camera.genicam`` is imported lazily: settings, replay and ``to_rgb8`` need no harvesters.
"""

from __future__ import annotations

from importlib import import_module

from inspector.camera.devices import DeviceInfo, GenICamSettings
from inspector.camera.pixels import SUPPORTED_FORMATS, to_rgb8
from inspector.camera.replay import ReplayCamera

_GENICAM_NAMES = ("GenICamCamera", "default_producer_paths", "list_devices")

__all__ = ["SUPPORTED_FORMATS", "DeviceInfo", "GenICamSettings", "ReplayCamera", "to_rgb8", *_GENICAM_NAMES]


def __getattr__(name: str):
    if name in _GENICAM_NAMES:
        return getattr(import_module("inspector.camera.genicam"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
