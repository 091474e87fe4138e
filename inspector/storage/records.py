"""The flat, JSON-serialisable form of one inspection: what the journal holds and the repository inserts."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from inspector.domain.inspection import DefectRegion, Inspection
from inspector.storage.archive import ArtifactStore, StoredArtifact, heatmap_overlay, thumbnail

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
class InspectionRecord:
    """One inspection as plain data: artifacts by sha256 (already on disk), no pixels."""

    uid: str
    frame_id: int
    camera: str
    station: str
    recipe: str
    recipe_version: int
    acquired_at: float  # seconds since the epoch, UTC
    verdict: str
    image: StoredArtifact
    reasons: tuple[str, ...] = ()
    score: float | None = None
    image_threshold: float | None = None
    pixel_threshold: float | None = None
    bundle_id: str | None = None
    latencies_ms: dict[str, float] = field(default_factory=dict)
    truth_defective: bool | None = None
    truth_defect: str | None = None
    heatmap: StoredArtifact | None = None
    thumbnail: StoredArtifact | None = None
    regions: tuple[RegionRecord, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["reasons"] = list(self.reasons)
        data["regions"] = [asdict(r) for r in self.regions]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InspectionRecord:
        values = dict(data)
        for key in ("image", "heatmap", "thumbnail"):
            if values.get(key) is not None:
                values[key] = StoredArtifact.from_dict(values[key])
        values["reasons"] = tuple(values.get("reasons", ()))
        values["regions"] = tuple(RegionRecord(**r) for r in values.get("regions", ()))
        return cls(**values)


def _optional_float(value: float | None) -> float | None:
    return None if value is None else float(value)


def build_record(inspection: Inspection, store: ArtifactStore, heatmap_vmax: float | None = None,
                 uid: str | None = None, thumbnail_side: int = 128) -> InspectionRecord:
    """Store the inspection's image, heatmap overlay and thumbnail, and describe it as a record."""
    frame = inspection.frame
    image = np.asarray(frame.image)
    stored_image = store.put_png(image, "image")
    stored_thumb = store.put_png(thumbnail(image, thumbnail_side), "thumbnail")
    with_map = next((o for o in inspection.outputs if o.anomaly_map is not None), None)
    stored_heatmap = None
    if with_map is not None:
        overlay = heatmap_overlay(image, with_map.anomaly_map, heatmap_vmax)
        stored_heatmap = store.put_png(overlay, "heatmap")
    first = inspection.outputs[0] if inspection.outputs else None
    regions = inspection.decision.regions or tuple(r for o in inspection.outputs for r in o.regions)
    truth = frame.truth
    return InspectionRecord(
        uid=uid or uuid.uuid4().hex,
        frame_id=int(frame.id),
        camera=frame.camera,
        station=inspection.station,
        recipe=inspection.recipe,
        recipe_version=int(inspection.recipe_version),
        acquired_at=float(frame.timestamp),
        verdict=inspection.verdict.value,
        reasons=tuple(str(r) for r in inspection.decision.reasons),
        score=_optional_float(inspection.score),
        image_threshold=_optional_float(first.image_threshold) if first else None,
        pixel_threshold=_optional_float(first.pixel_threshold) if first else None,
        bundle_id=first.model if first else None,
        latencies_ms={str(k): float(v) for k, v in inspection.latencies_ms.items()},
        truth_defective=None if truth is None else truth.is_defective,
        truth_defect=None if truth is None else truth.defect,
        image=stored_image,
        heatmap=stored_heatmap,
        thumbnail=stored_thumb,
        regions=tuple(RegionRecord.from_region(r) for r in regions),
    )
