"""A simulated line camera: synthetic products at a set rate and defect fraction, with ground truth."""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np

from inspector.domain.camera import CameraError, CameraStats
from inspector.domain.frame import Frame, GroundTruth, Part
from inspector.synthetic import PRODUCTS, defect_types, render


class SimulatedCamera:
    """Emits one rendered part every ``1/fps`` seconds; ``unplug()``/``replug()`` simulate a lost device."""

    def __init__(self, product: str = "washer", fps: float = 20.0, defect_fraction: float = 0.2, seed: int = 0,
                 size: int = 256, name: str | None = None, pool: int = 0, parts: bool = False,
                 triggered: bool = False) -> None:
        """``pool > 0`` renders that many parts up front and cycles them (rendering costs no CPU while running).

        ``parts``: part mode. Each frame is a part with an id; none goes by unseen: a slow consumer gets the parts
        late (the station decides what a late or dropped part means), never fewer of them.

        ``triggered``: a part is rendered when ``trigger()`` is called (the PLC's trigger), as a triggered camera
        exposes one frame per trigger; no trigger, no frame.
        """
        if product not in PRODUCTS:
            raise CameraError(f"simulated camera: unknown product {product!r}; choose one of {', '.join(PRODUCTS)}")
        if fps <= 0:
            raise CameraError(f"simulated camera: fps must be positive, got {fps}")
        if not 0.0 <= defect_fraction <= 1.0:
            raise CameraError(f"simulated camera: defect_fraction must be within 0..1, got {defect_fraction}")
        self.name = name or f"sim-{product}"
        self.product, self.fps, self.defect_fraction, self.size = product, fps, defect_fraction, size
        self.parts = parts
        self.triggered = triggered
        self._triggers = threading.Semaphore(0)
        self._trigger_times: deque[float] = deque()
        self._defects = defect_types(product)
        self._rng = np.random.default_rng(seed)
        self._stats = CameraStats()
        self._running = False
        self._unplugged = threading.Event()
        self._next_due = 0.0
        self._frame_id = 0
        self._pool = [self._sample() for _ in range(pool)]

    @property
    def stats(self) -> CameraStats:
        return self._stats

    def start(self) -> None:
        self._running = True
        self._stats.connected = not self._unplugged.is_set()
        self._stats.closed = False
        self._next_due = time.monotonic()

    def stop(self) -> None:
        self._running = False

    def close(self) -> None:
        self._running = False
        self._stats.connected = False
        self._stats.closed = True

    def unplug(self) -> None:
        """Simulate a lost device: grabs time out until ``replug``."""
        self._unplugged.set()
        self._stats.connected = False
        self._stats.last_error = f"{self.name}: device lost (simulated)"

    def replug(self) -> None:
        self._unplugged.clear()
        self._stats.connected = True
        self._stats.reconnects += 1
        self._stats.last_error = None
        self._next_due = time.monotonic()

    def trigger(self) -> None:
        """Expose one frame (triggered mode), stamped with the trigger's time as a camera stamps its exposure."""
        self._trigger_times.append(time.monotonic())
        self._triggers.release()

    def grab(self, timeout: float | None = 1.0) -> Frame | None:
        if not self._running:
            raise CameraError(f"{self.name}: grab called before start")
        timeout = 1.0 if timeout is None else timeout
        if self._unplugged.is_set():
            time.sleep(min(timeout, 0.05))
            self._stats.timeouts += 1
            return None
        if self.triggered:
            if not self._triggers.acquire(timeout=timeout):
                self._stats.timeouts += 1
                return None
            return self._render(self._trigger_times.popleft())
        wait = self._next_due - time.monotonic()
        if wait > timeout:
            time.sleep(timeout)
            self._stats.timeouts += 1
            return None
        if wait > 0:
            time.sleep(wait)
        now = time.monotonic()
        behind = 0 if self.parts else int((now - self._next_due) * self.fps)
        if behind > 0:  # the consumer was slower than the line: parts went by unseen
            self._stats.dropped += behind
        self._next_due += (behind + 1) / self.fps
        return self._render()

    def _sample(self) -> tuple[np.ndarray, str | None, np.ndarray]:
        defective = self._rng.random() < self.defect_fraction
        defect = str(self._rng.choice(self._defects)) if defective else None
        sample = render(self.product, self._rng, defect, self.size)
        return sample.image, defect, sample.mask

    def _render(self, exposed: float | None = None) -> Frame:
        image, defect, mask = self._pool[self._frame_id % len(self._pool)] if self._pool else self._sample()
        self._frame_id += 1
        self._stats.grabbed += 1
        truth = GroundTruth(defect=defect, mask=mask > 0 if defect else None)
        part = Part(f"{self.name}-{self._frame_id:06d}") if self.parts else None
        now = time.monotonic()
        exposed = now if exposed is None else exposed
        return Frame(id=self._frame_id, camera=self.name, timestamp=time.time() - (now - exposed), monotonic=exposed,
                     image=image, truth=truth, meta={"product": self.product}, part=part)
