"""One inspection in full for the detail view: regions, latencies, reasons, reviews, and its pictures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from inspector.render import DEFAULT_OPACITY, overlay
from inspector.storage.archive import ANOMALY_MAP_KIND, ArtifactStore
from inspector.storage.orm import InspectionRow, ReviewRow
from inspector.storage.records import LATENCY_KEYS, RegionRecord


@dataclass(frozen=True)
class ModelResult:
    """One model's part in the inspection, as logged."""

    position: int
    bundle: str
    bundle_name: str
    score: float | None
    image_threshold: float | None
    pixel_threshold: float | None
    error: str | None
    latency_ms: float | None


@dataclass(frozen=True)
class ReviewEntry:
    id: int
    at: datetime
    user: str
    action: str
    class_name: str | None
    comment: str | None


@dataclass(frozen=True)
class InspectionDetail:
    """Everything the detail view shows; the machine's record exactly as logged, reviews alongside."""

    id: int
    uid: str
    acquired_at: datetime
    station: str
    camera: str
    frame_id: int
    recipe: str
    recipe_version: int
    bundle: str | None
    bundle_name: str | None
    verdict: str
    score: float | None
    image_threshold: float | None
    pixel_threshold: float | None
    reasons: tuple[str, ...]
    reason_codes: tuple[str, ...]
    models: tuple[ModelResult, ...]  # every model in recipe order; the headline (score, thresholds) is the deciding one
    latencies_ms: dict[str, float]
    truth_defect: str | None
    review_status: str
    review_class: str | None
    regions: tuple[RegionRecord, ...]
    reviews: tuple[ReviewEntry, ...]
    image: str | None  # artifact relpaths under the ArtifactStore root; None: not there (``artifacts`` says why)
    heatmap: str | None  # the anomaly map (``heatmap_kind`` "anomaly_map"), or an older record's overlay ("heatmap")
    image_size: tuple[int, int] | None  # width, height
    part_id: str | None = None
    serial: str | None = None
    lot: str | None = None
    artifacts_error: str | None = None  # why the images are missing, not kept or evicted, when they are
    artifacts: str = "written"  # written, missing, not_kept (archive policy) or evicted (archive quota)
    heatmap_kind: str | None = None


@dataclass(frozen=True)
class DetailPictures:
    image: np.ndarray | None  # RGB (or gray) uint8; None when the file is missing
    heatmap: np.ndarray | None
    error: str | None = None


def _latencies(row: InspectionRow) -> dict[str, float]:
    named = {"acquire": row.latency_acquire_ms, "inference": row.latency_inference_ms,
             "decision": row.latency_decision_ms, "total": row.latency_total_ms}
    out = {k: float(v) for k, v in named.items() if v is not None}
    out.update({str(k): float(v) for k, v in (row.latencies or {}).items() if isinstance(v, int | float)})
    order = {k: i for i, k in enumerate(LATENCY_KEYS)}
    return dict(sorted(out.items(), key=lambda kv: (order.get(kv[0], -1 if kv[0] != "total" else 99), kv[0])))


def load_detail(sessions: Callable[[], Session], inspection_id: int) -> InspectionDetail | None:
    """The inspection ``inspection_id`` (None when it does not exist); three indexed queries."""
    with sessions() as session:
        row = session.get(InspectionRow, inspection_id)
        if row is None:
            return None
        reviews = session.scalars(select(ReviewRow).where(ReviewRow.inspection_id == inspection_id)
                                  .order_by(ReviewRow.at, ReviewRow.id)).all()
        image = row.image
        size = (image.width, image.height) if image is not None and image.width and image.height else None
        return InspectionDetail(
            id=row.id, uid=row.uid, acquired_at=row.acquired_at, station=row.station.name, camera=row.camera,
            frame_id=row.frame_id, recipe=row.recipe.name, recipe_version=row.recipe.version,
            bundle=row.bundle.bundle_id if row.bundle else None, bundle_name=row.bundle.name if row.bundle else None,
            verdict=row.verdict, score=row.score, image_threshold=row.image_threshold,
            pixel_threshold=row.pixel_threshold, reasons=tuple(row.reasons or ()),
            reason_codes=tuple(row.reason_codes or ()),
            models=tuple(ModelResult(m.position, m.bundle.bundle_id, m.bundle.name, m.score, m.image_threshold,
                                     m.pixel_threshold, m.error, m.latency_ms) for m in row.models),
            latencies_ms=_latencies(row),
            truth_defect=row.truth_defect, review_status=row.review_status, review_class=row.review_class,
            regions=tuple(RegionRecord(g.x, g.y, g.width, g.height, g.area, g.score, g.class_name)
                          for g in row.regions),
            reviews=tuple(ReviewEntry(r.id, r.at, r.user.name, r.action, r.class_name, r.comment) for r in reviews),
            image=image.relpath if image is not None else None, heatmap=row.heatmap.relpath if row.heatmap else None,
            image_size=size, part_id=row.part_id, serial=row.serial, lot=row.lot,
            artifacts_error=row.artifacts_error if row.artifacts != "written" else None,
            artifacts=row.artifacts, heatmap_kind=row.heatmap.kind if row.heatmap else None,
        )


ABSENT = {"missing": "images never written", "not_kept": "image not kept", "evicted": "image evicted by quota"}


def load_pictures(store: ArtifactStore, detail: InspectionDetail) -> DetailPictures:
    """The stored image and its heatmap: an anomaly map is drawn over the image now, by the renderer the live view
    used; an older record's stored overlay is shown as it is. A missing or broken file gives None and a one-line
    error; so does a picture the archive policy did not keep or the quota evicted (saying which)."""
    errors: list[str] = []

    def read(relpath: str | None) -> np.ndarray | None:
        if relpath is None:
            return None
        try:
            return store.read_png(relpath)
        except (OSError, ValueError) as exc:
            errors.append(f"{relpath}: {exc}")
            return None

    image = read(detail.image)
    if detail.heatmap_kind == ANOMALY_MAP_KIND:
        heatmap = None
        if image is not None and detail.heatmap is not None:
            try:
                relative, _ = store.read_anomaly_map(detail.heatmap)
                heatmap = overlay(image, relative, 1.0, DEFAULT_OPACITY)  # stored relative to its colour scale
            except (OSError, ValueError) as exc:
                errors.append(f"{detail.heatmap}: {exc}")
    else:
        heatmap = read(detail.heatmap)
    if detail.artifacts != "written":
        why = ABSENT.get(detail.artifacts, detail.artifacts)
        errors.insert(0, f"{why}: {detail.artifacts_error}" if detail.artifacts_error else why)
    return DetailPictures(image, heatmap, "; ".join(errors) or None)
