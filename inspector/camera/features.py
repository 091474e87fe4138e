"""GenApi feature writing, duck-typed over a node map (``get_node(name)``) so a fake can test the decisions.

No genicam import: the GenApi access-mode and interface-type codes below are fixed by the GenApi standard.
"""

from __future__ import annotations

from inspector.domain.camera import CameraError

# GenApi EAccessMode
NI, NA, WO, RO, RW = 0, 1, 2, 3, 4
# GenApi EInterfaceType
INTEGER, BOOLEAN, COMMAND, FLOAT, STRING, ENUMERATION = 2, 3, 4, 5, 6, 9

# Features applied first, in this order: the image format fixes the payload, auto modes gate their values.
FIRST_FEATURES = ("PixelFormat", "Width", "Height", "OffsetX", "OffsetY", "ExposureAuto", "GainAuto",
                  "AcquisitionFrameRateEnable")


def node_or_none(node_map, name: str):
    """The node, or None when the device lacks it or it is not available now."""
    try:
        node = node_map.get_node(name)
    except Exception:  # genicam LogicalErrorException: node not existing
        return None
    return None if node is None or int(node.get_access_mode()) in (NI, NA) else node


def feature_order(features: dict[str, object]) -> list[str]:
    """``FIRST_FEATURES`` that are present, in that order, then the rest as given."""
    return [n for n in FIRST_FEATURES if n in features] + [n for n in features if n not in FIRST_FEATURES]


def allowed_values(node, kind: int) -> str:
    """The range (with step) or the symbolics a node accepts, as far as the node tells."""
    try:
        if kind == ENUMERATION:
            return "allowed: " + ", ".join(node.symbolics)
        if kind in (INTEGER, FLOAT):
            text = f"allowed range {node.min}..{node.max}"
            try:
                return text + f" step {node.inc}"
            except Exception:  # floats without an increment
                return text
    except Exception:
        pass
    return "allowed values unknown"


def _coerce(kind: int, value: object) -> object:
    if kind == INTEGER:
        if float(value) != int(float(value)):
            raise ValueError(f"{value!r} is not an integer")
        return int(float(value))
    if kind == FLOAT:
        return float(value)
    if kind == BOOLEAN:
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "on", "yes")
        return bool(value)
    return str(value)


def set_feature(node_map, name: str, value: object, device: str) -> bool:
    """Write one feature; False when the device lacks it, ``CameraError`` when it rejects the value."""
    node = node_or_none(node_map, name)
    if node is None:
        return False
    kind = int(node.node.principal_interface_type)
    if kind == COMMAND:
        if value:
            node.execute()
        return True
    allowed = allowed_values(node, kind)
    try:
        coerced = _coerce(kind, value)
    except (TypeError, ValueError) as e:
        raise CameraError(f"{device}: feature {name} = {value!r} is not valid ({e}); {allowed}") from e
    if kind == ENUMERATION and coerced not in tuple(node.symbolics):
        raise CameraError(f"{device}: feature {name} = {value!r} is not supported; {allowed}")
    if int(node.get_access_mode()) == RO:
        if node.value == coerced:
            return True
        raise CameraError(f"{device}: feature {name} is read-only (now {node.value!r}); cannot set {value!r}")
    try:
        node.value = coerced
    except Exception as e:
        reason = str(e).split(" : ")[0]
        raise CameraError(f"{device}: feature {name} = {value!r} was rejected ({reason}); {allowed}") from e
    return True


def apply_features(node_map, features: dict[str, object], device: str) -> list[str]:
    """Apply ``features`` in ``feature_order``; return one warning per feature the device lacks."""
    warnings = []
    for name in feature_order(features):
        if not set_feature(node_map, name, features[name], device):
            warnings.append(f"{device}: has no feature {name}; {name}={features[name]!r} ignored")
    return warnings


def enable_software_trigger(node_map, device: str) -> str | None:
    """Arm frame-start software triggering; None when armed, else a warning (the device then free-runs)."""
    missing = [n for n in ("TriggerMode", "TriggerSoftware") if node_or_none(node_map, n) is None]
    if missing:
        return f"{device}: software trigger unavailable (no {', '.join(missing)}); the camera free-runs"
    selector = node_or_none(node_map, "TriggerSelector")
    if selector is not None and "FrameStart" in tuple(selector.symbolics):
        set_feature(node_map, "TriggerSelector", "FrameStart", device)
    set_feature(node_map, "TriggerMode", "On", device)
    source = node_or_none(node_map, "TriggerSource")
    if source is not None and "Software" in tuple(source.symbolics):
        set_feature(node_map, "TriggerSource", "Software", device)
    return None
