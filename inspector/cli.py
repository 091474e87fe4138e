"""``inspector``: run the station, list cameras, manage the database, look up inspections."""

from __future__ import annotations

import csv
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

os.environ.setdefault("HF_HUB_OFFLINE", "1")

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Automated visual inspection station.")
cameras_app = typer.Typer(no_args_is_help=True, help="GenICam cameras.")
db_app = typer.Typer(no_args_is_help=True, help="The inspection database.")
inspections_app = typer.Typer(no_args_is_help=True, help="Logged inspections.")
users_app = typer.Typer(no_args_is_help=True, help="Station users and their roles (qa and admin may review).")
app.add_typer(cameras_app, name="cameras")
app.add_typer(db_app, name="db")
app.add_typer(inspections_app, name="inspections")
app.add_typer(users_app, name="users")
console = Console()
err = Console(stderr=True)
DEFAULT_CONFIG = Path("configs/station.yaml")
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Station configuration file.")]


def _user_errors() -> tuple[type[BaseException], ...]:
    from inspector.bundle.store import BundleError
    from inspector.config import ConfigError
    from inspector.domain.camera import CameraError
    from inspector.review.access import UnknownRole
    from inspector.station.factory import StartupError
    from inspector.storage.database import DatabaseUnavailable

    return (ConfigError, StartupError, BundleError, CameraError, DatabaseUnavailable, FileNotFoundError, UnknownRole)


def _run(action: Callable[[], int | None]) -> None:
    try:
        code = action() or 0
    except _user_errors() as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


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
    headless: Annotated[bool, typer.Option(help="Run without the GUI (the only mode so far).")] = True,
    frames: Annotated[int | None, typer.Option(help="Stop after this many inspections.")] = None,
    camera: Annotated[str | None, typer.Option(help="sim, genicam or replay:PATH (overrides the config).")] = None,
) -> None:
    """Run the station: acquisition -> inference -> decision -> database, with live counters."""

    def action() -> int:
        from inspector.config import load_station_config
        from inspector.station.factory import build_station

        cfg = load_station_config(config)
        parts = build_station(cfg, camera)
        station, writer = parts.station, parts.writer
        try:
            station.start(frames)
            with Live(_counters_table(station.counters.snapshot(), writer), console=console,
                      refresh_per_second=2, transient=not console.is_terminal) as live:
                while not station.wait(0.5):
                    live.update(_counters_table(station.counters.snapshot(), writer))
                    if frames is None and not station.running:
                        break
        except KeyboardInterrupt:
            console.print("stopping...")
        finally:
            station.stop()
            writer.close(timeout=30)
        return _summary(station.counters.snapshot(), writer, parts.url, station.camera)

    _run(action)


def _summary(snapshot, writer, url: str, camera) -> int:
    from inspector.storage.database import mask_url

    console.print(_counters_table(snapshot, writer))
    dropped = ", ".join(f"{k}: {v}" for k, v in snapshot.dropped.items()) or "none"
    console.print(f"frames {snapshot.inspected} | pass {snapshot.passed} | fail {snapshot.failed} | "
                  f"dropped {snapshot.dropped_total} ({dropped}) | {snapshot.rate:.2f} inspections/s | "
                  f"p50 {snapshot.latency_p50_ms or 0:.1f} ms | p99 {snapshot.latency_p99_ms or 0:.1f} ms",
                  highlight=False, soft_wrap=True)
    if snapshot.truth_known:
        console.print(f"ground truth: {snapshot.agreement:.1%} of {snapshot.truth_known} verdicts agree; "
                      f"escapes {snapshot.escapes}, false rejects {snapshot.false_rejects}", highlight=False)
    console.print(f"logged {writer.logged} to {mask_url(url)}; still journaled {writer.journaled}; "
                  f"camera {camera.name}: {camera.stats.grabbed} grabbed, {camera.stats.reconnects} reconnects",
                  highlight=False, soft_wrap=True)
    if writer.journaled:
        err.print(f"[yellow]warning:[/] {writer.journaled} inspections are journaled but not yet in the database; "
                  "they will be written on the next start", highlight=False)
        return 1
    return 0


def _has_display() -> bool:
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or platform in ("offscreen", "vnc")


@app.command()
def station(
    config: ConfigOption = DEFAULT_CONFIG,
    camera: Annotated[str | None, typer.Option(help="sim, genicam or replay:PATH (overrides the config).")] = None,
    fullscreen: Annotated[bool, typer.Option(help="Start full screen.")] = False,
    headless_frames: Annotated[int, typer.Option(help="Frames to inspect when there is no display.")] = 300,
    user: Annotated[str, typer.Option(help="Who is at the station; users with the qa or admin role get the QA "
                                           "review button (see `inspector users`).")] = os.environ.get("USER", ""),
) -> None:
    """The operator station window; with no display it says so and runs headless for a fixed number of frames."""
    if not _has_display():
        err.print(f"no display found (DISPLAY is not set): running the station headless for {headless_frames} "
                  "frames instead of opening the window", highlight=False)
        run(config=config, headless=True, frames=headless_frames, camera=camera)
        return

    def action() -> int:
        from inspector.gui.app import run_station

        return run_station(config, camera=camera, fullscreen=fullscreen, user=user)

    _run(action)


@app.command()
def review(
    config: ConfigOption = DEFAULT_CONFIG,
    database: Annotated[str | None, typer.Option("--database", help="Database URL (overrides the config).")] = None,
    user: Annotated[str, typer.Option(help="Reviewer name recorded with each review.")] = os.environ.get(
        "USER", "qa"),
) -> None:
    """The QA review window over the inspection database (SQLite or PostgreSQL)."""

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


def _url(config: Path, database: str | None) -> str:
    from inspector.config import load_station_config
    from inspector.station.factory import database_url

    return database or database_url(load_station_config(config))


DatabaseOption = Annotated[str | None, typer.Option("--database", help="Database URL (overrides the config).")]


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


@users_app.command("set")
def users_set(name: Annotated[str, typer.Argument(help="User name.")],
              role: Annotated[str, typer.Option(help="operator, qa, ml or admin.")] = "operator",
              config: ConfigOption = DEFAULT_CONFIG, database: DatabaseOption = None) -> None:
    """Add a user or change a user's role (audited)."""

    def action() -> int:
        from inspector.review.access import set_role

        user = set_role(_url(config, database), name, role)
        console.print(f"{user.name}: {user.role}", highlight=False)
        return 0

    _run(action)


@users_app.command("list")
def users_list(config: ConfigOption = DEFAULT_CONFIG, database: DatabaseOption = None) -> None:
    """Users and their roles."""

    def action() -> int:
        from inspector.review.access import list_users

        table = Table("user", "role")
        for user in list_users(_url(config, database)):
            table.add_row(user.name, user.role)
        console.print(table)
        return 0

    _run(action)


def _session(url: str):
    from inspector.storage.database import check_connection, make_engine, make_session_factory
    from inspector.storage.unit_of_work import SqlAlchemyUnitOfWork

    check_connection(url)
    return SqlAlchemyUnitOfWork(make_session_factory(make_engine(url)))


@inspections_app.command("list")
def inspections_list(
    config: ConfigOption = DEFAULT_CONFIG, database: DatabaseOption = None,
    verdict: Annotated[str | None, typer.Option(help="PASS or FAIL.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 20,
) -> None:
    """The newest inspections."""

    def action() -> int:
        from inspector.storage.repositories import InspectionFilter, Page

        with _session(_url(config, database)) as uow:
            rows = uow.inspections.list(InspectionFilter(verdict=verdict.upper() if verdict else None),
                                        Page(0, limit))
            table = Table("id", "acquired", "station", "recipe", "verdict", "score", "truth", "total ms")
            for r in rows:
                table.add_row(str(r.id), r.acquired_at.strftime("%Y-%m-%d %H:%M:%S"), r.station.name,
                              f"{r.recipe.name} v{r.recipe.version}", r.verdict,
                              "-" if r.score is None else f"{r.score:.3f}", r.truth_defect or "",
                              "-" if r.latency_total_ms is None else f"{r.latency_total_ms:.0f}")
            console.print(table)
        return 0

    _run(action)


@inspections_app.command("show")
def inspections_show(
    inspection_id: int, config: ConfigOption = DEFAULT_CONFIG, database: DatabaseOption = None
) -> None:
    """One inspection with its regions, artifacts and latencies."""

    def action() -> int:
        with _session(_url(config, database)) as uow:
            r = uow.inspections.get(inspection_id)
            if r is None:
                err.print(f"[bold red]error:[/] no inspection with id {inspection_id}")
                return 2
            console.print(f"inspection {r.id} frame {r.frame_id} camera {r.camera} at {r.acquired_at.isoformat()}")
            console.print(f"verdict {r.verdict}: {'; '.join(r.reasons)}", highlight=False)
            console.print(f"score {r.score} image threshold {r.image_threshold} pixel threshold {r.pixel_threshold}")
            bundle = r.bundle.bundle_id if r.bundle else "-"
            console.print(f"recipe {r.recipe.name} v{r.recipe.version}; bundle {bundle}")
            console.print(f"latencies ms: {r.latencies}", highlight=False)
            console.print(f"image {r.image.relpath} sha256 {r.image.sha256}")
            if r.heatmap:
                console.print(f"heatmap {r.heatmap.relpath} sha256 {r.heatmap.sha256}")
            for g in r.regions:
                console.print(f"region {g.class_name} at {g.x},{g.y} {g.width}x{g.height} area {g.area} "
                              f"score {g.score:.3f}")
        return 0

    _run(action)


@inspections_app.command("export")
def inspections_export(
    csv_path: Annotated[Path, typer.Option("--csv", help="CSV file to write.")],
    config: ConfigOption = DEFAULT_CONFIG, database: DatabaseOption = None,
    verdict: Annotated[str | None, typer.Option(help="PASS or FAIL.")] = None,
) -> None:
    """Export inspections as CSV (newest first)."""

    def action() -> int:
        from inspector.storage.repositories import InspectionFilter, Page

        filters = InspectionFilter(verdict=verdict.upper() if verdict else None)
        written = 0
        with _session(_url(config, database)) as uow, csv_path.open("w", newline="", encoding="utf-8") as handle:
            out = csv.writer(handle)
            out.writerow(["id", "acquired_at", "station", "recipe", "recipe_version", "bundle", "verdict", "score",
                          "image_threshold", "truth_defect", "latency_total_ms", "image_sha256", "reasons"])
            offset = 0
            while rows := uow.inspections.list(filters, Page(offset, 1000)):
                for r in rows:
                    out.writerow([r.id, r.acquired_at.isoformat(), r.station.name, r.recipe.name, r.recipe.version,
                                  r.bundle.bundle_id if r.bundle else "", r.verdict, r.score, r.image_threshold,
                                  r.truth_defect or "", r.latency_total_ms, r.image.sha256, " | ".join(r.reasons)])
                written += len(rows)
                offset += len(rows)
        console.print(f"wrote {written} rows to {csv_path}")
        return 0

    _run(action)


def main() -> None:
    app(prog_name="inspector")


if __name__ == "__main__":
    sys.exit(main())
