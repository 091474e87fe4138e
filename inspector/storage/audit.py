"""The tamper-evident audit trail: an append-only, hash-chained ``audit_log``, and inspection rows sealed by batch.

Each audit row stores ``seq`` (1, 2, 3, ...), the hash of the row before it and the hash of its own content with
that link; the single ``audit_head`` row holds the last seq and hash, and appending locks it (so stations on one
database chain in turn). Each committed batch of inspections gets an ``inspections.logged`` row with a digest of
each inspection's evidence (verdict, reasons, scores, thresholds, part), so a flipped verdict breaks a seal.
:func:`verify` walks all of it and names the first row that was edited, deleted, inserted or reordered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

GENESIS = "0" * 64
SEAL_ACTION = "inspections.logged"


def _iso(at: datetime) -> str:
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def row_hash(prev_hash: str, seq: int, at: datetime, user_id: int | None, action: str, entity: str,
             entity_id: str | None, detail: dict[str, Any]) -> str:
    """The hash of one audit row's content and its link to the row before it."""
    body = json.dumps({"seq": seq, "at": _iso(at), "user_id": user_id, "action": action, "entity": entity,
                       "entity_id": entity_id, "detail": detail}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{prev_hash}|{body}".encode()).hexdigest()


def inspection_digest(row: Any) -> str:
    """The evidence of one inspection row (the review columns, which reviews change, are not part of it)."""
    body = json.dumps({
        "uid": row.uid, "frame_id": row.frame_id, "camera": row.camera, "station_id": row.station_id,
        "recipe_id": row.recipe_id, "bundle_id": row.bundle_id, "acquired_at": _iso(row.acquired_at),
        "verdict": row.verdict, "reasons": list(row.reasons or ()), "reason_codes": list(row.reason_codes or ()),
        "score": row.score, "image_threshold": row.image_threshold, "pixel_threshold": row.pixel_threshold,
        "part_id": row.part_id, "serial": row.serial, "lot": row.lot,
        "models": [[m.position, m.bundle_id, m.score, m.image_threshold, m.error] for m in row.models],
    }, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def append(session: Session, action: str, entity: str, entity_id: object = None, detail: dict | None = None,
           user_id: int | None = None, at: datetime | None = None) -> Any:
    """Add one chained audit row in the session's transaction (locks ``audit_head`` until commit)."""
    from inspector.storage.orm import AuditHeadRow, AuditRow

    seq, prev = session.execute(update(AuditHeadRow).where(AuditHeadRow.id == 1)
                                .values(seq=AuditHeadRow.seq + 1)
                                .returning(AuditHeadRow.seq, AuditHeadRow.last_hash)).one()
    at = at or datetime.now(UTC)
    detail = json.loads(json.dumps(detail or {}, default=str))  # what the database will give back
    entity_id = None if entity_id is None else str(entity_id)
    digest = row_hash(prev, seq, at, user_id, action, entity, entity_id, detail)
    row = AuditRow(seq=seq, prev_hash=prev, row_hash=digest, at=at, user_id=user_id, action=action, entity=entity,
                   entity_id=entity_id, detail=detail)
    session.add(row)
    session.execute(update(AuditHeadRow).where(AuditHeadRow.id == 1).values(last_hash=digest))
    return row


def seal(session: Session, rows: Sequence[Any], station: str) -> None:
    """One audit row for a committed batch of inspections: each one's evidence digest."""
    if rows:
        session.flush()
        append(session, SEAL_ACTION, "inspections", station,
               {"inspections": {row.uid: inspection_digest(row) for row in rows}})


@dataclass(frozen=True)
class Finding:
    """What is wrong, and where: the audit seq or the inspection uid that changed."""

    kind: str  # edited, deleted, inserted, reordered, inspection changed, inspection deleted, inspection unsealed
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.where}: {self.kind} ({self.detail})"


def verify(session: Session, limit: int = 20) -> list[Finding]:
    """Walk the chain and the seals; the first ``limit`` findings, oldest first (empty: intact)."""
    from inspector.storage.orm import AuditHeadRow, AuditRow, InspectionRow

    findings: list[Finding] = []
    expected_seq, prev = 1, GENESIS
    sealed: dict[str, str] = {}
    seen_seqs: set[int] = set()
    for row in session.scalars(select(AuditRow).order_by(AuditRow.seq, AuditRow.id)):
        where = f"audit row seq {row.seq} (id {row.id})"
        if row.seq in seen_seqs:
            findings.append(Finding("inserted", where, "a second row with this seq"))
            continue
        seen_seqs.add(row.seq)
        if row.seq != expected_seq:
            kind = "deleted" if row.seq > expected_seq else "reordered"
            findings.append(Finding(kind, where, f"expected seq {expected_seq} here"))
        elif row.prev_hash != prev:
            findings.append(Finding("inserted or reordered", where, "its link does not match the row before"))
        digest = row_hash(row.prev_hash or "", row.seq, row.at, row.user_id, row.action, row.entity, row.entity_id,
                          row.detail or {})
        if digest != row.row_hash:
            findings.append(Finding("edited", where, f"{row.action} {row.entity} {row.entity_id or ''}".strip()))
        if row.action == SEAL_ACTION:
            sealed.update((row.detail or {}).get("inspections", {}))
        expected_seq, prev = row.seq + 1, row.row_hash
    head = session.get(AuditHeadRow, 1)
    if head is not None and (head.seq != expected_seq - 1 or head.last_hash != prev):
        findings.append(Finding("deleted", f"audit head (seq {head.seq})",
                                f"the chain ends at seq {expected_seq - 1}: rows after it were removed"))
    present = {}
    for row in session.scalars(select(InspectionRow).execution_options(yield_per=1000)):
        present[row.uid] = row.id
        expected = sealed.get(row.uid)
        if expected is None:
            findings.append(Finding("inspection unsealed", f"inspection {row.id} (uid {row.uid})",
                                    "no audit seal covers it: inserted outside the station"))
        elif inspection_digest(row) != expected:
            findings.append(Finding("inspection changed", f"inspection {row.id} (uid {row.uid})",
                                    f"its evidence no longer matches its seal (verdict now {row.verdict})"))
        if len(findings) >= limit:
            return findings
    for uid in sealed.keys() - present.keys():
        findings.append(Finding("inspection deleted", f"inspection uid {uid}", "sealed, but the row is gone"))
        if len(findings) >= limit:
            break
    return findings


def chain_existing(session: Session, rows: Iterable[Any]) -> tuple[int, str]:
    """Give rows written before the chain existed their seq and hashes, oldest first; the last (seq, hash)."""
    seq, prev = 0, GENESIS
    for row in rows:
        seq += 1
        detail = json.loads(json.dumps(row.detail or {}, default=str))
        digest = row_hash(prev, seq, row.at, row.user_id, row.action, row.entity, row.entity_id, detail)
        session.execute(text("UPDATE audit_log SET seq = :seq, prev_hash = :prev, row_hash = :hash, detail = :detail "
                             "WHERE id = :id"), {"seq": seq, "prev": prev, "hash": digest,
                                                 "detail": json.dumps(detail), "id": row.id})
        prev = digest
    return seq, prev
