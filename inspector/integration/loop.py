"""An asyncio event loop on its own thread, and the base of the PLC servers (asyncua, pymodbus) on it."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any

from inspector.domain.line import LineControl, LineIOStatus, LineState
from inspector.integration.handshake import ResultQueue

log = logging.getLogger(__name__)


class LoopThread:
    """``run(coro)`` schedules on the loop from any thread; ``stop()`` ends the loop and joins the thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        self.loop.close()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
        """Run ``coro`` on the loop and wait for its result."""
        return self.run(coro).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)


class LoopServer:
    """What the station's PLC servers share: their loop thread, ``start`` and ``close`` around the subclass's
    ``_serve`` and ``_stop`` coroutines, and the status with the PLC heartbeat's age."""

    name = ""
    protocol = ""  # as the operator reads it: "OPC UA", "Modbus"
    start_timeout_s = 30.0

    def __init__(self) -> None:
        self.control = LineControl()
        self.results = ResultQueue()
        self.state = LineState.STOPPED
        self.sent = 0
        self.error: str | None = None
        self._loop: LoopThread | None = None
        self._plc_heartbeat_at: float | None = None

    def where(self) -> str:
        raise NotImplementedError

    def serving(self) -> bool:
        raise NotImplementedError

    async def _serve(self) -> None:
        raise NotImplementedError

    async def _stop(self) -> None:
        raise NotImplementedError

    def start(self, control: LineControl) -> None:
        self.control = control
        self._loop = LoopThread(f"line-{self.name}")
        try:
            self._loop.call(self._serve(), timeout=self.start_timeout_s)
        except Exception as exc:
            self._loop.stop()
            raise OSError(f"{self.protocol} server on {self.where()} did not start: {exc}") from exc

    def status(self) -> LineIOStatus:
        age = None if self._plc_heartbeat_at is None else time.monotonic() - self._plc_heartbeat_at
        detail = f"{self.where()} · line sees {self.state} · {self.sent:,} results"
        return LineIOStatus(self.name, self.error is None and self.serving(), self.error or detail,
                            peer=self.where(), heartbeat_age_s=age)

    def close(self) -> None:
        if self._loop is None:
            return
        try:
            self._loop.call(self._stop(), timeout=10)
        except Exception as exc:  # noqa: BLE001 - closing must go on
            log.warning("%s server did not stop cleanly: %s", self.protocol, exc)
        self._loop.stop()
        self._loop = None
