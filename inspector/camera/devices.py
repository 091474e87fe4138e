"""What a GenICam device is and how one is chosen; plain data, so configs can build settings without harvesters."""

from __future__ import annotations

from dataclasses import dataclass, field

from inspector.domain.camera import CameraError


@dataclass(frozen=True)
class DeviceInfo:
    """What a GenTL producer tells about one device before it is opened."""

    id: str
    serial: str
    model: str
    vendor: str
    user_name: str
    display_name: str

    @property
    def label(self) -> str:
        return f"{self.vendor} {self.model} {self.id} (serial {self.serial})".strip()


@dataclass
class GenICamSettings:
    """How to find, configure and watch one GenICam device; unset selectors pick the first device."""

    producer: str | None = None
    serial: str | None = None
    model: str | None = None
    user_name: str | None = None
    device_id: str | None = None
    num_buffers: int = 8
    fetch_timeout_s: float = 1.0  # used when grab() is given no timeout
    features: dict[str, object] = field(default_factory=dict)
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 10.0
    software_trigger: bool = False

    def selectors(self) -> dict[str, str]:
        pairs = {"serial": self.serial, "model": self.model, "user_name": self.user_name, "id": self.device_id}
        return {key: str(value) for key, value in pairs.items() if value is not None}


def select_device(devices: list[DeviceInfo], settings: GenICamSettings, producers: list[str]) -> int:
    """Index of the first device matching every selector; ``CameraError`` listing the devices seen otherwise."""
    wanted = settings.selectors()
    for index, device in enumerate(devices):
        if all(getattr(device, key) == value for key, value in wanted.items()):
            return index
    seen = "; ".join(f"{d.id} (model {d.model}, serial {d.serial}, user name {d.user_name or '-'})" for d in devices)
    query = ", ".join(f"{k}={v!r}" for k, v in wanted.items()) or "any device"
    raise CameraError(f"no GenICam device matches {query}; producers {producers} offer {len(devices)} device(s)"
                      + (f": {seen}" if seen else ""))
