"""The station loop with fakes of the ports: back-pressure, fail-safe verdicts, clean shutdown."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from inspector.domain.camera import CameraStats
from inspector.domain.frame import Frame, GroundTruth, Part
from inspector.domain.inspection import ModelOutput, ReasonCode, Verdict
from inspector.domain.recipe import ModelRule, Recipe
from inspector.station.loop import LoopSettings, Station


class FakeCamera:
    name = "fake"

    def __init__(self, period: float = 0.0, parts: bool = False) -> None:
        self.period, self._id, self._stats, self.parts = period, 0, CameraStats(), parts

    @property
    def stats(self) -> CameraStats:
        return self._stats

    def start(self) -> None:
        self._stats.connected = True

    def stop(self) -> None: ...

    def close(self) -> None: ...

    def grab(self, timeout: float) -> Frame:
        time.sleep(self.period)
        self._id += 1
        truth = GroundTruth(defect="scratch" if self._id % 2 else None)
        part = Part(f"p{self._id}") if self.parts else None
        return Frame(self._id, self.name, time.time(), time.monotonic(), np.zeros((8, 8, 3), np.uint8), truth,
                     part=part)


class FakeModel:
    id = "fake-model"
    image_threshold = 0.5
    pixel_threshold = 0.5
    min_area = 1

    def __init__(self, delay: float = 0.0, fail_every: int = 0) -> None:
        self.delay, self.fail_every, self.calls = delay, fail_every, 0

    def infer(self, frame) -> ModelOutput:
        self.calls += 1
        time.sleep(self.delay)
        if self.fail_every and self.calls % self.fail_every == 0:
            raise RuntimeError("runtime crashed")
        score = 0.9 if frame.truth.is_defective else 0.1
        return ModelOutput(self.id, score, image_threshold=0.5, pixel_threshold=0.5)


class FakeSink:
    """Journals at once (``durable``), or keeps the releases until ``release_all`` (``hold_back``)."""

    def __init__(self, durable: bool = True, hold: str | None = None, hold_back: bool = False) -> None:
        self.items, self.lock = [], threading.Lock()
        self.durable, self.hold, self.hold_back, self.waiting = durable, hold, hold_back, []

    def submit(self, inspection, on_released) -> None:
        with self.lock:
            self.items.append(inspection)
        if self.hold_back:
            self.waiting.append((inspection, on_released))
        else:
            on_released(inspection, self.durable)

    def release_all(self) -> None:
        for inspection, on_released in self.waiting:
            on_released(inspection, True)
        self.waiting = []

    def hold_reason(self) -> str | None:
        return self.hold

    def flush(self, timeout: float = 10.0) -> bool:
        return True

    def close(self, timeout: float = 10.0) -> None: ...


RECIPE = Recipe("r", 1, (ModelRule("fake-model"),), deadline_ms=5_000)


def run(model: FakeModel, settings: LoopSettings, frames: int, camera: FakeCamera | None = None,
        sink: FakeSink | None = None):
    sink = sink or FakeSink()
    station = Station("s", camera or FakeCamera(), [model], RECIPE, sink, settings)
    station.start(frames)
    assert station.wait(30)
    station.stop()
    return station, sink


def test_every_accepted_frame_is_inspected_and_logged() -> None:
    station, sink = run(FakeModel(), LoopSettings(queue_size=2, backpressure="block"), 25)
    snap = station.counters.snapshot()
    assert len(sink.items) == snap.inspected == 25 and snap.dropped_total == 0
    assert snap.agreement == 1.0
    assert [i.frame.id for i in sink.items] == sorted(i.frame.id for i in sink.items)
    assert all(set(i.latencies_ms) >= {"acquire", "inference", "decision", "total"} for i in sink.items)


@pytest.mark.parametrize("policy, reason", [("drop_oldest", "oldest"), ("drop_newest", "newest")])
def test_slow_model_drops_frames_with_the_reason(policy: str, reason: str) -> None:
    station, sink = run(FakeModel(delay=0.01), LoopSettings(queue_size=1, backpressure=policy), 15)
    snap = station.counters.snapshot()
    assert len(sink.items) == 15
    assert snap.dropped_total > 0 and all(reason in k for k in snap.dropped)
    assert snap.grabbed == 15 + snap.dropped_total


def test_model_failure_is_fail_never_pass() -> None:
    station, sink = run(FakeModel(fail_every=3), LoopSettings(backpressure="block"), 9)
    failed = [i for i in sink.items if i.outputs[0].error]
    assert len(failed) == 3
    assert all(i.verdict is Verdict.FAIL and "runtime crashed" in i.decision.texts[0] for i in failed)
    assert all(i.decision.codes == (ReasonCode.MODEL_ERROR,) for i in failed)
    snap = station.counters.snapshot()
    assert snap.model_errors == 3
    defective = sum(1 for i in sink.items if not i.outputs[0].error and i.frame.truth.is_defective)
    assert snap.fail_reasons == {"model_error": 3, "score_over_threshold": defective}


def test_late_result_is_fail() -> None:
    sink = FakeSink()
    recipe = Recipe("r", 1, (ModelRule("fake-model"),), deadline_ms=1)
    station = Station("s", FakeCamera(), [FakeModel(delay=0.01)], recipe, sink, LoopSettings(backpressure="block"))
    station.start(3)
    assert station.wait(10)
    station.stop()
    assert all(i.verdict is Verdict.FAIL and i.decision.codes[0] is ReasonCode.LATE for i in sink.items)
    snap = station.counters.snapshot()
    assert snap.late == 3 and snap.fail_reasons["late"] == 3


def test_stop_without_limit_logs_everything_inspected() -> None:
    sink = FakeSink()
    station = Station("s", FakeCamera(period=0.002), [FakeModel()], RECIPE, sink, LoopSettings())
    station.start()
    time.sleep(0.3)
    station.stop()
    assert not station.running
    assert len(sink.items) == station.counters.snapshot().inspected > 0


def test_model_count_must_match_recipe() -> None:
    with pytest.raises(ValueError, match="lists 1 models but 2"):
        Station("s", FakeCamera(), [FakeModel(), FakeModel()], RECIPE, FakeSink())


def test_no_verdict_is_counted_or_seen_before_the_sink_journals_it() -> None:
    sink = FakeSink(hold_back=True)
    station = Station("s", FakeCamera(), [FakeModel()], RECIPE, sink, LoopSettings(backpressure="block"))
    seen = []
    station.add_listener(seen.append)
    station.start(6)
    assert not station.wait(1.0)  # decided, but not released: the run is not done
    assert len(sink.items) == 6 and seen == [] and station.counters.snapshot().inspected == 0
    sink.release_all()
    assert station.wait(5) and [i.uid for i in seen] == [i.uid for i in sink.items]
    assert station.counters.snapshot().inspected == 6
    station.stop()


def test_on_hold_every_part_is_rejected_with_the_hold_code() -> None:
    station, sink = run(FakeModel(), LoopSettings(backpressure="block"), 8, sink=FakeSink(hold="journal unwritable"))
    assert all(i.verdict is Verdict.FAIL and i.decision.codes[0] is ReasonCode.HOLD for i in sink.items)
    assert station.counters.snapshot().passed == 0


def test_a_verdict_the_sink_could_not_record_leaves_as_a_counted_reject() -> None:
    seen = []
    sink = FakeSink(durable=False)
    station = Station("s", FakeCamera(), [FakeModel()], RECIPE, sink, LoopSettings(backpressure="block"))
    station.add_listener(seen.append)
    station.start(6)
    assert station.wait(10)
    station.stop()
    snap = station.counters.snapshot()
    assert snap.unrecorded == 6 and snap.passed == 0 and snap.fail_reasons["hold"] == 6
    assert all(i.decision.codes[0] is ReasonCode.HOLD for i in seen) and len(seen) == 6


def test_in_part_mode_a_dropped_frame_is_a_part_with_a_not_inspected_row() -> None:
    camera = FakeCamera(parts=True)
    station, sink = run(FakeModel(delay=0.01), LoopSettings(queue_size=1, backpressure="drop_oldest"), 20, camera)
    snap = station.counters.snapshot()
    skipped = [i for i in sink.items if i.decision.codes == (ReasonCode.NOT_INSPECTED,)]
    assert skipped and all(i.verdict is Verdict.FAIL and i.outputs == () for i in skipped)
    assert len(sink.items) == snap.inspected == 20  # every part has a row
    assert sorted(i.frame.part.id for i in sink.items) == sorted(f"p{n}" for n in range(1, 21))
    assert snap.dropped_total == len(skipped) and snap.fail_reasons["not_inspected"] == len(skipped)


class BatchingModel(FakeModel):
    """Scores frames that queued together in one call (as a dynamic-batch bundle does); records the batch sizes."""

    def __init__(self, delay: float = 0.0, fail_batches: bool = False) -> None:
        super().__init__(delay)
        self.batches: list[int] = []
        self.fail_batches = fail_batches

    def infer_many(self, frames) -> list[ModelOutput]:
        self.batches.append(len(frames))
        time.sleep(self.delay)
        if self.fail_batches:
            raise RuntimeError("batch crashed")
        return [ModelOutput(self.id, 0.9 if f.truth.is_defective else 0.1, image_threshold=0.5,
                            pixel_threshold=0.5, latency_ms=float(len(frames))) for f in frames]


def test_frames_that_queue_are_inspected_in_batches_each_with_its_own_output() -> None:
    model = BatchingModel(delay=0.02)
    station, sink = run(model, LoopSettings(queue_size=8, backpressure="block", max_batch=4), 40)
    assert max(model.batches) == 4 and sum(model.batches) + model.calls == 40
    assert len(sink.items) == 40 and station.counters.snapshot().dropped_total == 0
    assert [i.frame.id for i in sink.items] == list(range(1, 41))
    assert station.counters.snapshot().agreement == 1.0  # each frame got its own score, in order


def test_max_batch_one_never_batches() -> None:
    model = BatchingModel(delay=0.01)
    run(model, LoopSettings(queue_size=8, backpressure="block", max_batch=1), 12)
    assert model.batches == [] and model.calls == 12


def test_a_failed_batch_is_retried_frame_by_frame() -> None:
    model = BatchingModel(delay=0.01, fail_batches=True)
    station, sink = run(model, LoopSettings(queue_size=8, backpressure="block", max_batch=4), 20)
    assert model.batches and len(sink.items) == 20
    assert all(not i.outputs[0].error for i in sink.items) and station.counters.snapshot().agreement == 1.0


def test_max_batch_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        LoopSettings(max_batch=0)


class JitteryModel(FakeModel):
    """Takes a different time for each frame, so that two workers finish out of order."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[str] = set()
        self.lock = threading.Lock()

    def infer(self, frame) -> ModelOutput:
        with self.lock:
            self.threads.add(threading.current_thread().name)
        time.sleep(0.02 if frame.id % 3 == 0 else 0.001)
        return super().infer(frame)


@pytest.mark.parametrize("max_batch", [1, 4])
def test_two_workers_score_at_once_and_decide_in_acquisition_order(max_batch: int) -> None:
    model = JitteryModel()
    station, sink = run(model, LoopSettings(queue_size=8, backpressure="block", max_batch=max_batch, workers=2), 60)
    assert model.threads == {"station-infer-0", "station-infer-1"}
    assert [i.frame.id for i in sink.items] == list(range(1, 61))  # in order, though finished out of order
    assert station.counters.snapshot().agreement == 1.0 and not station.running


def test_two_workers_stop_cleanly_and_start_again() -> None:
    sink = FakeSink()
    station = Station("s", FakeCamera(period=0.001), [JitteryModel()], RECIPE, sink,
                      LoopSettings(queue_size=4, backpressure="block", workers=2))
    for _ in range(2):
        station.start()
        time.sleep(0.2)
        station.stop()
        assert not station.running
    ids = [i.frame.id for i in sink.items]
    assert ids == sorted(ids) and len(ids) == station.counters.snapshot().inspected > 0


def test_workers_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="workers"):
        LoopSettings(workers=0)
