"""Database calls off the GUI thread: one worker thread, results delivered on the GUI thread by a queued signal."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

log = logging.getLogger(__name__)


class QtDbWorker(QObject):
    """``submit(fn, on_done, on_error)``: ``fn`` runs on the worker thread, the callbacks on the GUI thread.

    Jobs run one at a time in submission order, so a review is stored before the page that shows it is reloaded.
    """

    _finished = Signal(int, object, object)
    busy_changed = Signal(bool)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="review-db")
        self._callbacks: dict[int, tuple[Callable[[Any], None] | None, Callable[[BaseException], None] | None]] = {}
        self._next = 0
        self._closed = False
        self._finished.connect(self._deliver)

    @property
    def pending(self) -> int:
        return len(self._callbacks)

    def idle(self) -> bool:
        return not self._callbacks

    def submit(self, fn: Callable[[], Any], on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[BaseException], None] | None = None) -> int:
        if self._closed:
            return -1
        token, self._next = self._next, self._next + 1
        self._callbacks[token] = (on_done, on_error)
        if len(self._callbacks) == 1:
            self.busy_changed.emit(True)
        self._pool.submit(fn).add_done_callback(lambda future, t=token: self._emit(t, future))
        return token

    def _emit(self, token: int, future: Future) -> None:
        if future.cancelled():  # shut down before it ran
            return
        error = future.exception()
        try:
            self._finished.emit(token, None if error else future.result(), error)
        except RuntimeError:  # the worker object is gone (window closed): nobody waits for the result
            pass

    @Slot(int, object, object)
    def _deliver(self, token: int, result: Any, error: BaseException | None) -> None:
        on_done, on_error = self._callbacks.pop(token, (None, None))
        if not self._callbacks:
            self.busy_changed.emit(False)
        if error is not None:
            if on_error is not None:
                on_error(error)
            else:
                log.warning("database job failed: %s", error, exc_info=error)
                self.failed.emit(f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
        elif on_done is not None:
            on_done(result)

    def shutdown(self, wait: bool = True) -> None:
        self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)
