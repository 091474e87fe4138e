"""Durable before visible: what the journal adds to each verdict, and how fast a backlog drains after an outage.

1. Release latency: inspections submitted at line rate (and in bursts) to the real writer on SQLite; the time
   from submit to the verdict's release (its record fsynced in the journal). Baseline in the same run: one
   fsynced file write of the same size, the least any durable release can cost on this disk.
2. Group commit: records per second journaled in batches against one fsync per record (the same records).
3. Drain: a private PostgreSQL (initdb/pg_ctl) is stopped for ``--outage-s`` while inspections keep coming,
   then started again: seconds to the first commit and until the backlog is drained.

Run: ``.venv/bin/python benchmarks/durability.py [--outage-s 60] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
logging.disable(logging.WARNING)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from inspector.domain.frame import Frame, GroundTruth  # noqa: E402
from inspector.domain.inspection import Decision, Inspection, ModelOutput, Reason, ReasonCode, Verdict  # noqa: E402
from inspector.storage.archive import write_atomic  # noqa: E402
from inspector.storage.database import default_sqlite_url  # noqa: E402
from inspector.storage.journal import Journal  # noqa: E402
from inspector.storage.migrate import upgrade  # noqa: E402
from inspector.storage.records import core_record  # noqa: E402
from inspector.storage.writer import InspectionWriter  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", type=int, default=200, help="inspections per latency run")
    parser.add_argument("--rate", type=float, default=20.0, help="parts per second at line rate")
    parser.add_argument("--outage-s", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--skip-drain", action="store_true")
    return parser


def inspection(i: int, rng: np.random.Generator) -> Inspection:
    image = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    heat = rng.random((256, 256), dtype=np.float32)
    output = ModelOutput("bench-bundle", float(heat.max()), heat, 0.5, 0.4, latency_ms=30.0)
    frame = Frame(i, "bench", time.time(), time.monotonic(), image, GroundTruth(None))
    decision = Decision(Verdict.FAIL, (Reason(ReasonCode.SCORE_OVER_THRESHOLD, "score over", "bench-bundle"),),
                        deciding=0)
    return Inspection(frame, "bench", "bench", 1, (output,), decision, {"total": 40.0})


def release_latency(folder: Path, parts: int, rate: float | None) -> list[float]:
    """Submit-to-release times (ms) at ``rate`` parts/s (None: all at once, a burst)."""
    folder.mkdir(parents=True)
    url = default_sqlite_url(folder)
    upgrade(url)
    writer = InspectionWriter(url, folder / "archive", folder / "journal", "bench")
    rng = np.random.default_rng(0)
    items = [inspection(i, rng) for i in range(parts)]
    submitted: dict[str, float] = {}
    latencies: list[float] = []
    done = threading.Event()

    def released(item: Inspection, durable: bool) -> None:
        latencies.append((time.perf_counter() - submitted[item.uid]) * 1000)
        if len(latencies) == parts:
            done.set()

    start = time.perf_counter()
    for n, item in enumerate(items):
        if rate:
            time.sleep(max(0.0, start + n / rate - time.perf_counter()))
        submitted[item.uid] = time.perf_counter()
        writer.submit(item, released)
    done.wait(120)
    writer.close(timeout=60)
    return latencies


def one_fsync_ms(folder: Path, size: int, repeats: int = 50) -> float:
    times = []
    for n in range(repeats):
        start = time.perf_counter()
        write_atomic(folder / f"f{n}.json", b"x" * size)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def journal_rate(folder: Path, records: list[dict], batch: int) -> float:
    journal = Journal(folder)
    start = time.perf_counter()
    for i in range(0, len(records), batch):
        journal.append_batch(records[i : i + batch])
    return len(records) / (time.perf_counter() - start)


def drain(outage_s: float, rate: float) -> tuple[float, float, int]:
    """(seconds to the first commit, seconds to drained, backlog) after a ``outage_s`` PostgreSQL outage."""
    from tests.postgres_server import PrivateCluster

    cluster = PrivateCluster()
    try:
        url = cluster.server.url()
        upgrade(url)
        with tempfile.TemporaryDirectory() as tmp:
            writer = InspectionWriter(url, Path(tmp) / "archive", Path(tmp) / "journal", "bench")
            rng = np.random.default_rng(1)
            stop = threading.Event()

            def line() -> None:
                n = 0
                while not stop.is_set():
                    writer.submit(inspection(n, rng))
                    n += 1
                    time.sleep(1 / rate)

            feeder = threading.Thread(target=line, daemon=True)
            feeder.start()
            time.sleep(2)
            cluster.stop()
            time.sleep(outage_s)
            backlog = writer.journaled
            logged = writer.logged
            cluster.start()
            back = time.perf_counter()
            first = drained = None
            while drained is None and time.perf_counter() - back < 300:
                if first is None and writer.logged > logged:
                    first = time.perf_counter() - back
                if writer.journaled <= rate:  # no more than a second of line output pending: caught up
                    drained = time.perf_counter() - back
                time.sleep(0.05)
            stop.set()
            feeder.join()
            writer.close(timeout=60)
        return first or float("nan"), drained or float("nan"), backlog
    finally:
        cluster.remove()


def main(args: argparse.Namespace) -> None:
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; best of {args.repeats}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        record = core_record(inspection(0, np.random.default_rng(0))).to_dict()
        size = len(Journal._encode([record]))
        base = min(one_fsync_ms(root / f"fsync{r}", size) for r in range(args.repeats))
        for name, rate in (("line rate", args.rate), ("burst", None)):
            runs = [release_latency(root / f"{name}{r}", args.parts, rate) for r in range(args.repeats)]
            p50 = min(float(np.percentile(r, 50)) for r in runs)
            p99 = min(float(np.percentile(r, 99)) for r in runs)
            label = f"{args.rate:g} parts/s" if rate else f"{args.parts} parts at once"
            print(f"release latency, {label}: p50 {p50:.2f} ms, p99 {p99:.2f} ms; one fsynced write "
                  f"{base:.2f} ms; p50 ratio {p50 / base:.2f}x")
        records = [record] * 256
        single = max(journal_rate(root / f"single{r}", records, 1) for r in range(args.repeats))
        grouped = max(journal_rate(root / f"group{r}", records, 32) for r in range(args.repeats))
        print(f"journal: {grouped:.0f} records/s in groups of 32 against {single:.0f} records/s one fsync each: "
              f"{grouped / single:.1f}x")
    if not args.skip_drain:
        results = [drain(args.outage_s, args.rate) for _ in range(args.repeats)]
        first = min(r[0] for r in results)
        drained = min(r[1] for r in results)
        print(f"after a {args.outage_s:.0f} s PostgreSQL outage at {args.rate:g} parts/s (backlog "
              f"{results[0][2]} inspections): first commit {first:.1f} s, drained {drained:.1f} s after the "
              f"database was back (target 15 s); all runs: "
              + ", ".join(f"{r[1]:.1f} s" for r in results))
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main(get_args_parser().parse_args())
