"""Reviewed inspections as a labeled anomaly dataset in the MVTec layout (what ``inspector-train anomaly`` reads).

good = PASS not marked escape, or a FAIL marked false reject -> ``train/good`` (a seeded share in ``test/good``);
confirmed defects and escapes -> ``test/<class>``, with ``ground_truth/<class>/<name>_mask.png`` (region boxes
rasterised) when the inspection has regions. Unreviewed FAILs are left out: their truth is unknown.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import and_, func, or_, select

from inspector.review.queries import ReviewFilter, ReviewQueries, top_region_class
from inspector.storage.archive import ArtifactStore
from inspector.storage.orm import ArtifactRow, DefectRegionRow
from inspector.storage.orm import InspectionRow as Insp

GOOD = "good"
PARTS = ("train", "test", "ground_truth", "dataset.json")
DEFAULT_MAX_GOOD = 1000


@dataclass
class DatasetSummary:
    root: str
    train_good: int = 0
    test_good: int = 0
    defects: dict[str, int] = field(default_factory=dict)
    masks: int = 0
    missing: list[str] = field(default_factory=list)  # inspections whose image file was not found

    @property
    def written(self) -> int:
        return self.train_good + self.test_good + sum(self.defects.values())


def folder_name(class_name: str) -> str:
    """A defect class as a safe folder name (never ``good``)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", class_name.strip()).strip("._") or "unclassified"
    return f"{name}_" if name.lower() == GOOD else name


def box_mask(width: int, height: int, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """A 0/255 mask with the (x, y, w, h) boxes filled, clipped to the image."""
    mask = np.zeros((height, width), dtype=np.uint8)
    for x, y, w, h in boxes:
        x0, y0 = max(0, int(x)), max(0, int(y))
        x1, y1 = min(width, int(x) + int(w)), min(height, int(y) + int(h))
        if x1 > x0 and y1 > y0:
            mask[y0:y1, x0:x1] = 255
    return mask


def _prepare(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out}: folder is not empty; pass overwrite to replace the dataset in it")
        for part in PARTS:  # only what an earlier export wrote
            target = out / part
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _copy(store: ArtifactStore, relpath: str, target: Path) -> bool:
    try:
        data = store.read_bytes(relpath)
    except (OSError, ValueError):
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return True


def export_dataset(queries: ReviewQueries, store: ArtifactStore, out: str | Path, *, recipe: str | None = None,
                   filters: ReviewFilter | None = None, max_good: int | None = DEFAULT_MAX_GOOD,
                   test_good_fraction: float = 0.2, seed: int = 0, overwrite: bool = False,
                   source: str = "") -> DatasetSummary:
    """Write the dataset under ``out`` and a ``dataset.json`` that records where every image came from."""
    out = Path(out)
    f = (filters or ReviewFilter()).with_(recipe=recipe) if recipe else (filters or ReviewFilter())
    _prepare(out, overwrite)
    summary = DatasetSummary(str(out))
    with queries.sessions() as session:
        good_q = queries.filtered(session, select(Insp.id, ArtifactRow.relpath), f)
        good_q = good_q.join(ArtifactRow, ArtifactRow.id == Insp.image_artifact_id).where(or_(
            and_(Insp.verdict == "PASS", Insp.review_status != "false_negative"),
            Insp.review_status == "false_positive")).order_by(Insp.acquired_at.desc(), Insp.id.desc())
        goods = session.execute(good_q.limit(max_good) if max_good is not None else good_q).all()
        name = func.coalesce(Insp.review_class, top_region_class(), "unclassified")
        bad_q = queries.filtered(session, select(Insp.id, name, ArtifactRow.relpath, ArtifactRow.width,
                                                 ArtifactRow.height), f)
        bad_q = bad_q.join(ArtifactRow, ArtifactRow.id == Insp.image_artifact_id).where(
            Insp.review_status.in_(("confirmed", "false_negative"))).order_by(Insp.id)
        defects = session.execute(bad_q).all()
        boxes: dict[int, list[tuple[int, int, int, int]]] = {}
        ids = [row[0] for row in defects]
        for start in range(0, len(ids), 500):
            region_q = select(DefectRegionRow.inspection_id, DefectRegionRow.x, DefectRegionRow.y,
                              DefectRegionRow.width, DefectRegionRow.height).where(
                DefectRegionRow.inspection_id.in_(ids[start:start + 500]))
            for inspection_id, x, y, w, h in session.execute(region_q):
                boxes.setdefault(inspection_id, []).append((x, y, w, h))
    order = sorted(row[0] for row in goods)
    random.Random(seed).shuffle(order)
    n_test = max(1, round(len(order) * test_good_fraction)) if len(order) >= 2 else 0
    test_ids = set(order[:n_test])
    for inspection_id, relpath in goods:
        split = "test" if inspection_id in test_ids else "train"
        if _copy(store, relpath, out / split / GOOD / f"{inspection_id}{Path(relpath).suffix}"):
            summary.test_good += split == "test"
            summary.train_good += split == "train"
        else:
            summary.missing.append(str(inspection_id))
    for inspection_id, class_name, relpath, width, height in defects:
        kind = folder_name(class_name)
        if not _copy(store, relpath, out / "test" / kind / f"{inspection_id}{Path(relpath).suffix}"):
            summary.missing.append(str(inspection_id))
            continue
        summary.defects[kind] = summary.defects.get(kind, 0) + 1
        if inspection_id in boxes and width and height:
            mask_path = out / "ground_truth" / kind / f"{inspection_id}_mask.png"
            mask_path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(mask_path), box_mask(width, height, boxes[inspection_id]))
            summary.masks += 1
    manifest = {"created": datetime.now(UTC).isoformat(), "source": source, "recipe": recipe,
                "rules": __doc__.split("\n\n")[1].strip(), **asdict(summary)}
    (out / "dataset.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return summary
