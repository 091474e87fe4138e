"""Review test data: rendered washer/PCB parts with masks, heatmaps and regions, over a day of three shifts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
from sqlalchemy.orm import Session

from inspector.render import overlay
from inspector.storage.archive import ArtifactStore, thumbnail
from inspector.storage.records import InspectionRecord, ModelRecord, RegionRecord
from inspector.storage.unit_of_work import SqlAlchemyUnitOfWork
from inspector.synthetic import render

START = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # a Monday, 04:00 UTC
STEP = timedelta(minutes=37)
CLASSES = ("scratch", "crack", "dent", "stain")
THRESHOLD = 0.5


def _regions(mask: np.ndarray, class_name: str, score: float) -> tuple[RegionRecord, ...]:
    count, _, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8))
    return tuple(RegionRecord(int(x), int(y), int(w), int(h), int(a), round(score, 3), class_name)
                 for x, y, w, h, a in stats[1:count] if a >= 4)


def make_record(i: int, store: ArtifactStore, size: int = 96) -> InspectionRecord:
    """Inspection ``i``: every third a defect; scores overlap around 0.5, so there are escapes and false rejects."""
    rng = np.random.default_rng(1000 + i)
    product, recipe, version = ("pcb", "pcb", 1) if i % 7 == 6 else ("washer", "washer", 3 + (i % 5 == 4))
    defect = None
    if i % 3 == 0:
        kinds = CLASSES if product == "washer" else ("scratch", "stain")
        defect = kinds[(i // 3) % len(kinds)]
    sample = render(product, rng, defect, size)
    bundle = None if i % 11 == 10 else ("bundle-a" if i < 24 else "bundle-b")
    score = None
    if bundle is not None:
        score = float(rng.uniform(0.42, 0.97) if defect else rng.uniform(0.05, 0.56))
    verdict = "FAIL" if score is None or score >= THRESHOLD else "PASS"
    mask = sample.mask if defect else np.zeros((size, size), np.uint8)
    if verdict == "FAIL" and not defect and score is not None:  # a false reject: the model saw something
        mask = mask.copy()
        mask[10:22, 30:44] = 255
    regions = _regions(mask, defect or "anomaly", score or 0.0) if verdict == "FAIL" and score else ()
    image = store.put_png(sample.image, "image")
    heat = None
    if score is not None:
        smooth = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 4) * score
        heat = store.put_png(overlay(sample.image, smooth + rng.random((size, size)) * 0.08, 0.4), "heatmap")
    reasons = ("no model output: fail safe",) if score is None else (
        (f"score {score:.2f} >= {THRESHOLD:.2f}",) if verdict == "FAIL" else ())
    return InspectionRecord(
        uid=f"r{i:05d}", frame_id=500 + i, camera="cam0" if i % 2 == 0 else "cam1",
        station="line-1" if i % 2 == 0 else "line-2", recipe=recipe, recipe_version=version,
        acquired_at=(START + STEP * i).timestamp(), verdict=verdict, image=image, reasons=reasons, score=score,
        image_threshold=None if score is None else THRESHOLD, pixel_threshold=None if score is None else 0.4,
        bundle_id=bundle, latencies_ms={"acquire": 1.5, "inference": 18.0 + i % 5, "decision": 0.3, "total": 21.0},
        reason_codes=("score_over_threshold",) if verdict == "FAIL" and score is not None else (),
        models=() if bundle is None else (ModelRecord(0, bundle, score, None if score is None else THRESHOLD,
                                                      None if score is None else 0.4, None, 18.0 + i % 5),),
        truth_defective=defect is not None, truth_defect=defect, heatmap=heat,
        thumbnail=store.put_png(thumbnail(sample.image, 48), "thumbnail"), regions=regions,
        part_id=f"P{i:05d}", serial=f"S{i:05d}", lot="LOT-A" if i < 20 else "LOT-B")


def make_records(store: ArtifactStore, n: int = 40, size: int = 96) -> list[InspectionRecord]:
    return [make_record(i, store, size) for i in range(n)]


def fill(sessions: Callable[[], Session], records: Sequence[InspectionRecord]) -> dict[str, int]:
    """Insert ``records``; returns inspection id by uid."""
    with SqlAlchemyUnitOfWork(sessions) as uow:
        rows = [uow.inspections.add(r) for r in records]
        uow.session.flush()
        ids = {row.uid: row.id for row in rows}
        uow.commit()
    return ids


REVIEWERS = {"ana": ("qa", "ana-password-1"), "bob": ("qa", "bob-password-1"), "otto": ("operator", "otto-password")}


def add_reviewers(sessions: Callable[[], Session]) -> None:
    """The test users (QA reviewers ana and bob, operator otto), with their passwords, when not there yet."""
    from inspector.access.passwords import hash_password
    from inspector.storage.orm import UserRow

    with SqlAlchemyUnitOfWork(sessions) as uow:
        for name, (role, password) in REVIEWERS.items():
            if uow.users.get(name) is None:
                uow.session.add(UserRow(name=name, role=role, password_hash=hash_password(password)))
        uow.commit()
