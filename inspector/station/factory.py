"""Composition root: turn a validated config into a running station (camera, models, database, writer)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from inspector.bundle.store import BundleError, open_bundle
from inspector.config import LINE_ADAPTERS, ConfigError, PipelineSection, StationConfig, load_recipe
from inspector.domain.camera import Camera, CameraError
from inspector.domain.line import LineIO
from inspector.domain.recipe import Recipe
from inspector.inference.anomaly import AnomalyModel
from inspector.inference.bundle_model import BundleModel
from inspector.inference.runtimes import cuda_available
from inspector.inference.supervised import SupervisedModel
from inspector.station.capacity import capacity_notice
from inspector.station.errors import (
    CameraUnavailable,
    ConfigInvalid,
    DatabaseUnreachable,
    ModelRefused,
    RecipeUnsigned,
)
from inspector.station.loop import LoopSettings, Station
from inspector.station.parts import PartTracker
from inspector.storage import InspectionWriter, SqlAlchemyUnitOfWork, check_connection, default_sqlite_url
from inspector.storage.database import DatabaseUnavailable, make_engine, make_session_factory, mask_url
from inspector.storage.migrate import upgrade
from inspector.storage.writer import MB, JournalLimits

log = logging.getLogger(__name__)


def database_url(config: StationConfig) -> str:
    """The database URL: ``database.url`` (or ``INSPECTOR_DATABASE_URL``), else the 0600 ``url_file``, else the
    embedded SQLite; ``sslmode`` is added for PostgreSQL. Never logged unmasked."""
    db = config.database
    url = db.url
    if url is None and db.url_file is not None:
        path = db.url_file.expanduser()
        if not path.is_file():
            raise ConfigInvalid(f"database.url_file {path}: file not found")
        if path.stat().st_mode & 0o077:
            raise ConfigInvalid(f"database.url_file {path}: readable by others; the file holds a password "
                                f"(chmod 600 {path})")
        url = path.read_text(encoding="utf-8").strip()
    url = url or default_sqlite_url(config.station.data_dir)
    if db.sslmode and url.startswith(("postgresql", "postgres")) and "sslmode=" not in url:
        url += ("&" if "?" in url else "?") + f"sslmode={db.sslmode}"
    return url


def trusted_keys(config: StationConfig) -> dict:
    """The public keys whose bundle signatures this station accepts."""
    from inspector.bundle.signing import default_key_path, load_public_keys, public_path

    paths = list(config.security.trusted_keys) or [public_path(default_key_path())]
    try:
        return load_public_keys(paths)
    except BundleError as exc:
        if config.security.trusted_keys:
            raise ModelRefused(f"security.trusted_keys: {exc}") from exc
        return {}


def check_recipe_signature(path: Path, url: str | None) -> None:
    """Refuse a recipe file whose content no engineer signed (with the database down: the signature record
    beside it)."""
    from inspector.access.recipes import RecipeBook, sidecar_problem
    from inspector.access.service import AccessService

    if url is None:
        problem = sidecar_problem(path)
    else:
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        try:
            problem = RecipeBook(AccessService(lambda: SqlAlchemyUnitOfWork(sessions))).problem(path)
        finally:
            engine.dispose()
    if problem is not None:
        raise RecipeUnsigned(f"{problem}; an engineer must sign it: inspector recipe sign {path} --meaning "
                             "\"approved recipe\" --user NAME")


class MigrationFailed(DatabaseUnreachable):
    """The database answers but cannot be migrated: never started around."""

    prefix = "database migration failed"
    alarm_prefix = "Database migration failed – station not started"


def prepare_database(url: str) -> None:
    """Check the database is reachable and migrate it to the current schema."""
    try:
        check_connection(url)
    except DatabaseUnavailable as exc:
        raise DatabaseUnreachable(str(exc)) from exc
    try:
        upgrade(url)
    except Exception as exc:  # noqa: BLE001 - any migration failure stops the start with its reason
        raise MigrationFailed(f"{mask_url(url)}: {exc}") from exc


def make_camera(config: StationConfig, override: str | None = None,
                recipe_features: dict[str, object] | None = None, triggered: bool = False) -> Camera:
    """Build the configured camera; ``override`` is ``sim``, ``genicam`` or ``replay:PATH``.

    ``recipe_features`` (the recipe's ``camera_features``) are set on a GenICam device over the config's own
    features; the device's missing features, and every feature on a camera that has none, become warnings.
    """
    kind, _, path = (override or config.camera.kind).partition(":")
    cam = config.camera
    features = dict(recipe_features or {})
    if kind == "sim":
        from inspector.camera.simulated import SimulatedCamera

        s = cam.sim
        camera: Camera = SimulatedCamera(s.product, s.fps, s.defect_fraction, s.seed, s.size, pool=s.pool,
                                         parts=s.parts, triggered=triggered if s.triggered is None else s.triggered)
    elif kind == "replay":
        from inspector.camera.replay import ReplayCamera

        source = Path(path) if path else cam.replay.path
        if source is None:
            raise ConfigInvalid("replay camera: no path given (use --camera replay:PATH or camera.replay.path)")
        camera = ReplayCamera(source, fps=cam.replay.fps, loop=cam.replay.loop)
    elif kind == "genicam":
        from inspector.camera.devices import GenICamSettings
        from inspector.camera.genicam import GenICamCamera

        g = cam.genicam
        return GenICamCamera(GenICamSettings(producer=g.producer, serial=g.serial, model=g.model,
                                             user_name=g.user_name, device_id=g.device_id,
                                             num_buffers=g.num_buffers, fetch_timeout_s=g.fetch_timeout_s,
                                             features={**g.features, **features}))
    else:
        raise ConfigInvalid(f"camera {override or kind!r}: expected sim, genicam or replay:PATH")
    for name, value in features.items():
        camera.stats.warnings.append(f"{camera.name}: has no GenICam features; recipe camera feature "
                                     f"{name}={value!r} ignored")
    for warning in camera.stats.warnings:
        log.warning(warning)
    return camera


def inference_plan(pipeline: PipelineSection, cores: int | None = None) -> tuple[int, int | None]:
    """(inference workers, CPU runtime threads per call) for the config's pipeline.

    On ONNX Runtime on the CPU, two workers with half the cores each score two frames at once: on two cores that
    gives 1.2x the frames per second of one call spread over both (benchmarks/station_throughput.py), and a
    worker waiting on the writer's share of the CPU does not stall the other. Torch and CUDA keep one worker.
    """
    cores = cores or os.cpu_count() or 1
    workers = pipeline.inference_workers
    if workers is None:
        cpu_onnx = pipeline.runtime == "onnxruntime" or (
            pipeline.runtime == "auto" and not pipeline.device.startswith("cuda") and not cuda_available())
        workers = 2 if cpu_onnx and cores >= 2 else 1
    threads = pipeline.inference_threads or (max(1, cores // workers) if workers > 1 else None)
    return workers, threads


def load_models(recipe: Recipe, runtime: str = "auto", device: str = "auto", threads: int | None = None,
                trusted: dict | None = None) -> list[BundleModel]:
    """Open, verify and bind each recipe bundle to its thresholds and the recipe's minimum area; the manifest's
    task picks the anomaly or the supervised runner. With ``trusted`` keys (None: unsigned bundles allowed), each
    bundle's signature must be by one of them."""
    from inspector.bundle.signing import verify_bundle

    models = []
    for rule in recipe.models:
        try:
            bundle = open_bundle(rule.bundle)
            if trusted is not None:
                try:
                    verify_bundle(bundle.root, trusted)
                except BundleError:
                    bundle.close()
                    raise
            runner = AnomalyModel if bundle.manifest.task == "anomaly" else SupervisedModel
            models.append(runner(bundle, runtime, None if device == "auto" else device, threads=threads,
                                 image_threshold=rule.image_threshold, pixel_threshold=rule.pixel_threshold,
                                 min_area=max(1, recipe.min_defect_area),
                                 override_calibration=rule.override_calibration))
        except BundleError as exc:
            raise ModelRefused(str(exc)) from exc
        unknown = sorted(set(rule.reject_classes) - set(bundle.manifest.class_names))
        if unknown:
            raise ModelRefused(f"recipe {recipe.name!r}: reject_classes {unknown} are not classes of bundle "
                               f"{rule.bundle} (it has {list(bundle.manifest.class_names)})")
    return models


def register_bundles(engine: Engine, models: list[BundleModel]) -> None:
    """Rows for the recipe's bundles with their manifests (stations racing on a shared database both win)."""
    with SqlAlchemyUnitOfWork(make_session_factory(engine)) as uow:
        for model in models:
            m = model.bundle.manifest
            uow.bundles.get_or_create(m.bundle_id, m.name, m.task, m.architecture, json.loads(m.model_dump_json()))
        uow.commit()


def database_preparation(models: list[BundleModel]) -> Callable[[Engine], None]:
    """What the writer does the first time the database answers: migrate it, register the bundles."""

    def prepare(engine: Engine) -> None:
        upgrade(engine)
        register_bundles(engine, models)

    return prepare


def writer_for(config: StationConfig, url: str, models: list[BundleModel], prepared: bool,
               recipe: Recipe | None = None) -> InspectionWriter:
    """The writer; ``recipe``'s archive policy chooses which pictures it keeps (every FAIL, a sample of PASSes)."""
    w = config.writer
    limits = JournalLimits(max_entries=w.journal_max_entries, max_bytes=int(w.journal_max_mb * MB),
                           free_warn_bytes=int(w.free_warn_mb * MB), free_hold_bytes=int(w.free_hold_mb * MB))
    quota = config.station.archive_max_mb
    writer = InspectionWriter(url, config.station.archive, config.station.journal, config.station.name,
                              batch_size=w.batch_size, flush_interval_s=w.flush_interval_s, retry_max_s=w.retry_max_s,
                              limits=limits, prepare=None if prepared else database_preparation(models),
                              archive_policy=None if recipe is None else recipe.archive,
                              archive_max_bytes=None if quota is None else int(quota * MB))
    if recipe is not None:
        writer.use_recipe(recipe)
    return writer


def make_line_io(name: str, config: StationConfig) -> LineIO:
    """One line I/O adapter by name, configured from the station config's ``line`` section."""
    line = config.line
    if name == "opcua":
        from inspector.integration.opcua import OpcUaLine

        return OpcUaLine(line.opcua.endpoint, config.station.name)
    if name == "modbus":
        from inspector.integration.modbus import ModbusLine

        return ModbusLine(line.modbus.host, line.modbus.port)
    if name == "mqtt":
        from inspector.integration.mqtt import MqttLine

        m = line.mqtt
        return MqttLine(config.station.name, m.outbox_dir or config.station.data_dir / "mqtt-outbox", m.host, m.port,
                        m.topic_prefix, m.keepalive_s)
    if name == "stdout":
        from inspector.integration.stdout import StdoutLine

        return StdoutLine()
    raise ConfigInvalid(f"line I/O {name!r}: expected one of {', '.join(LINE_ADAPTERS)}")


@dataclass
class StationParts:
    station: Station
    writer: InspectionWriter
    url: str
    models: list[BundleModel]
    notices: tuple[str, ...] = ()  # set-up findings for the operator (the models too slow for the camera)

    @property
    def camera(self) -> Camera:
        return self.station.camera


def build_station(config: StationConfig, camera_override: str | None = None,
                  tracker: PartTracker | None = None) -> StationParts:
    """Validate everything that can fail before any thread starts: recipe, bundles, database, camera."""
    try:
        _, recipe = load_recipe(config.recipe)
    except ConfigError as exc:
        raise ConfigInvalid(str(exc)) from exc
    trusted = None if config.security.allow_unsigned_bundles else trusted_keys(config)
    workers, threads = inference_plan(config.pipeline)
    models = load_models(recipe, config.pipeline.runtime, config.pipeline.device, threads, trusted)
    if config.pipeline.inference_workers is None and any(m.runtime.name != "onnxruntime" for m in models):
        workers = 1  # torch keeps its own thread pool per call
    url = database_url(config)
    config.station.data_dir.mkdir(parents=True, exist_ok=True)  # the one folder the station creates itself
    prepared = True
    try:
        prepare_database(url)
    except DatabaseUnreachable as exc:
        if config.database.require_at_start or isinstance(exc, MigrationFailed):
            raise
        log.warning("%s; starting anyway: inspections are journaled until it answers", exc)
        prepared = False
    if config.security.require_signed_recipes:
        check_recipe_signature(Path(config.recipe), url if prepared else None)
    try:
        camera = make_camera(config, camera_override, recipe.camera_features, triggered=tracker is not None)
    except CameraError as exc:
        raise CameraUnavailable(str(exc)) from exc
    writer = writer_for(config, url, models, prepared, recipe)
    if prepared:
        register_bundles(writer.engine, models)
    settings = LoopSettings(queue_size=config.pipeline.queue_size, backpressure=config.pipeline.backpressure,
                            max_batch=config.pipeline.max_batch, workers=workers)
    station = Station(config.station.name, camera, models, recipe, writer, settings, tracker=tracker)
    free_running = tracker is None and not getattr(camera, "triggered", False)
    notice = capacity_notice(models, workers, getattr(camera, "fps", None) if free_running else None)
    if notice:
        log.warning(notice)
    return StationParts(station=station, writer=writer, url=url, models=models, notices=(notice,) if notice else ())

