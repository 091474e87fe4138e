"""Feature writing and software-trigger decisions against a fake GenApi node map."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from inspector.camera import features as f
from inspector.camera.devices import DeviceInfo, GenICamSettings, select_device
from inspector.domain.camera import CameraError


class FakeNode:
    """Just enough of a genicam node: value, access mode, interface type, range or symbolics."""

    def __init__(self, name, kind, value=None, access=f.RW, lo=None, hi=None, symbolics=(), log=None):
        self.name, self.kind, self._value, self.access = name, kind, value, access
        self.min, self.max, self.inc, self.symbolics = lo, hi, 1, tuple(symbolics)
        self.node = SimpleNamespace(principal_interface_type=kind)
        self.log = log if log is not None else []

    def get_access_mode(self):
        return self.access

    @property
    def value(self):
        return self._value

    @value.setter
    def value(self, value):
        if self.min is not None and not self.min <= value <= self.max:
            raise RuntimeError(f"Value = {value} out of range : OutOfRangeException thrown in node '{self.name}'")
        self.log.append((self.name, value))
        self._value = value

    def execute(self):
        self.log.append((self.name, "execute"))


class FakeNodeMap:
    def __init__(self, *nodes: FakeNode):
        self.log: list = []
        self.nodes = {n.name: n for n in nodes}
        for node in nodes:
            node.log = self.log

    def get_node(self, name):
        if name not in self.nodes:
            raise LookupError("Node not existing")
        return self.nodes[name]


def camera_like() -> FakeNodeMap:
    return FakeNodeMap(
        FakeNode("Width", f.INTEGER, 640, lo=16, hi=1280),
        FakeNode("Height", f.INTEGER, 480, lo=16, hi=1024),
        FakeNode("PixelFormat", f.ENUMERATION, "Mono8", symbolics=("Mono8", "Mono12", "BayerRG8")),
        FakeNode("ExposureTime", f.FLOAT, 1000.0, lo=10.0, hi=1e6),
        FakeNode("ReverseX", f.BOOLEAN, False),
        FakeNode("SensorWidth", f.INTEGER, 1280, access=f.RO),
        FakeNode("Gain", f.FLOAT, 0.0, access=f.NA, lo=0.0, hi=24.0),
    )


def test_image_format_goes_first_then_the_rest_in_order() -> None:
    nodes = camera_like()
    wanted = {"ExposureTime": 500, "Height": 240, "PixelFormat": "Mono12", "Width": 320}
    warnings = f.apply_features(nodes, wanted, "cam")
    assert warnings == []
    assert nodes.log == [("PixelFormat", "Mono12"), ("Width", 320), ("Height", 240), ("ExposureTime", 500.0)]


def test_missing_or_unavailable_feature_is_a_warning() -> None:
    warnings = f.apply_features(camera_like(), {"TriggerMode": "On", "Gain": 3.0}, "cam A")
    assert len(warnings) == 2
    assert "TriggerMode" in warnings[0] and "cam A" in warnings[0] and "Gain" in warnings[1]


def test_out_of_range_names_feature_value_and_range() -> None:
    with pytest.raises(CameraError) as info:
        f.apply_features(camera_like(), {"Width": 5000}, "cam")
    assert all(text in str(info.value) for text in ("Width", "5000", "16..1280"))


def test_unknown_symbolic_lists_the_allowed_ones() -> None:
    with pytest.raises(CameraError, match="Mono8, Mono12, BayerRG8"):
        f.apply_features(camera_like(), {"PixelFormat": "RGB8"}, "cam")


def test_coercion_and_read_only() -> None:
    nodes = camera_like()
    f.apply_features(nodes, {"Width": "320", "ReverseX": "on", "SensorWidth": 1280}, "cam")
    assert nodes.nodes["Width"].value == 320 and nodes.nodes["ReverseX"].value is True
    with pytest.raises(CameraError, match="read-only"):
        f.apply_features(nodes, {"SensorWidth": 64}, "cam")
    with pytest.raises(CameraError, match="not an integer"):
        f.apply_features(nodes, {"Width": 320.5}, "cam")


def test_software_trigger_is_armed_when_the_device_has_it() -> None:
    nodes = FakeNodeMap(
        FakeNode("TriggerSelector", f.ENUMERATION, "AcquisitionStart", symbolics=("AcquisitionStart", "FrameStart")),
        FakeNode("TriggerMode", f.ENUMERATION, "Off", symbolics=("Off", "On")),
        FakeNode("TriggerSource", f.ENUMERATION, "Line0", symbolics=("Line0", "Software")),
        FakeNode("TriggerSoftware", f.COMMAND),
    )
    assert f.enable_software_trigger(nodes, "cam") is None
    assert nodes.log == [("TriggerSelector", "FrameStart"), ("TriggerMode", "On"), ("TriggerSource", "Software")]


def test_software_trigger_without_the_nodes_is_a_warning() -> None:
    nodes = FakeNodeMap(FakeNode("TriggerMode", f.ENUMERATION, "Off", symbolics=("Off", "On")))
    warning = f.enable_software_trigger(nodes, "cam")
    assert "TriggerSoftware" in warning and nodes.log == []


DEVICES = [DeviceInfo("dev0", "100", "A", "V", "left", "V A dev0"), DeviceInfo("dev1", "101", "B", "V", "", "V B dev1")]


def test_select_device_by_any_selector_else_the_first() -> None:
    assert select_device(DEVICES, GenICamSettings(), ["x.cti"]) == 0
    assert select_device(DEVICES, GenICamSettings(serial="101"), ["x.cti"]) == 1
    assert select_device(DEVICES, GenICamSettings(model="A", user_name="left"), ["x.cti"]) == 0
    assert select_device(DEVICES, GenICamSettings(device_id="dev1"), ["x.cti"]) == 1


def test_select_device_error_lists_what_it_saw() -> None:
    with pytest.raises(CameraError) as info:
        select_device(DEVICES, GenICamSettings(serial="100", model="B"), ["x.cti"])
    assert all(text in str(info.value) for text in ("serial='100'", "model='B'", "dev0", "dev1", "x.cti"))
