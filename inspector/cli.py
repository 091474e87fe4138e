"""``inspector``: run the station, list cameras, manage the database, look up inspections."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from inspector.cli_access import register_access_commands
from inspector.cli_common import DEFAULT_CONFIG, ConfigOption, DatabaseOption, _run, _url, console, err

os.environ.setdefault("HF_HUB_OFFLINE", "1")

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Automated visual inspection station.")
cameras_app = typer.Typer(no_args_is_help=True, help="GenICam cameras.")
db_app = typer.Typer(no_args_is_help=True, help="The inspection database.")
inspections_app = typer.Typer(no_args_is_help=True, help="Logged inspections.")
app.add_typer(cameras_app, name="cameras")
app.add_typer(db_app, name="db")
app.add_typer(inspections_app, name="inspections")
register_access_commands(app, db_app)
@app.callback()
def _setup(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(message)s")


def _counters_table(snapshot, writer) -> Table:
    table = Table("frames", "pass", "fail", "dropped", "insp/s", "p50 ms", "p99 ms", "logged", "journaled")
    fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    table.add_row(str(snapshot.inspected), str(snapshot.passed), str(snapshot.failed), str(snapshot.dropped_total),
                  f"{snapshot.rate:.1f}", fmt(snapshot.latency_p50_ms), fmt(snapshot.latency_p99_ms),
                  str(writer.logged), str(writer.journaled))
    return table


@app.command()
def run(
    config: ConfigOption = DEFAULT_CONFIG,
    headless: Annotated[bool, typer.Option(help="Run without the window (the default); --no-headless opens the "
                                                "operator window, as `inspector station` does.")] = True,
    frames: Annotated[int | None, typer.Option(help="Stop after this many inspections.")] = None,
    camera: Annotated[str | None, typer.Option(help="sim, genicam or replay:PATH (overrides the config).")] = None,
    line: LineOption = None,
    line_sim: Annotated[bool, typer.Option(help="Also run the simulated PLC against the first opcua or modbus "
                                                "adapter (a demo line).")] = False,
) -> None:
    """Run the station: acquisition -> inference -> decision -> database, with live counters.

    Ctrl+C or SIGTERM (how a service manager stops it) runs the orderly close: stop acquisition, inspect
    what is in the pipeline, close the writer, the line I/O and the camera. Exit code 0: everything logged;
    1: inspections still journaled (written on the next start); 3: a fault lost something or held the station
    (verdicts without a record, images not written, HOLD): the summary says what and how many.
    """
    if not headless:
        station(config=config, camera=camera, line=line, line_sim=line_sim)
        return
    lines = tuple(line or ())
    out = err if "stdout" in lines else console

    def action() -> int:
        from inspector.access.station import station_access
        from inspector.station.runtime import StationRuntime

        runtime = StationRuntime(config, camera, lines, station_access(config)[0])  # start and stop are audited
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            runtime.start(frames)
            if line_sim:
                from inspector.station.line import start_demo_plc

                start_demo_plc(runtime, frames)
            with Live(_counters_table(runtime.counters.snapshot(), runtime.parts.writer), console=out,
                      refresh_per_second=2, transient=not out.is_terminal) as live:
                while not stop.is_set() and not runtime.wait(0.5):
                    live.update(_counters_table(runtime.counters.snapshot(), runtime.parts.writer))
                    if frames is None and not runtime.running:
                        break
            if stop.is_set():
                out.print("stopping...")
            parts = runtime.parts
            report = runtime.close()
        finally:
            runtime.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return _summary(runtime.counters.snapshot(), parts, report, out)

    _run(action)


def _summary(snapshot, parts, report, console: Console) -> int:
    from inspector.storage.database import mask_url

    writer, camera = parts.writer, parts.camera
    console.print(_counters_table(snapshot, writer))
    dropped = ", ".join(f"{k}: {v}" for k, v in snapshot.dropped.items()) or "none"
    console.print(f"frames {snapshot.inspected} | pass {snapshot.passed} | fail {snapshot.failed} | "
                  f"dropped {snapshot.dropped_total} ({dropped}) | {snapshot.rate:.2f} inspections/s | "
                  f"p50 {snapshot.latency_p50_ms or 0:.1f} ms | p99 {snapshot.latency_p99_ms or 0:.1f} ms",
                  highlight=False, soft_wrap=True)
    if snapshot.fail_reasons:
        console.print("fail by reason: " + ", ".join(f"{k} {v}" for k, v in sorted(snapshot.fail_reasons.items())),
                      highlight=False, soft_wrap=True)
    if snapshot.truth_known:
        console.print(f"ground truth: {snapshot.agreement:.1%} of {snapshot.truth_known} verdicts agree; "
                      f"escapes {snapshot.escapes}, false rejects {snapshot.false_rejects}", highlight=False)
    console.print(f"logged {writer.logged} to {mask_url(parts.url)}; still journaled {writer.journaled}; "
                  f"camera {camera.name}: {camera.stats.grabbed} grabbed, {camera.stats.reconnects} reconnects",
                  highlight=False, soft_wrap=True)
    console.print(f"closed: {report}", highlight=False, soft_wrap=True)
    for warning in (*camera.stats.warnings, *parts.notices):
        err.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    faults = [f"HOLD: {reason}" for reason in report.held]
    if report.unrecorded:
        faults.append(f"{report.unrecorded} verdicts were released REJECT without a record (journal: "
                      f"{writer.journal_error or 'refused'})")
    if report.artifacts_missing:
        faults.append(f"{report.artifacts_missing} inspections are logged without their images "
                      f"({writer.archive_error})")
    for fault in faults:
        err.print(f"[bold red]fault:[/] {fault}", highlight=False, soft_wrap=True)
    if faults:
        return 3
    if writer.journaled:
        err.print(f"[yellow]warning:[/] {writer.journaled} inspections are journaled but not yet in the database; "
                  "they will be written on the next start", highlight=False)
        return 1
    return 0


@app.command("line-sim")
def line_sim_command(
    protocol: Annotated[str, typer.Option(help="opcua or modbus.")] = "opcua",
    parts: Annotated[int, typer.Option(min=1, help="Parts to trigger.")] = 100,
    rate: Annotated[float, typer.Option(min=0.01, help="Parts per second.")] = 10.0,
    lot: Annotated[str | None, typer.Option(help="Lot of the parts (part ids and serials carry it).")] = None,
    endpoint: Annotated[str | None, typer.Option(
        help="opc.tcp://host:port/path for OPC UA, host:port for Modbus; the defaults match the station's.")] = None,
    grace_s: Annotated[float, typer.Option(help="How long to wait for the last verdicts.")] = 10.0,
) -> None:
    """A simulated PLC: triggers parts with serials, waits for each verdict, and ends with one summary line:
    parts=N verdicts=V pass=P reject=R missing=M late=L p50_ms=.. p99_ms=.."""

    def action() -> int:
        from inspector.integration.line_sim import simulate

        if protocol not in ("opcua", "modbus"):
            raise typer.BadParameter(f"--protocol {protocol!r}: expected opcua or modbus")
        try:
            result = simulate(protocol, parts, rate, lot, endpoint, grace_s)
        except (OSError, ConnectionError, TimeoutError) as exc:
            err.print(f"[bold red]error:[/] {protocol} station at {endpoint or 'the default endpoint'} not reachable"
                      f" ({exc.__class__.__name__}: {exc})", highlight=False, soft_wrap=True)
            return 2
        print(result.summary(), flush=True)
        if result.lost_connection:
            err.print(f"[yellow]warning:[/] the station went away mid-run ({result.lost_connection})",
                      highlight=False, soft_wrap=True)
        if result.duplicates:
            err.print(f"[bold red]error:[/] {result.duplicates} parts got more than one verdict", highlight=False)
        return 0 if len(result.verdicts) == result.parts and not result.duplicates else 1

    _run(action)


def _has_display() -> bool:
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or platform in ("offscreen", "vnc")


LineOption = Annotated[list[str] | None, typer.Option(
    "--line", help="Turn a line I/O adapter on (repeatable): opcua, modbus, mqtt, stdout (one JSON line per verdict "
                   "on standard output). Settings come from the config's line section.")]


@app.command()
def station(
    config: ConfigOption = DEFAULT_CONFIG,
    camera: Annotated[str | None, typer.Option(help="sim, genicam or replay:PATH (overrides the config).")] = None,
    line: LineOption = None,
    line_sim: Annotated[bool, typer.Option(help="Also run the simulated PLC against this station's first line "
                                                "adapter (opcua or modbus): the demo line.")] = False,
    fullscreen: Annotated[bool, typer.Option(help="Start full screen.")] = False,
    headless_frames: Annotated[int, typer.Option(help="Frames to inspect when there is no display.")] = 300,
    user: Annotated[str | None, typer.Option(hidden=True, help="Ignored: people log in at the window.")] = None,
) -> None:
    """The operator station window; with no display it says so and runs headless for a fixed number of frames.
    People log in at the window; what they may do follows their role (see `inspector users`)."""
    if not _has_display():
        err.print(f"no display found (DISPLAY is not set): running the station headless for {headless_frames} "
                  "frames instead of opening the window", highlight=False)
        run(config=config, headless=True, frames=headless_frames, camera=camera, line=line, line_sim=line_sim)
        return

    def action() -> int:
        from inspector.gui.app import run_station

        return run_station(config, camera=camera, fullscreen=fullscreen, lines=tuple(line or ()),
                           line_sim=line_sim)

    _run(action)


@app.command()
def review(
    config: ConfigOption = DEFAULT_CONFIG,
    database: Annotated[str | None, typer.Option("--database", help="Database URL (overrides the config).")] = None,
    user: Annotated[str, typer.Option(help="The user name the login dialog starts with.")] = os.environ.get(
        "USER", ""),
) -> None:
    """The QA review window over the inspection database (SQLite or PostgreSQL), after a login by a user whose
    role may review."""

    def action() -> int:
        from inspector.gui.review.app import run_review

        return run_review(_url(config, database), user=user)

    _run(action)


@cameras_app.command("list")
def cameras_list(producer: Annotated[str | None, typer.Option(help="GenTL producer (.cti) path.")] = None) -> None:
    """List GenICam devices visible through the GenTL producer(s)."""

    def action() -> int:
        from inspector.camera.genicam import default_producer_paths, list_devices

        devices = list_devices(default_producer_paths(producer))
        table = Table("#", "id", "serial", "model", "vendor", "user name")
        for i, d in enumerate(devices):
            table.add_row(str(i), d.id, d.serial or "", d.model or "", d.vendor or "", d.user_name or "")
        console.print(table)
        console.print(f"{len(devices)} device(s)")
        return 0 if devices else 1

    _run(action)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = DEFAULT_CONFIG, database: DatabaseOption = None) -> None:
    """Create or migrate the database schema to the current version."""

    def action() -> int:
        from inspector.station.factory import prepare_database
        from inspector.storage.database import mask_url
        from inspector.storage.migrate import current

        url = _url(config, database)
        prepare_database(url)
        console.print(f"{mask_url(url)} is at revision {current(url)}")
        return 0

    _run(action)


def _review(config: Path, database: str | None):
    from inspector.review.context import ReviewContext

    return ReviewContext(_url(config, database), "inspector-cli (read only)")


@inspections_app.command("list")
def inspections_list(
    config: ConfigOption = DEFAULT_CONFIG, database: DatabaseOption = None,
    verdict: Annotated[str | None, typer.Option(help="PASS or FAIL.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 20,
) -> None:
    """The newest inspections (the QA review's query)."""

    def action() -> int:
        from inspector.review.queries import ReviewFilter

        ctx = _review(config, database)
        try:
            rows = ctx.queries.page(ReviewFilter(verdict=verdict.upper() if verdict else None), limit=limit).rows
        finally:
            ctx.close()
        table = Table("id", "acquired", "station", "recipe", "bundle", "verdict", "score", "review", "class")
        for r in rows:
            table.add_row(str(r.id), r.acquired_at.strftime("%Y-%m-%d %H:%M:%S"), r.station,
                          f"{r.recipe} v{r.recipe_version}", r.bundle or "-", r.verdict,
                          "-" if r.score is None else f"{r.score:.3f}", r.review_status, r.defect_class or "")
        console.print(table)
        return 0

    _run(action)


@inspections_app.command("show")
def inspections_show(
    inspection_id: int, config: ConfigOption = DEFAULT_CONFIG, database: DatabaseOption = None
) -> None:
    """One inspection with every model's result, its regions, artifacts, latencies and reviews."""

    def action() -> int:
        ctx = _review(config, database)
        try:
            d = ctx.detail(inspection_id)
        finally:
            ctx.close()
        if d is None:
            err.print(f"[bold red]error:[/] no inspection with id {inspection_id}")
            return 2
        out = lambda text: console.print(text, highlight=False, soft_wrap=True)  # noqa: E731
        out(f"inspection {d.id} frame {d.frame_id} camera {d.camera} at {d.acquired_at.isoformat()}")
        out(f"verdict {d.verdict} [{', '.join(d.reason_codes) or '-'}]: {'; '.join(d.reasons)}")
        out(f"recipe {d.recipe} v{d.recipe_version}; headline score {d.score} (bundle {d.bundle or '-'})")
        for m in d.models:
            out(f"model {m.position + 1} {m.bundle}: score {m.score} image threshold {m.image_threshold} "
                f"pixel threshold {m.pixel_threshold}" + (f" ERROR {m.error}" if m.error else "")
                + ("" if m.latency_ms is None else f" ({m.latency_ms:.1f} ms)"))
        out(f"latencies ms: {d.latencies_ms}")
        if d.part_id is not None:
            out(f"part {d.part_id} serial {d.serial or '-'} lot {d.lot or '-'}")
        absent = d.artifacts.replace("_", " ") + ": " + (d.artifacts_error or "?")  # missing, not kept, evicted
        out(f"image {d.image or absent}" + (f"; {d.heatmap_kind or 'heatmap'} {d.heatmap}" if d.heatmap else ""))
        for g in d.regions:
            out(f"region {g.class_name} at {g.x},{g.y} {g.width}x{g.height} area {g.area} score {g.score:.3f}")
        for r in d.reviews:
            out(f"review {r.at.isoformat()} {r.user}: {r.action} {r.class_name or ''} {r.comment or ''}".rstrip())
        return 0

    _run(action)


@inspections_app.command("export")
def inspections_export(
    csv_path: Annotated[Path, typer.Option("--csv", help="CSV file to write.")],
    config: ConfigOption = DEFAULT_CONFIG, database: DatabaseOption = None,
    verdict: Annotated[str | None, typer.Option(help="PASS or FAIL.")] = None,
) -> None:
    """Export inspections as CSV, newest first (the QA review's CSV layout)."""

    def action() -> int:
        from inspector.review.export import write_csv
        from inspector.review.queries import ReviewFilter

        ctx = _review(config, database)
        try:
            written = write_csv(ctx, csv_path, ReviewFilter(verdict=verdict.upper() if verdict else None))
        finally:
            ctx.close()
        console.print(f"wrote {written} rows to {csv_path}")
        return 0

    _run(action)


def main() -> None:
    app(prog_name="inspector")


if __name__ == "__main__":
    sys.exit(main())
