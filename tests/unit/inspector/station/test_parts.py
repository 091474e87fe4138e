"""The part FIFO: frames get the oldest open part; disagreements resync, are counted and alarmed; every part
still gets its verdict (an overdue one: REJECT not inspected)."""

from __future__ import annotations

import time

import numpy as np

from inspector.domain.frame import Frame, Part
from inspector.domain.inspection import ReasonCode, Verdict
from inspector.station.loop import LoopSettings, Station
from inspector.station.parts import PartTracker
from tests.unit.inspector.station.test_loop import RECIPE, FakeModel, FakeSink


def frame(n: int) -> Frame:
    return Frame(n, "cam", time.time(), time.monotonic(), np.zeros((4, 4, 3), np.uint8))


def test_frames_take_the_oldest_part_and_disagreements_resync() -> None:
    alarms: list[str] = []
    tracker = PartTracker(frame_timeout_s=0.05, on_resync=alarms.append)
    for n in range(3):
        tracker.open(Part(f"p{n}", f"s{n}"))
    assert [tracker.match(frame(n))[0].part.id for n in range(2)] == ["p0", "p1"]
    time.sleep(0.1)
    assert [p.id for p in tracker.expire()] == ["p2"]  # its frame never came
    stray, missed = tracker.match(frame(9))
    assert stray.part is None and missed == [] and tracker.resyncs == 2 and len(alarms) == 2
    assert "p2 got no frame" in alarms[0] and "frame 9 came with no part" in alarms[1]


def test_a_part_that_missed_its_frame_is_not_given_the_next_parts_frame() -> None:
    tracker = PartTracker(frame_timeout_s=5.0, frame_latency_s=0.05)
    old = tracker.open(Part("missed"))
    time.sleep(0.1)
    new = tracker.open(Part("next"))
    matched, missed = tracker.match(frame(1))
    assert matched.part == new and missed == [old] and tracker.expired == 1


class TriggeredCamera:
    """Frames only when triggered, and it loses every third trigger (a missed exposure)."""

    name = "trig"

    def __init__(self) -> None:
        from inspector.domain.camera import CameraStats

        self.pending, self.n, self._stats, self.exposures = 0, 0, CameraStats(), []

    stats = property(lambda self: self._stats)

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...

    def grab(self, timeout: float):
        if self.pending == 0:
            time.sleep(0.01)
            return None
        self.pending -= 1
        self.n += 1
        exposed = self.exposures.pop(0)
        return None if self.n % 3 == 0 else Frame(self.n, self.name, time.time(), exposed,
                                                  np.zeros((8, 8, 3), np.uint8))


def test_every_triggered_part_gets_exactly_one_verdict_even_without_a_frame() -> None:
    tracker = PartTracker(frame_timeout_s=0.3, frame_latency_s=0.015)
    camera, sink = TriggeredCamera(), FakeSink()
    station = Station("s", camera, [FakeModel()], RECIPE, sink, LoopSettings(backpressure="block"), tracker=tracker)
    released = []
    station.add_listener(released.append)
    station.start()
    for n in range(9):
        part = station.open_part(Part(f"part-{n}"))
        camera.exposures.append(part.triggered_at + 0.001)
        camera.pending += 1
        time.sleep(0.02)
    deadline = time.monotonic() + 5
    while len(released) < 9 and time.monotonic() < deadline:
        time.sleep(0.02)
    station.stop()
    parts = [i.frame.part.id for i in released if i.frame.part is not None]
    assert sorted(parts) == sorted(f"part-{n}" for n in range(9)) and len(parts) == len(set(parts))
    frameless = {i.frame.part.id for i in released if i.decision.codes == (ReasonCode.NOT_INSPECTED,)}
    assert frameless == {"part-2", "part-5", "part-8"}  # exactly the parts whose exposure was lost
    assert all(i.verdict is Verdict.FAIL for i in released if i.frame.part.id in frameless)
    inspected = {i.frame.part.id: i.frame.id for i in released if i.frame.part.id not in frameless}
    assert all(int(part.split("-")[1]) + 1 == frame_id for part, frame_id in inspected.items())  # no shift
    assert tracker.expired == 3 and tracker.in_flight == 0
