"""The station loop: acquisition -> inference -> decision -> persistence, bounded queues between them.

One acquisition thread, ``workers`` inference threads (each takes the next batch; results are put back in
acquisition order before the decision), one decision thread.

A verdict reaches counters and listeners only when the sink hands it back as journaled (durable before
visible). When the sink says the station must hold, every verdict is REJECT; one the sink could not record
is released REJECT too, and counted.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from inspector.domain.camera import Camera
from inspector.domain.frame import Frame, Part
from inspector.domain.inspection import Inspection, ModelOutput, ReasonCode
from inspector.domain.ports import InspectionModel, InspectionSink
from inspector.domain.recipe import Recipe, decide, not_inspected, on_hold
from inspector.station.counters import StationCounters
from inspector.station.parts import PartTracker

log = logging.getLogger(__name__)
BACKPRESSURE = ("drop_oldest", "drop_newest", "block")
_STOP = object()


@dataclass(frozen=True)
class LoopSettings:
    queue_size: int = 8
    backpressure: str = "drop_oldest"
    grab_timeout_s: float = 0.2
    max_batch: int = 4  # frames that queued behind the next one, inspected with it in one model call
    workers: int = 1  # inference threads calling the models at once (a CPU runtime with one thread each)

    def __post_init__(self) -> None:
        if self.backpressure not in BACKPRESSURE:
            raise ValueError(f"backpressure {self.backpressure!r} is not one of {', '.join(BACKPRESSURE)}")
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {self.max_batch}")
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")


@dataclass(frozen=True)
class Program:
    """A recipe with its models, bound: what a part is inspected by."""

    recipe: Recipe
    models: tuple[InspectionModel, ...]


@dataclass(frozen=True)
class _Scored:
    frame: Frame
    program: Program
    outputs: tuple[ModelOutput, ...]
    dequeued: float
    inferred: float


Listener = Callable[[Inspection], None]


class Station:
    """Runs the pipeline threads; ``start``/``stop`` are idempotent; every inspected frame is logged."""

    def __init__(self, name: str, camera: Camera, models: Sequence[InspectionModel], recipe: Recipe,
                 sink: InspectionSink, settings: LoopSettings | None = None,
                 counters: StationCounters | None = None, tracker: PartTracker | None = None) -> None:
        self.name, self.camera, self.sink = name, camera, sink
        self.program = self._program(recipe, models)
        self.tracker = tracker  # parts from the line: a FIFO gives them to frames
        self._program_of: dict[str, Program] = {}  # parts in flight keep the recipe they were triggered under
        self.settings = settings or LoopSettings()
        self.counters = counters or StationCounters()
        self._frames: queue.Queue = queue.Queue(self.settings.queue_size)
        self._scored: queue.Queue = queue.Queue(self.settings.queue_size)
        self._listeners: list[Listener] = []
        self._threads: list[threading.Thread] = []
        self._stop_acquisition = threading.Event()
        self._limit: int | None = None
        self._accepted = 0
        self._accept_lock = threading.Lock()
        self._done = threading.Event()
        self._camera_dropped_seen = 0
        self._handed = threading.Condition()
        self._submitted = self._released = 0
        self._take_lock = threading.Lock()  # one worker takes a batch and its ticket at a time
        self._order = threading.Lock()  # results go to the decision in ticket (acquisition) order
        self._tickets = self._next_out = self._workers_left = self._stopped = 0
        self._ready: dict[int, list[_Scored]] = {}

    @staticmethod
    def _program(recipe: Recipe, models: Sequence[InspectionModel]) -> Program:
        if len(models) != len(recipe.models):
            raise ValueError(f"recipe {recipe.name} lists {len(recipe.models)} models but {len(models)} were loaded")
        return Program(recipe, tuple(models))

    @property
    def recipe(self) -> Recipe:
        return self.program.recipe

    @property
    def models(self) -> tuple[InspectionModel, ...]:
        return self.program.models

    def switch(self, recipe: Recipe, models: Sequence[InspectionModel]) -> Program:
        """Inspect the parts triggered from now on by ``recipe``; parts in flight finish on the one before."""
        previous, self.program = self.program, self._program(recipe, models)
        return previous

    def open_part(self, part: Part) -> Part:
        """A part triggered on the line: it waits for its frame, under the current recipe."""
        if self.tracker is None:
            raise RuntimeError("this station tracks no parts")
        part = self.tracker.open(part)
        self._program_of[part.id] = self.program
        return part

    # -- control ------------------------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        """``listener(inspection)`` after each released verdict (journaled: on the sink's thread)."""
        self._listeners.append(listener)

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def start(self, frames: int | None = None) -> None:
        """Start the threads; with ``frames``, acquisition stops once that many frames entered the pipeline."""
        if self.running:
            return
        self._limit, self._accepted = frames, 0
        self._stop_acquisition.clear()
        self._done.clear()
        self._tickets = self._next_out = self._stopped = 0
        self._ready = {}
        self._workers_left = self.settings.workers
        self.camera.start()
        self._threads = [
            threading.Thread(target=self._acquire, name="station-acquire", daemon=True),
            *(threading.Thread(target=self._infer, name=f"station-infer-{n}", daemon=True)
              for n in range(self.settings.workers)),
            threading.Thread(target=self._decide, name="station-decide", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a ``frames``-limited run has decided and released everything it accepted."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._done.wait(timeout):
            return False
        return self._all_released(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def _all_released(self, timeout: float | None) -> bool:
        with self._handed:
            return self._handed.wait_for(lambda: self._released >= self._submitted, timeout)

    def stop_acquisition(self, timeout: float = 10.0) -> None:
        """Take no more frames: the acquisition thread ends and the camera stops acquiring."""
        self._stop_acquisition.set()
        for thread in self._threads[:1]:
            thread.join(timeout)
        try:
            self.camera.stop()
        except Exception as exc:  # noqa: BLE001 - stopping must not raise over a camera fault
            log.warning("camera %s did not stop cleanly: %s", self.camera.name, exc)

    def drain(self, timeout: float = 30.0) -> bool:
        """Inspect and hand over everything already in the pipeline; True when every thread has ended."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        ended = not self.running and self._all_released(max(0.1, deadline - time.monotonic()))
        if ended:
            self._threads = []
        return ended

    def stop(self, timeout: float = 30.0) -> None:
        """Stop acquisition, inspect what is already in the pipeline, and flush the sink."""
        deadline = time.monotonic() + timeout
        self.stop_acquisition(timeout)
        self.drain(max(0.1, deadline - time.monotonic()))
        self.sink.flush(max(0.1, deadline - time.monotonic()))

    # -- threads ------------------------------------------------------------------------------------
    def _accept(self) -> bool:
        with self._accept_lock:
            if self._limit is not None and self._accepted >= self._limit:
                return False
            self._accepted += 1
            return True

    def _unaccept(self) -> None:
        with self._accept_lock:
            self._accepted -= 1

    def _sync_camera_drops(self) -> None:
        dropped = self.camera.stats.dropped
        if dropped > self._camera_dropped_seen:
            self.counters.frame_dropped("camera: frames lost before acquisition", dropped - self._camera_dropped_seen)
            self._camera_dropped_seen = dropped

    def _acquire(self) -> None:
        try:
            while not self._stop_acquisition.is_set():
                try:
                    frame = self.camera.grab(self.settings.grab_timeout_s)
                except Exception as exc:  # noqa: BLE001 - a camera fault must not kill the loop
                    log.warning("camera %s: %s", self.camera.name, exc)
                    time.sleep(self.settings.grab_timeout_s)
                    continue
                self._sync_camera_drops()
                if self.tracker is not None:
                    for part in self.tracker.expire():
                        self._frameless(part)
                if frame is None:
                    continue
                if self.tracker is not None and frame.part is None:
                    frame, missed = self.tracker.match(frame)
                    for part in missed:
                        self._frameless(part)
                self.counters.frame_grabbed()
                if not self._accept():
                    self.counters.frame_dropped("run limit reached")
                    break
                self._enqueue(frame)
                if self._limit is not None and self._accepted >= self._limit:
                    break
        finally:
            self._frames.put(_STOP)

    def _enqueue(self, frame: Frame) -> None:
        policy = self.settings.backpressure
        if policy == "block":
            self._frames.put(frame)
            return
        try:
            self._frames.put_nowait(frame)
            return
        except queue.Full:
            pass
        if policy == "drop_newest":
            self._dropped(frame, "queue full: newest frame dropped")
            return
        try:
            self._dropped(self._frames.get_nowait(), "queue full: oldest frame dropped")
        except queue.Empty:
            pass
        self._frames.put(frame)

    def _dropped(self, frame: Frame, reason: str) -> None:
        """A frame back-pressure dropped: counted; when it is a part, it still gets its row and a REJECT."""
        self.counters.frame_dropped(reason)
        if frame is _STOP:
            return
        if frame.part is None:
            self._unaccept()  # free-running video: only counted
            return
        decided = time.monotonic()
        latencies = {"total": (decided - _start(frame)) * 1000}
        recipe = self._program_for(frame).recipe
        self._submit(Inspection(frame=frame, station=self.name, recipe=recipe.name, recipe_version=recipe.version,
                                outputs=(), decision=not_inspected(reason), latencies_ms=latencies))

    def _frameless(self, part: Part) -> None:
        """A part whose frame never came: its row and its REJECT, with a black one-pixel stand-in image."""
        now = time.monotonic()
        frame = Frame(0, self.camera.name, time.time(), part.triggered_at or now, np.zeros((1, 1, 3), np.uint8),
                      part=part)
        self._dropped(frame, "no frame came for this part")

    def _program_for(self, frame: Frame) -> Program:
        if frame.part is None:
            return self.program
        return self._program_of.pop(frame.part.id, self.program)

    def _infer(self) -> None:
        """One inference worker: take the next batch with its ticket, score it, hand it on in ticket order."""
        stopping = False
        try:
            while not stopping:
                with self._take_lock:
                    batch, stopping = self._take_batch()
                    ticket = self._tickets
                    self._tickets += 1
                    if stopping:
                        self._stopped += 1
                        if self._stopped < self.settings.workers:
                            self._frames.put(_STOP)  # the next worker stops too
                scored: list[_Scored] = []
                try:
                    scored = self._score(batch)
                finally:
                    self._hand_on(ticket, scored)
        finally:
            with self._order:
                self._workers_left -= 1
                last = self._workers_left == 0
            if last:
                self._scored.put(_STOP)

    def _score(self, batch: list[Frame]) -> list[_Scored]:
        dequeued = time.monotonic()
        scored = []
        for program, frames in _by_program([(frame, self._program_for(frame)) for frame in batch]):
            per_model = [self._run_model(model, frames) for model in program.models]
            inferred = time.monotonic()
            for i, frame in enumerate(frames):
                outputs = tuple(outputs_of[i] for outputs_of in per_model)
                scored.append(_Scored(frame, program, outputs, dequeued, inferred))
        return scored

    def _hand_on(self, ticket: int, scored: list[_Scored]) -> None:
        """To the decision, in acquisition order: a batch waits for the batches taken before it."""
        with self._order:
            self._ready[ticket] = scored
            while self._next_out in self._ready:
                for item in self._ready.pop(self._next_out):
                    self._scored.put(item)
                self._next_out += 1

    def _take_batch(self) -> tuple[list[Frame], bool]:
        """The next frame (waiting for it), and up to ``max_batch - 1`` more that are already queued behind it:
        frames are batched only when they queue, so a station keeping up still inspects each frame at once."""
        first = self._frames.get()
        if first is _STOP:
            return [], True
        batch = [first]
        while len(batch) < self.settings.max_batch:
            try:
                item = self._frames.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            batch.append(item)
        return batch, False

    def _run_model(self, model: InspectionModel, frames: list[Frame]) -> list[ModelOutput]:
        """The model's outputs for ``frames``, batched where the model can; a failure fails only its frames."""
        try:
            many = getattr(model, "infer_many", None)
            if many is not None and len(frames) > 1:
                outputs = list(many(frames))
                if len(outputs) == len(frames):
                    return outputs
            return [self._run_one(model, frame) for frame in frames]
        except Exception:  # noqa: BLE001 - fail-safe: retried frame by frame, each error becomes its FAIL
            return [self._run_one(model, frame) for frame in frames]

    @staticmethod
    def _run_one(model: InspectionModel, frame: Frame) -> ModelOutput:
        try:
            return model.infer(frame)
        except Exception as exc:  # noqa: BLE001 - fail-safe: the decision turns this into FAIL
            return ModelOutput(model=getattr(model, "id", "?"), score=None, error=f"{type(exc).__name__}: {exc}")

    def _decide(self) -> None:
        try:
            while (item := self._scored.get()) is not _STOP:
                self._finish(item)
        finally:
            self._done.set()

    def _finish(self, item: _Scored) -> None:
        frame, recipe = item.frame, item.program.recipe
        elapsed = (time.monotonic() - _start(frame)) * 1000  # a part's deadline runs from its trigger
        decision = decide(recipe, item.outputs, (frame.width, frame.height), elapsed)
        hold = self.sink.hold_reason()
        if hold is not None:
            decision = on_hold(decision, hold)
        decided = time.monotonic()
        latencies = {
            "acquire": (item.dequeued - frame.monotonic) * 1000,
            "inference": (item.inferred - item.dequeued) * 1000,
            "decision": (decided - item.inferred) * 1000,
            "total": (decided - frame.monotonic) * 1000,
        }
        for output in item.outputs:
            latencies[f"model:{output.model}"] = output.latency_ms
        self._submit(Inspection(frame=frame, station=self.name, recipe=recipe.name, recipe_version=recipe.version,
                                outputs=item.outputs, decision=decision, latencies_ms=latencies))

    def _submit(self, inspection: Inspection) -> None:
        with self._handed:
            self._submitted += 1
        self.sink.submit(inspection, self._release)

    def _release(self, inspection: Inspection, durable: bool) -> None:
        """The sink's answer: now the verdict may leave (as REJECT when it could not be recorded)."""
        try:
            if not durable:
                self.counters.unrecorded_one()
                decision = inspection.decision
                if ReasonCode.HOLD not in decision.codes:
                    decision = on_hold(decision, self.sink.hold_reason() or "the journal could not take the record")
                inspection = replace(inspection, decision=decision, recorded=False)
                log.error("inspection %s released without a record: %s", inspection.uid, inspection.decision.texts[0])
            truth = inspection.frame.truth.is_defective if inspection.frame.truth is not None else None
            self.counters.inspected_one(inspection.decision, inspection.latencies_ms.get("total", 0.0), truth)
            for listener in list(self._listeners):
                try:
                    listener(inspection)
                except Exception as exc:  # noqa: BLE001 - a faulty listener must not stop inspection
                    log.warning("inspection listener failed: %s", exc)
        finally:
            if self.tracker is not None:
                self.tracker.released(inspection.frame.part)
            with self._handed:
                self._released += 1
                self._handed.notify_all()


def _by_program(items: list[tuple[Frame, Program]]) -> list[tuple[Program, list[Frame]]]:
    """Consecutive frames under the same program, in order (a recipe switch splits a batch)."""
    groups: list[tuple[Program, list[Frame]]] = []
    for frame, program in items:
        if groups and groups[-1][0] is program:
            groups[-1][1].append(frame)
        else:
            groups.append((program, [frame]))
    return groups


def _start(frame: Frame) -> float:
    """When the clock for a frame's deadline started: its part's trigger, else its acquisition."""
    part = frame.part
    return part.triggered_at if part is not None and part.triggered_at is not None else frame.monotonic
