"""The model bundle manifest: the contract between training and the station."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

SCHEMA_VERSION = 1
MAX_BATCH = 64  # the most images a dynamic-batch runtime program takes in one call
MANIFEST_NAME = "manifest.json"
EQUIVALENCE_NAME = "equivalence.json"
EQUIVALENCE_INPUTS_NAME = "equivalence_inputs.npy"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Strict):
    """What the runtimes take: N x 3 x height x width float32, RGB, normalised."""

    height: int = Field(gt=0)
    width: int = Field(gt=0)
    channels: Literal[3] = 3
    color: Literal["RGB"] = "RGB"
    dtype: Literal["float32"] = "float32"
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize: Literal["area", "linear"] = "area"


class ThresholdSpec(_Strict):
    value: float = Field(allow_inf_nan=False)
    method: str
    detail: str


class RuntimeSpec(_Strict):
    """One runtime file and how to run it."""

    name: Literal["torch", "onnxruntime", "openvino"]
    file: str
    format: str
    devices: tuple[str, ...]
    outputs: tuple[str, ...] = ("pred_score", "anomaly_map")
    dynamic_batch: bool = False  # True: the program takes batches (1 to MAX_BATCH images); False: one image a call


class DatasetSpec(_Strict):
    fingerprint: str
    layout: str
    category: str | None = None
    train_images: int
    test_images: int
    skipped_files: int = 0


class EquivalenceSpec(_Strict):
    """Scores of a fixed sample set per runtime, compared with the training-time model."""

    samples: int
    tolerance_rel: float
    max_rel_diff: dict[str, float]
    passed: bool


class TilingSpec(_Strict):
    """The bundle was trained on tiles: frames are resized by ``scale``, then cut into ``tile`` x ``tile`` tiles
    (the input side) overlapping by ``overlap`` pixels of the resized frame (``inspector.inference.tiling``)."""

    tile: int = Field(gt=0)
    overlap: int = Field(ge=0)
    scale: float = Field(gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _overlap_below_tile(self) -> TilingSpec:
        if self.overlap >= self.tile:
            raise ValueError(f"overlap {self.overlap} must be less than the tile side {self.tile}")
        return self


class Manifest(_Strict):
    schema_version: Literal[1] = SCHEMA_VERSION
    name: str
    bundle_id: str
    task: Literal["anomaly", "classification", "detection", "segmentation"]
    architecture: str
    backbone: str
    input: InputSpec
    class_names: tuple[str, ...]
    image_threshold: ThresholdSpec
    pixel_threshold: ThresholdSpec
    metrics: dict
    dataset: DatasetSpec
    versions: dict[str, str]
    created: datetime
    runtimes: tuple[RuntimeSpec, ...]
    equivalence: EquivalenceSpec
    files: dict[str, str] = Field(description="sha256 of every other file in the bundle, by relative path")
    tiling: TilingSpec | None = None  # None: the whole frame is resized to the input (every bundle before tiling)

    @model_validator(mode="after")
    def _tile_is_the_input(self) -> Manifest:
        if self.tiling is None:
            return self
        if self.task != "anomaly":
            raise ValueError(f"tiling is for anomaly bundles; this one's task is {self.task}")
        if (self.tiling.tile, self.tiling.tile) != (self.input.height, self.input.width):
            raise ValueError(f"tile side {self.tiling.tile} is not the input size "
                             f"{self.input.width}x{self.input.height}")
        return self

    @model_serializer(mode="wrap")
    def _leave_out_no_tiling(self, handler):
        """An untiled manifest is written without ``tiling``, so stations older than tiling still read it."""
        data = handler(self)
        if isinstance(data, dict) and data.get("tiling", ...) is None:
            data.pop("tiling")
        return data

    def runtime(self, name: str) -> RuntimeSpec:
        for spec in self.runtimes:
            if spec.name == name:
                return spec
        raise KeyError(f"bundle {self.name} has no {name} runtime (has {[r.name for r in self.runtimes]})")
