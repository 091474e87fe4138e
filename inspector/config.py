"""Station and recipe configuration: YAML files validated by pydantic, with environment overrides.

Environment: ``INSPECTOR_DATABASE_URL`` overrides ``database.url``; any field can be overridden with
``INSPECTOR_<SECTION>__<FIELD>`` (for example ``INSPECTOR_CAMERA__KIND=genicam``); an unknown section or field
is an error. ``INSPECTOR_*`` names without ``__`` (``INSPECTOR_ARTIFACTS``, ...) belong to other commands.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from inspector.domain.recipe import ArchivePolicy, ModelRule, Recipe, Roi

ENV_PREFIX = "INSPECTOR_"


class ConfigError(Exception):
    """A configuration file is missing or invalid; the message names file, field, value and expectation."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StationSection(_Section):
    name: str = Field("station-1", min_length=1)
    data_dir: Path = Path("data/station")
    journal_dir: Path | None = None  # None: <data_dir>/journal
    archive_dir: Path | None = None  # None: <data_dir>/artifacts
    archive_max_mb: float | None = Field(None, gt=0, allow_inf_nan=False)  # None: no quota; over it, oldest evicted

    @property
    def journal(self) -> Path:
        return self.journal_dir or self.data_dir / "journal"

    @property
    def archive(self) -> Path:
        return self.archive_dir or self.data_dir / "artifacts"


class DatabaseSection(_Section):
    url: str | None = None  # None: SQLite under station.data_dir (or url_file)
    url_file: Path | None = None  # a file holding the URL with its password; must be mode 0600
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = None
    require_at_start: bool = False  # False: start without it, journal, and drain once it answers


class SimCameraSection(_Section):
    product: str = "washer"
    fps: float = Field(20.0, gt=0, le=1000)
    defect_fraction: float = Field(0.2, ge=0, le=1)
    seed: int = 0
    size: int = Field(256, ge=32, le=4096)
    parts: bool = False  # part mode: each frame is a part; none go by unseen, a dropped one is logged FAIL
    triggered: bool | None = None  # a part per trigger from the line; None: when a line adapter gives triggers
    pool: int = Field(0, ge=0, le=10_000)  # parts rendered up front and cycled; 0 renders every part live


class GenICamSection(_Section):
    producer: str | None = None
    serial: str | None = None
    model: str | None = None
    user_name: str | None = None
    device_id: str | None = None
    num_buffers: int = Field(8, ge=1, le=256)
    fetch_timeout_s: float = Field(1.0, gt=0, le=60)
    features: dict[str, Any] = Field(default_factory=dict)


class ReplaySection(_Section):
    path: Path | None = None
    fps: float | None = Field(None, gt=0)
    loop: bool = True


class CameraSection(_Section):
    kind: Literal["sim", "genicam", "replay"] = "sim"
    sim: SimCameraSection = SimCameraSection()
    genicam: GenICamSection = GenICamSection()
    replay: ReplaySection = ReplaySection()

    @model_validator(mode="after")
    def _replay_needs_path(self) -> CameraSection:
        if self.kind == "replay" and self.replay.path is None:
            raise ValueError("camera.kind is replay but camera.replay.path is not set")
        return self


class PipelineSection(_Section):
    queue_size: int = Field(8, ge=1, le=1024)
    backpressure: Literal["drop_oldest", "drop_newest", "block"] = "drop_oldest"
    runtime: Literal["auto", "torch", "onnxruntime"] = "auto"
    device: str = "auto"
    inference_threads: int | None = Field(None, ge=1, le=256)
    inference_workers: int | None = Field(None, ge=1, le=64)  # None: 2 on a CPU ONNX Runtime with 2+ cores, else 1
    max_batch: int = Field(4, ge=1, le=64)


class WriterSection(_Section):
    batch_size: int = Field(32, ge=1, le=10_000)
    flush_interval_s: float = Field(0.5, gt=0, le=60)
    retry_max_s: float = Field(5.0, gt=0, le=5)
    journal_max_entries: int = Field(100_000, ge=10)
    journal_max_mb: float = Field(2048, gt=0, allow_inf_nan=False)
    free_warn_mb: float = Field(1024, ge=0, allow_inf_nan=False)
    free_hold_mb: float = Field(256, ge=0, allow_inf_nan=False)


class OpcUaSection(_Section):
    endpoint: str = Field("opc.tcp://127.0.0.1:4840/inspector/", pattern=r"^opc\.tcp://")


class ModbusSection(_Section):
    host: str = "127.0.0.1"
    port: int = Field(5020, ge=1, le=65535)


class MqttSection(_Section):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    topic_prefix: str = Field("inspector", min_length=1)
    keepalive_s: int = Field(15, ge=2, le=3600)
    outbox_dir: Path | None = None  # None: <data_dir>/mqtt-outbox


LINE_ADAPTERS = ("opcua", "modbus", "mqtt", "stdout")
TRIGGERING = ("opcua", "modbus")  # adapters a PLC triggers parts through


class LineSection(_Section):
    adapters: list[Literal["opcua", "modbus", "mqtt", "stdout"]] = Field(default_factory=list)
    frame_timeout_ms: float = Field(3000, gt=0, allow_inf_nan=False)
    frame_latency_ms: float = Field(500, gt=0, allow_inf_nan=False)
    heartbeat_timeout_s: float = Field(5.0, gt=0, allow_inf_nan=False)
    opcua: OpcUaSection = OpcUaSection()
    modbus: ModbusSection = ModbusSection()
    mqtt: MqttSection = MqttSection()


class SecuritySection(_Section):
    trusted_keys: list[Path] = Field(default_factory=list)  # []: the local signing key's public key
    allow_unsigned_bundles: bool = False  # True only where nothing decides (development): unsigned models load
    require_signed_recipes: bool = True  # a recipe file whose content no engineer signed is refused at start
    idle_logout_s: float = Field(900, gt=0, allow_inf_nan=False)  # the windows log out after this long idle
    max_failed_logins: int = Field(5, ge=1, le=100)
    lockout_minutes: float = Field(15, gt=0, allow_inf_nan=False)


class StationConfig(_Section):
    station: StationSection = StationSection()
    database: DatabaseSection = DatabaseSection()
    camera: CameraSection = CameraSection()
    recipe: Path = Path("configs/recipes/washer.yaml")
    pipeline: PipelineSection = PipelineSection()
    writer: WriterSection = WriterSection()
    line: LineSection = LineSection()
    security: SecuritySection = SecuritySection()


class RoiSection(_Section):
    x0: float = Field(0.0, ge=0, le=1)
    y0: float = Field(0.0, ge=0, le=1)
    x1: float = Field(1.0, ge=0, le=1)
    y1: float = Field(1.0, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> RoiSection:
        if self.x1 <= self.x0 or self.y1 <= self.y0:
            raise ValueError(f"roi must have x0 < x1 and y0 < y1, got {self.x0},{self.y0} .. {self.x1},{self.y1}")
        return self


class ModelSection(_Section):
    bundle: Path
    image_threshold: float | None = Field(None, allow_inf_nan=False)
    pixel_threshold: float | None = Field(None, allow_inf_nan=False)
    override_calibration: bool = False  # True: a threshold more than 10x from the bundle's calibrated one is meant
    use_image_score: bool = True
    use_regions: bool = True
    reject_classes: list[str] = Field(default_factory=list)


class ArchiveSection(_Section):
    pass_every: int = Field(50, ge=0, le=1_000_000)  # keep the full pictures of 1 PASS in N (1: all, 0: none)
    pass_thumbnails: bool = True  # a PASS whose pictures are not kept still gets its thumbnail


class RecipeConfig(_Section):
    name: str = Field(min_length=1)
    id: int | None = Field(None, ge=0, le=65535)  # what the PLC selects this recipe by
    version: int = Field(1, ge=1)
    models: list[ModelSection] = Field(min_length=1)
    combine: Literal["any", "all"] = "any"
    roi: RoiSection | None = None
    min_defect_area: int = Field(0, ge=0)
    deadline_ms: float = Field(1000.0, gt=0, allow_inf_nan=False)
    camera_features: dict[str, Any] = Field(default_factory=dict)
    archive: ArchiveSection = ArchiveSection()  # every FAIL keeps its pictures; PASSes are sampled

    def to_domain(self, base: Path) -> Recipe:
        """Domain recipe; bundle paths are resolved against ``base`` (the recipe's folder or cwd)."""
        rules = tuple(
            ModelRule(
                bundle=str(m.bundle if m.bundle.is_absolute() or (Path.cwd() / m.bundle).exists() else base / m.bundle),
                image_threshold=m.image_threshold,
                pixel_threshold=m.pixel_threshold,
                use_image_score=m.use_image_score,
                use_regions=m.use_regions,
                reject_classes=tuple(m.reject_classes),
                override_calibration=m.override_calibration,
            )
            for m in self.models
        )
        roi = Roi(self.roi.x0, self.roi.y0, self.roi.x1, self.roi.y1) if self.roi else None
        return Recipe(self.name, self.version, rules, self.combine, roi, self.min_defect_area, self.deadline_ms,
                      dict(self.camera_features), self.id,
                      ArchivePolicy(self.archive.pass_every, self.archive.pass_thumbnails))


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"{path}: cannot be read as UTF-8 text ({exc.__class__.__name__})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())  # one line, whatever YAML says
        raise ConfigError(f"{path}:{where} not valid YAML ({problem})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level, got {type(data).__name__}")
    return data


def _format_error(path: Path, exc: ValidationError, source: str = "") -> ConfigError:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "(top level)"
    value = first.get("input")
    shown = "" if isinstance(value, dict) else f" = {value!r}"
    return ConfigError(f"{path}{source}: field {field}{shown}: {first['msg']}")


def _env_overrides(environ: dict[str, str]) -> dict:
    overrides: dict = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX):].lower()
        if name != "database_url" and "__" not in name:
            continue  # INSPECTOR_ARTIFACTS, INSPECTOR_REVIEW_CLASSES, ...: settings of other commands
        parts = ["database", "url"] if name == "database_url" else name.split("__")
        node = overrides
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(value) if value else value
    return overrides


def _merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _merge(merged.get(key) or {}, value) if isinstance(value, dict) else value
    return merged


def load_station_config(path: Path | str, environ: dict[str, str] | None = None) -> StationConfig:
    """Read, override from the environment, and validate ``station.yaml``."""
    path = Path(path)
    environ = dict(os.environ if environ is None else environ)
    data = _read_yaml(path)
    overrides = _env_overrides(environ)
    try:
        StationConfig.model_validate(data)
    except ValidationError as exc:
        raise _format_error(path, exc) from exc
    try:
        return StationConfig.model_validate(_merge(data, overrides))
    except ValidationError as exc:
        raise _format_error(path, exc, " (with INSPECTOR_* environment overrides)") from exc


def load_recipe(path: Path | str) -> tuple[RecipeConfig, Recipe]:
    path = Path(path)
    try:
        config = RecipeConfig.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise _format_error(path, exc) from exc
    return config, config.to_domain(path.parent)
