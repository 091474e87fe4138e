"""QA review queries at scale: keyset page and detail open against a naive baseline, on SQLite and PostgreSQL.

Fills a fresh database per backend with ``--rows`` inspections (bulk: executemany on SQLite, COPY on PostgreSQL;
indexes rebuilt after the load), then prints p50/p95 of a filtered page query (200 rows, keyset, at a random
depth) and of opening a detail (three queries plus decoding the PNGs), against the 200 ms target, and the same
pages fetched the naive way (OFFSET at the same depth; ORDER BY an unindexed expression; a full count), measured
in the same run, as ratios. Run: ``.venv/bin/python benchmarks/review_queries.py --rows 100000``.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, func, select, text

from inspector.review.context import ReviewContext
from inspector.review.queries import Cursor, ReviewFilter, Sort
from inspector.storage.archive import ArtifactStore, heatmap_overlay
from inspector.storage.database import default_sqlite_url, make_engine
from inspector.storage.migrate import upgrade
from inspector.storage.orm import InspectionRow

TARGET_MS = 200.0
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
START = datetime(2026, 1, 1, tzinfo=UTC)
SPAN_S = 30 * 86400
CLASSES = ("scratch", "crack", "dent", "stain")
COLUMNS = ("id", "uid", "frame_id", "camera", "station_id", "recipe_id", "bundle_id", "acquired_at", "created_at",
           "verdict", "reasons", "score", "image_threshold", "pixel_threshold", "latency_acquire_ms",
           "latency_inference_ms", "latency_decision_ms", "latency_total_ms", "latencies", "truth_defective",
           "truth_defect", "image_artifact_id", "heatmap_artifact_id", "thumbnail_artifact_id", "review_status",
           "review_class")


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="inspections to insert per backend")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--repeat", type=int, default=40, help="timed runs of each fast query")
    parser.add_argument("--naive-repeat", type=int, default=5, help="timed runs of each naive baseline query")
    parser.add_argument("--pg-url", default=PG_ADMIN, help="PostgreSQL database; a fresh schema is made and dropped")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="keep the SQLite database and artifacts in this folder "
                        "(e.g. to open it with `inspector review`)")
    return parser


def generate(n: int, seed: int) -> dict[str, np.ndarray]:
    """Column arrays of ``n`` inspections over 30 days: 3 stations, 3 recipes, 3 bundles, ~8 % FAIL."""
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.uniform(0, SPAN_S, n))
    at = np.datetime64(START.replace(tzinfo=None), "us") + (seconds * 1e6).astype("timedelta64[us]")
    score = np.round(rng.beta(2, 9, n) * 1.6, 5)
    fail = score >= 0.5
    status = np.full(n, "unreviewed", dtype=object)
    reviewed = fail & (rng.random(n) < 0.3)
    status[reviewed] = np.where(rng.random(reviewed.sum()) < 0.8, "confirmed", "false_positive")
    region_class = np.array(CLASSES, dtype=object)[rng.integers(0, len(CLASSES), n)]
    review_class = np.where(status == "confirmed", region_class, None)
    return {"id": np.arange(1, n + 1), "at": at, "score": score, "fail": fail, "status": status,
            "station": rng.integers(1, 4, n), "recipe": rng.integers(1, 4, n), "bundle": rng.integers(1, 4, n),
            "region_class": region_class, "review_class": review_class}


def rows(data: dict[str, np.ndarray], start: int, stop: int, sep: str) -> list[tuple]:
    """Tuples in COLUMNS order; ``sep`` is the date/time separator the backend stores."""
    stamps = np.datetime_as_string(data["at"][start:stop], unit="us")
    out = []
    for k, i in enumerate(range(start, stop)):
        fail = bool(data["fail"][i])
        stamp = stamps[k].replace("T", sep)
        out.append((int(data["id"][i]), f"b{i:09d}", i, f"cam{i % 2}", int(data["station"][i]),
                    int(data["recipe"][i]), int(data["bundle"][i]), stamp, stamp, "FAIL" if fail else "PASS",
                    '["score >= 0.50"]' if fail else "[]", float(data["score"][i]), 0.5, 0.4, 1.2, 18.0, 0.3, 21.0,
                    "{}", None, None, 1, 2, 1, data["status"][i], data["review_class"][i]))
    return out


def regions(data: dict[str, np.ndarray]) -> list[tuple]:
    return [(int(i), int(i), 20, 24, 30, 28, 840, float(data["score"][i - 1]), data["region_class"][i - 1])
            for i in data["id"][data["fail"]]]


def prepare_lookups(engine: Engine, store: ArtifactStore) -> None:
    """Stations, recipes, bundles, one user, and two real PNG artifacts every row points at."""
    rng = np.random.default_rng(0)
    image = rng.integers(60, 200, (256, 256, 3), dtype=np.uint8)
    stored = [store.put_png(image, "image"), store.put_png(heatmap_overlay(image, rng.random((256, 256))), "heatmap")]
    now = datetime.now(UTC).isoformat(" ")
    with engine.begin() as c:
        for i in (1, 2, 3):
            c.execute(text("INSERT INTO stations (id, name, created) VALUES (:i, :n, :t)"),
                      {"i": i, "n": f"line-{i}", "t": now})
            c.execute(text("INSERT INTO recipes (id, name, version, body) VALUES (:i, :n, 1, '{}')"),
                      {"i": i, "n": ("washer", "pcb", "fabric")[i - 1]})
            c.execute(text("INSERT INTO model_bundles (id, bundle_id, name, task, architecture, manifest, loaded_at) "
                           "VALUES (:i, :b, :b, 'anomaly', 'patchcore', '{}', :t)"), {"i": i, "b": f"b-{i}", "t": now})
        for i, a in enumerate(stored, 1):
            c.execute(text("INSERT INTO artifacts (id, kind, sha256, relpath, bytes, width, height, media_type) "
                           "VALUES (:i, :k, :s, :r, :b, 256, 256, 'image/png')"),
                      {"i": i, "k": a.kind, "s": a.sha256, "r": a.relpath, "b": a.bytes})


def inspection_indexes(engine: Engine) -> list[str]:
    return [str(ix.name) for ix in InspectionRow.__table__.indexes]


def load_sqlite(engine: Engine, data: dict[str, np.ndarray]) -> None:
    names = inspection_indexes(engine)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for name in names:
            cur.execute(f"DROP INDEX {name}")
        marks = ", ".join("?" * len(COLUMNS))
        for start in range(0, len(data["id"]), 100_000):
            cur.executemany(f"INSERT INTO inspections ({', '.join(COLUMNS)}) VALUES ({marks})",
                            rows(data, start, min(start + 100_000, len(data["id"])), " "))
        cur.executemany("INSERT INTO defect_regions (id, inspection_id, x, y, width, height, area, score, class_name)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", regions(data))
        raw.commit()
    finally:
        raw.close()
    for ix in InspectionRow.__table__.indexes:
        ix.create(engine)
    with engine.begin() as c:
        c.execute(text("ANALYZE"))


def _copy_text(records: list[tuple]) -> str:
    buffer = io.StringIO()
    for record in records:
        buffer.write("\t".join("\\N" if v is None else str(v) for v in record) + "\n")
    return buffer.getvalue()


def load_postgres(engine: Engine, data: dict[str, np.ndarray]) -> None:
    names = inspection_indexes(engine)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for name in names:
            cur.execute(f"DROP INDEX {name}")
        for start in range(0, len(data["id"]), 100_000):
            chunk = rows(data, start, min(start + 100_000, len(data["id"])), " ")
            chunk = [r[:7] + (r[7] + "+00", r[8] + "+00") + r[9:] for r in chunk]
            with cur.copy(f"COPY inspections ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                copy.write(_copy_text(chunk))
        with cur.copy("COPY defect_regions (id, inspection_id, x, y, width, height, area, score, class_name) "
                      "FROM STDIN") as copy:
            copy.write(_copy_text(regions(data)))
        raw.commit()
    finally:
        raw.close()
    for ix in InspectionRow.__table__.indexes:
        ix.create(engine)
    with engine.begin() as c:
        c.execute(text("ANALYZE"))


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    fn()  # warm-up (plans, caches)
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def report(name: str, values: list[float], baseline: list[float] | None = None, target: bool = True) -> None:
    p50, p95 = pct(values, 50), pct(values, 95)
    verdict = "ok " if p95 <= TARGET_MS else "SLOW"
    line = f"  {name:<60} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms"
    line += f"  [{verdict} vs {TARGET_MS:.0f} ms]" if target else ""
    if baseline is not None:
        line += f"  naive/keyset x{statistics.median(baseline) / max(p50, 1e-6):,.0f}"
    print(line, flush=True)


def measure(ctx: ReviewContext, data: dict[str, np.ndarray], args: argparse.Namespace) -> None:
    n, rnd = len(data["id"]), random.Random(args.seed)

    def when(i: int) -> datetime:
        return data["at"][i].item().replace(tzinfo=UTC)

    def anchor() -> tuple[int, Cursor]:
        i = rnd.randrange(n // 4, n)
        return n - i, Cursor(when(i), int(data["id"][i]))

    station_fail = ReviewFilter(station="line-2", verdict="FAIL")
    cases = {
        "page, newest first, random depth": lambda: ctx.queries.page(ReviewFilter(), Sort("time"), anchor()[1], 200),
        "page, station+FAIL, newest first": lambda: ctx.queries.page(station_fail, Sort("time"), None, 200),
        "page, station+FAIL, random depth": lambda: ctx.queries.page(station_fail, Sort("time"), anchor()[1], 200),
        "page, score >= 0.6, highest score first": lambda: ctx.queries.page(ReviewFilter(min_score=0.6),
                                                                              Sort("score"), None, 200),
        "page, class=dent, last 24 h, newest first": lambda: ctx.queries.page(
            ReviewFilter(defect_class="dent", start=when(n - 1) - timedelta(days=1)), Sort("time"), None, 200),
    }
    depth = n // 2
    with ctx.sessions() as session:
        naive = {
            "OFFSET page at depth n/2": timed(lambda: session.scalars(
                select(InspectionRow).order_by(InspectionRow.acquired_at.desc(), InspectionRow.id.desc())
                .offset(depth).limit(200)).unique().all(), args.naive_repeat),
            "ORDER BY unindexed expression (score * 1.0)": timed(lambda: session.execute(
                select(InspectionRow.id).order_by((InspectionRow.score * 1.0).desc(), InspectionRow.id.desc())
                .limit(200)).all(), args.naive_repeat),
            "full count(*) of the filtered rows": timed(lambda: session.scalar(
                select(func.count()).select_from(InspectionRow).where(InspectionRow.verdict == "FAIL")),
                args.naive_repeat),
        }
    keyset_depth = timed(lambda: ctx.queries.page(ReviewFilter(), Sort("time"), Cursor(
        when(n - depth), int(data["id"][n - depth])), 200), args.repeat)
    report("keyset page at depth n/2", keyset_depth, naive["OFFSET page at depth n/2"])
    keyset_score = timed(lambda: ctx.queries.page(ReviewFilter(), Sort("score"), None, 200), args.repeat)
    report("page by score, highest first (index on score, id)", keyset_score,
           naive["ORDER BY unindexed expression (score * 1.0)"])
    for name, fn in cases.items():
        report(name, timed(fn, args.repeat))
    report("open a detail (3 queries + 2 PNG decodes)",
           timed(lambda: ctx.detail_with_pictures(rnd.randrange(1, n + 1)), args.repeat))
    report("open a detail, queries only", timed(lambda: ctx.detail(rnd.randrange(1, n + 1)), args.repeat))
    print("  off the 200 ms path (worker thread, shown when ready):")
    report("count, station+FAIL (status bar)", timed(lambda: ctx.queries.count(station_fail), 5), target=False)
    report("charts: hourly yield, histogram, Pareto, what-if (all rows)",
           timed(lambda: ctx.charts.all(ReviewFilter()), 2), target=False)
    print("  naive baseline, same run:")
    for name, values in naive.items():
        report(name, values, target=False)


def run_backend(kind: str, args: argparse.Namespace, data: dict[str, np.ndarray], work: Path) -> None:
    schema = None
    if kind == "sqlite":
        if args.keep:
            work = args.keep
        url = default_sqlite_url(work)
    else:
        import psycopg

        schema = f"bench_review_{uuid.uuid4().hex[:8]}"
        try:
            with psycopg.connect(args.pg_url.replace("+psycopg", ""), autocommit=True, connect_timeout=3) as c:
                c.execute(f'CREATE SCHEMA "{schema}"')
        except psycopg.OperationalError as exc:
            print(f"postgresql: skipped ({str(exc).splitlines()[0]})")
            return
        url = f"{args.pg_url}?options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        engine = make_engine(url)
        store = ArtifactStore(work / ("artifacts" if kind == "sqlite" else "artifacts-pg"))
        prepare_lookups(engine, store)
        t = time.perf_counter()
        (load_sqlite if kind == "sqlite" else load_postgres)(engine, data)
        print(f"{kind}: loaded {len(data['id']):,} inspections + {int(data['fail'].sum()):,} regions "
              f"and rebuilt indexes in {time.perf_counter() - t:.1f} s", flush=True)
        engine.dispose()
        ctx = ReviewContext(url, "bench", store.root, migrate=False)
        try:
            measure(ctx, data, args)
        finally:
            ctx.close()
    finally:
        if schema:
            import psycopg

            with psycopg.connect(args.pg_url.replace("+psycopg", ""), autocommit=True) as c:
                c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main(args: argparse.Namespace) -> None:
    data = generate(args.rows, args.seed)
    print(f"{args.rows:,} inspections, {int(data['fail'].sum()):,} FAIL; page = 200 rows; target {TARGET_MS:.0f} ms")
    with tempfile.TemporaryDirectory(prefix="review-bench-") as tmp:
        for kind in [b.strip() for b in args.backends.split(",") if b.strip()]:
            run_backend(kind, args, data, Path(tmp))


if __name__ == "__main__":
    main(get_args_parser().parse_args())
