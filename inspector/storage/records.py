"""The flat, JSON-serialisable form of one inspection: what the journal holds and the repository inserts."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from inspector.domain.inspection import DefectRegion, Inspection, ModelOutput
from inspector.render import colour_scale
from inspector.storage.archive import ANOMALY_MAP_MAX_SIDE, ArtifactStore, StoredArtifact, thumbnail

LATENCY_KEYS = ("acquire", "inference", "decision", "total")


@dataclass(frozen=True)
class RegionRecord:
    x: int
    y: int
    width: int
    height: int
    area: int
    score: float
    class_name: str = "anomaly"

    @classmethod
    def from_region(cls, region: DefectRegion) -> RegionRecord:
        return cls(int(region.x), int(region.y), int(region.width), int(region.height), int(region.area),
                   float(region.score), str(region.class_name))


@dataclass(frozen=True)
class ModelRecord:
    """One model's result in an inspection, in recipe order: what it scored and what it was judged against."""

    position: int
    bundle_id: str
    score: float | None
    image_threshold: float | None
    pixel_threshold: float | None
    error: str | None = None
    latency_ms: float | None = None

    @classmethod
    def from_output(cls, position: int, output: ModelOutput) -> ModelRecord:
        return cls(position, str(output.model), _optional_float(output.score), _optional_float(output.image_threshold),
                   _optional_float(output.pixel_threshold), None if output.error is None else str(output.error),
                   float(output.latency_ms))


ARTIFACTS_WRITTEN, ARTIFACTS_PENDING, ARTIFACTS_MISSING = "written", "pending", "missing"
# not_kept: the archive policy kept no full pictures of this PASS (a thumbnail at most); evicted: the archive quota
# removed its pictures later. Neither is a fault: ``artifacts_error`` says which policy or quota, and when.
ARTIFACTS_NOT_KEPT, ARTIFACTS_EVICTED = "not_kept", "evicted"


@dataclass(frozen=True)
class InspectionRecord:
    """One inspection as plain data: artifacts by sha256 (already on disk), no pixels.

    ``score``, the thresholds and ``bundle_id`` are the headline: the deciding model's (see ``Inspection.score``);
    ``models`` holds every model's result. The journal takes the record before its images are written
    (``artifacts`` "pending"); "missing" says they never were, and ``artifacts_error`` why; "not_kept" that the
    archive policy kept none of this PASS (``artifacts_error`` names the policy). ``heatmap`` is the anomaly map
    (kind "anomaly_map", rendered when shown); records written before it hold a rendered overlay (kind "heatmap").
    """

    uid: str
    frame_id: int
    camera: str
    station: str
    recipe: str
    recipe_version: int
    acquired_at: float  # seconds since the epoch, UTC
    verdict: str
    image: StoredArtifact | None = None
    reasons: tuple[str, ...] = ()
    reason_codes: tuple[str, ...] = ()
    score: float | None = None
    image_threshold: float | None = None
    pixel_threshold: float | None = None
    bundle_id: str | None = None
    models: tuple[ModelRecord, ...] = ()
    latencies_ms: dict[str, float] = field(default_factory=dict)
    truth_defective: bool | None = None
    truth_defect: str | None = None
    heatmap: StoredArtifact | None = None
    thumbnail: StoredArtifact | None = None
    regions: tuple[RegionRecord, ...] = ()
    part_id: str | None = None
    serial: str | None = None
    lot: str | None = None
    artifacts: str = ARTIFACTS_WRITTEN
    artifacts_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, field by field (``dataclasses.asdict`` deep-copies every value: it took a third
        of the writer's CPU in the station)."""
        data = {name: getattr(self, name) for name in _RECORD_FIELDS}
        for key in ("image", "heatmap", "thumbnail"):
            if data[key] is not None:
                data[key] = data[key].to_dict()
        data["reasons"] = list(self.reasons)
        data["reason_codes"] = list(self.reason_codes)
        data["latencies_ms"] = dict(self.latencies_ms)
        data["models"] = [_shallow(m, _MODEL_FIELDS) for m in self.models]
        data["regions"] = [_shallow(r, _REGION_FIELDS) for r in self.regions]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InspectionRecord:
        """A record back from its dict; journal entries written before per-model records still load."""
        values = dict(data)
        for key in ("image", "heatmap", "thumbnail"):
            if values.get(key) is not None:
                values[key] = StoredArtifact.from_dict(values[key])
        values["reasons"] = tuple(values.get("reasons", ()))
        values["reason_codes"] = tuple(values.get("reason_codes", ()))
        values["models"] = tuple(ModelRecord(**m) for m in values.get("models", ()))
        values["regions"] = tuple(RegionRecord(**r) for r in values.get("regions", ()))
        return cls(**values)

    def without_artifacts(self, why: str) -> InspectionRecord:
        """This record, saying its images were never written and why."""
        return replace(self, image=None, heatmap=None, thumbnail=None, artifacts=ARTIFACTS_MISSING,
                       artifacts_error=why)


def _optional_float(value: float | None) -> float | None:
    return None if value is None else float(value)


def core_record(inspection: Inspection) -> InspectionRecord:
    """What the journal takes before the verdict leaves the station: no pixels, artifacts pending."""
    frame = inspection.frame
    headline = inspection.headline
    truth = frame.truth
    part = frame.part
    return InspectionRecord(
        uid=inspection.uid,
        frame_id=int(frame.id),
        camera=frame.camera,
        station=inspection.station,
        recipe=inspection.recipe,
        recipe_version=int(inspection.recipe_version),
        acquired_at=float(frame.timestamp),
        verdict=inspection.verdict.value,
        reasons=tuple(str(r.text) for r in inspection.decision.reasons),
        reason_codes=tuple(str(c) for c in inspection.decision.codes),
        score=_optional_float(inspection.score),
        image_threshold=_optional_float(headline.image_threshold) if headline else None,
        pixel_threshold=_optional_float(headline.pixel_threshold) if headline else None,
        bundle_id=headline.model if headline else None,
        models=tuple(ModelRecord.from_output(i, o) for i, o in enumerate(inspection.outputs)),
        latencies_ms={str(k): float(v) for k, v in inspection.latencies_ms.items()},
        truth_defective=None if truth is None else truth.is_defective,
        truth_defect=None if truth is None else truth.defect,
        regions=tuple(RegionRecord.from_region(r) for r in inspection.decision.regions),
        part_id=None if part is None else part.id,
        serial=None if part is None else part.serial,
        lot=None if part is None else part.lot,
        artifacts=ARTIFACTS_PENDING,
    )


def store_anomaly_map(inspection: Inspection, store: ArtifactStore,
                      max_side: int = ANOMALY_MAP_MAX_SIDE) -> StoredArtifact | None:
    """The anomaly map the live view draws (the first model's that has one), relative to the same colour scale
    (its pixel threshold), stored compactly; the review renders it with the same renderer. None without a map."""
    for output in inspection.outputs:
        if output.anomaly_map is None:
            continue
        anomaly_map = np.asarray(output.anomaly_map, np.float32)
        scale = colour_scale(anomaly_map, output.pixel_threshold)
        source = "pixel_threshold" if output.pixel_threshold is not None and scale == output.pixel_threshold \
            else "half_max"
        return store.put_anomaly_map(anomaly_map / np.float32(scale), scale, source, max_side)
    return None


def _shallow(item: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(item, name) for name in names}


_RECORD_FIELDS = tuple(f.name for f in fields(InspectionRecord))
_MODEL_FIELDS = tuple(f.name for f in fields(ModelRecord))
_REGION_FIELDS = tuple(f.name for f in fields(RegionRecord))


def store_artifacts(record: InspectionRecord, inspection: Inspection, store: ArtifactStore,
                    thumbnail_side: int = 128, *, keep_images: bool = True, keep_thumbnail: bool = True,
                    not_kept_why: str = "archive policy") -> InspectionRecord:
    """Write the image and the anomaly map (PNG) and the thumbnail (JPEG); the record with them (raises ``OSError``).

    ``keep_images=False`` (a PASS the archive policy does not sample) writes the thumbnail only (none without
    ``keep_thumbnail``) and marks the record "not_kept" with ``not_kept_why``.
    """
    image = np.asarray(inspection.frame.image)
    small = thumbnail(image, thumbnail_side) if keep_images or keep_thumbnail else None
    if not keep_images:
        stored_thumb = None if small is None else store.put_jpeg(small, "thumbnail")
        return replace(record, image=None, heatmap=None, thumbnail=stored_thumb, artifacts=ARTIFACTS_NOT_KEPT,
                       artifacts_error=not_kept_why)
    stored_image = store.put_png(image, "image")
    # an image no larger than a thumbnail is its own thumbnail (one file)
    stored_thumb = stored_image if small.shape == image.shape else store.put_jpeg(small, "thumbnail")
    return replace(record, image=stored_image, heatmap=store_anomaly_map(inspection, store), thumbnail=stored_thumb,
                   artifacts=ARTIFACTS_WRITTEN, artifacts_error=None)


def build_record(inspection: Inspection, store: ArtifactStore, thumbnail_side: int = 128) -> InspectionRecord:
    """The complete record: :func:`core_record` with its artifacts written."""
    return store_artifacts(core_record(inspection), inspection, store, thumbnail_side)
