"""Event-loop stalls of the operator window while the real station runs at camera rate.

The window runs offscreen with the real station: the simulated camera at 20 fps, a real bundle (the demo bundle,
or ``--bundle``), the writer logging to SQLite in a temporary folder. A 5 ms precise QTimer records the gaps
between its ticks; a gap well over 5 ms is the UI thread being busy or starved. It prints the max and p99 gap
against the 50 ms target, for the running station and, as a baseline measured in the same run, for the same
window with the station stopped, and the ratio. Run: ``.venv/bin/python benchmarks/gui_event_loop_stall.py``.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
logging.disable(logging.WARNING)

import numpy as np  # noqa: E402
from PySide6.QtCore import QEventLoop, Qt, QTimer  # noqa: E402
from station_config import write_station_config  # noqa: E402 - benchmarks/station_config.py, beside this script

from inspector.gui.app import make_application  # noqa: E402
from inspector.gui.qt_station_window import QtStationWindow  # noqa: E402
from inspector.gui.station_controller import RUNNING, STOPPED, StationController  # noqa: E402

TICK_MS = 5
TARGET_MS = 50.0


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=Path("models/demo-washer-patchcore"))
    parser.add_argument("--seconds", type=float, default=20.0, help="measured with the station running")
    parser.add_argument("--baseline-seconds", type=float, default=8.0, help="measured with the station stopped")
    parser.add_argument("--hidden-seconds", type=float, default=0.0,
                        help="also measure with the station running and the window hidden (attribution)")
    parser.add_argument("--fps", type=float, default=20.0, help="simulated line rate")
    parser.add_argument("--runtime", default="onnxruntime")
    return parser


def write_config(root: Path, bundle: Path, fps: float, runtime: str) -> Path:
    return write_station_config(root, bundle, fps=fps, runtime=runtime)


class StallMeter:
    """A 5 ms precise timer; ``gaps`` are the milliseconds between consecutive ticks."""

    def __init__(self, window: QtStationWindow) -> None:
        self.window, self.gaps, self.shown = window, [], 0
        self._last = None
        self._last_frame = None
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.gaps.append((now - self._last) * 1000)
        self._last = now
        if self.window.last_frame is not self._last_frame:
            self._last_frame = self.window.last_frame
            self.shown += 1

    def measure(self, seconds: float) -> tuple[np.ndarray, int]:
        """Run the event loop for ``seconds``; the tick gaps and how many new frames the window showed."""
        self.gaps, self.shown, self._last = [], 0, None
        self.timer.start()
        loop = QEventLoop()
        QTimer.singleShot(round(seconds * 1000), loop.quit)
        loop.exec()
        self.timer.stop()
        return np.asarray(self.gaps), self.shown


def spin_until(condition, timeout_s: float) -> float:
    start = time.monotonic()
    loop = QEventLoop()
    while not condition():
        if time.monotonic() - start > timeout_s:
            raise SystemExit(f"timed out after {timeout_s:.0f} s")
        QTimer.singleShot(20, loop.quit)
        loop.exec()
    return time.monotonic() - start


def row(name: str, gaps: np.ndarray, extra: str = "") -> tuple[float, float]:
    worst, p99 = float(gaps.max()), float(np.percentile(gaps, 99))
    print(f"{name:<18} {len(gaps):>7} {np.mean(gaps):>8.1f} {p99:>8.1f} {worst:>8.1f}   {extra}")
    return worst, p99


def main(args: argparse.Namespace) -> None:
    if not (args.bundle / "manifest.json").is_file():
        raise SystemExit(f"{args.bundle}: no bundle; run `make demo` first or pass --bundle")
    app = make_application()
    with tempfile.TemporaryDirectory(prefix="gui-stall-") as tmp:
        controller = StationController(write_config(Path(tmp), args.bundle, args.fps, args.runtime))
        window = QtStationWindow(controller)
        window.resize(1600, 1000)
        window.show()
        meter = StallMeter(window)
        print(f"bundle {args.bundle}, sim camera {args.fps:g} fps, tick {TICK_MS} ms, target max gap "
              f"{TARGET_MS:.0f} ms, platform {app.platformName()}, {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.1f}")
        print(f"{'phase':<18} {'ticks':>7} {'mean ms':>8} {'p99 ms':>8} {'max ms':>8}")
        base_max, base_p99 = row("stopped (baseline)", meter.measure(args.baseline_seconds)[0])
        controller.start()
        started = time.monotonic()
        spin_until(lambda: controller.state == RUNNING or controller.startup_alarm, 300)
        if controller.state != RUNNING:
            raise SystemExit(controller.startup_alarm)
        print(f"(station built and started in {time.monotonic() - started:.1f} s on a worker thread)")
        meter.measure(1.0)  # warm-up: first frames, first layout at the display size
        before = controller.counters.snapshot()
        gaps, shown = meter.measure(args.seconds)
        after = controller.counters.snapshot()
        inspected = after.inspected - before.inspected
        run_max, run_p99 = row("running", gaps, f"{inspected / args.seconds:.1f} inspections/s, "
                                                f"{shown / args.seconds:.1f} frames/s shown")
        if args.hidden_seconds > 0:  # attribution: the station's own load on this machine, nothing painted
            window.hide()
            row("running, hidden", meter.measure(args.hidden_seconds)[0], "window hidden: no painting")
            window.show()
        controller.stop()
        stop_s = spin_until(lambda: controller.state == STOPPED, 120)
        controller.shutdown(wait=True)
        window.close()
    verdict = "PASS" if run_max <= TARGET_MS else "FAIL"
    print(f"(stopped in {stop_s:.1f} s; dropped frames {after.dropped_total}, logged to SQLite; "
          f"load average now {os.getloadavg()[0]:.1f})")
    print(f"running vs stopped: max gap {run_max:.1f} / {base_max:.1f} ms = {run_max / base_max:.2f}x, "
          f"p99 {run_p99:.1f} / {base_p99:.1f} ms = {run_p99 / base_p99:.2f}x")
    print(f"{verdict}: longest stall {run_max:.1f} ms with the station running (target {TARGET_MS:.0f} ms)")


if __name__ == "__main__":
    args = get_args_parser().parse_args()
    main(args)
