"""SQLAlchemy 2 models of the inspection database (rows, not domain objects)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Named constraints: Alembic batch mode (SQLite) can only alter what has a name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

VERDICTS = ("PASS", "FAIL")
# missing: the images were never written (artifacts_error says why); 0006: not_kept: a PASS the recipe's archive
# policy did not sample (a thumbnail at most); evicted: the archive quota removed its pictures (links cleared).
ARTIFACT_STATES = ("written", "missing", "not_kept", "evicted")
# heatmap: an overlay rendered at frame size (records before 0006); anomaly_map: the compact map the review renders.
ARTIFACT_KINDS = ("image", "heatmap", "thumbnail", "anomaly_map")
ROLES = ("operator", "qa", "engineer", "admin")  # 0005: "ml" became "engineer"
REVIEW_STATUSES = ("unreviewed", "confirmed", "false_positive", "false_negative", "escalated")
# QA review actions (table ``reviews``) and the review_status each one leaves; a comment changes none.
REVIEW_ACTIONS = ("confirm", "false_reject", "escape", "comment")
STATUS_OF_ACTION = {"confirm": "confirmed", "false_reject": "false_positive", "escape": "false_negative"}

# 64-bit ids on PostgreSQL; SQLite only auto-increments a plain INTEGER primary key (which is 64-bit there).
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON(), list[str]: JSON(), float: Double()}


class StationRow(Base):
    __tablename__ = "stations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created: Mapped[datetime] = mapped_column(default=utcnow)


class RecipeRow(Base):
    __tablename__ = "recipes"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_recipes_name_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[int]
    body: Mapped[dict[str, Any]] = mapped_column(default=dict)


class BundleRow(Base):
    __tablename__ = "model_bundles"

    id: Mapped[int] = mapped_column(primary_key=True)
    bundle_id: Mapped[str] = mapped_column(String(128), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    task: Mapped[str] = mapped_column(String(32))
    architecture: Mapped[str] = mapped_column(String(64))
    manifest: Mapped[dict[str, Any]] = mapped_column(default=dict)
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class ArtifactRow(Base):
    __tablename__ = "artifacts"
    __table_args__ = (CheckConstraint(_in("kind", ARTIFACT_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    relpath: Mapped[str] = mapped_column(String(255))
    bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None]
    height: Mapped[int | None]
    media_type: Mapped[str] = mapped_column(String(64), default="image/png")


class InspectionRow(Base):
    __tablename__ = "inspections"
    __table_args__ = (
        CheckConstraint(_in("verdict", VERDICTS), name="verdict"),
        Index("ix_inspections_acquired_at", "acquired_at"),
        Index("ix_inspections_station_acquired", "station_id", "acquired_at"),
        Index("ix_inspections_verdict_acquired", "verdict", "acquired_at"),
        Index("ix_inspections_score", "score"),
        Index("ix_inspections_recipe_id", "recipe_id"),
        Index("ix_inspections_bundle_id", "bundle_id"),
        Index("ix_inspections_review_status", "review_status"),
        # 0002: keyset paging of the QA review (sort value, then id) and its defect class filter.
        Index("ix_inspections_acquired_id", "acquired_at", "id"),
        Index("ix_inspections_score_id", "score", "id"),
        Index("ix_inspections_review_class", "review_class"),
        # 0004: parts on the line, and inspections whose images are missing.
        Index("ix_inspections_serial", "serial"),
        Index("ix_inspections_lot", "lot"),
        CheckConstraint(_in("artifacts", ARTIFACT_STATES), name="artifacts"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)  # journal idempotency key
    frame_id: Mapped[int] = mapped_column(BigInteger)
    camera: Mapped[str] = mapped_column(String(128))
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"))
    recipe_id: Mapped[int] = mapped_column(ForeignKey("recipes.id"))
    bundle_id: Mapped[int | None] = mapped_column(ForeignKey("model_bundles.id"))
    acquired_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    verdict: Mapped[str] = mapped_column(String(4))
    reasons: Mapped[list[str]] = mapped_column(default=list)
    reason_codes: Mapped[list[str]] = mapped_column(default=list, server_default=text("'[]'"))  # 0003
    score: Mapped[float | None]  # headline: the deciding model's score, with its thresholds and bundle below
    image_threshold: Mapped[float | None]
    pixel_threshold: Mapped[float | None]
    latency_acquire_ms: Mapped[float | None]
    latency_inference_ms: Mapped[float | None]
    latency_decision_ms: Mapped[float | None]
    latency_total_ms: Mapped[float | None]
    latencies: Mapped[dict[str, Any]] = mapped_column(default=dict)
    truth_defective: Mapped[bool | None]  # None: ground truth unknown
    truth_defect: Mapped[str | None] = mapped_column(String(64))  # defect class when truly defective
    image_artifact_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("artifacts.id"))  # None: missing (0004)
    heatmap_artifact_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("artifacts.id"))
    thumbnail_artifact_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("artifacts.id"))
    review_status: Mapped[str] = mapped_column(String(16), default="unreviewed", server_default="unreviewed")
    review_class: Mapped[str | None] = mapped_column(String(64))  # defect class of the latest classifying review
    part_id: Mapped[str | None] = mapped_column(String(64))  # 0004: the part this frame showed, when known
    serial: Mapped[str | None] = mapped_column(String(128))
    lot: Mapped[str | None] = mapped_column(String(128))
    artifacts: Mapped[str] = mapped_column(String(16), default="written", server_default="written")
    artifacts_error: Mapped[str | None] = mapped_column(Text)

    station: Mapped[StationRow] = relationship(lazy="joined")
    recipe: Mapped[RecipeRow] = relationship(lazy="joined")
    bundle: Mapped[BundleRow | None] = relationship(lazy="joined")
    image: Mapped[ArtifactRow | None] = relationship(foreign_keys=[image_artifact_id], lazy="joined")
    heatmap: Mapped[ArtifactRow | None] = relationship(foreign_keys=[heatmap_artifact_id], lazy="joined")
    thumbnail: Mapped[ArtifactRow | None] = relationship(foreign_keys=[thumbnail_artifact_id], lazy="joined")
    regions: Mapped[list[DefectRegionRow]] = relationship(
        back_populates="inspection", cascade="all, delete-orphan", lazy="selectin", order_by="DefectRegionRow.id"
    )
    models: Mapped[list[InspectionModelRow]] = relationship(
        back_populates="inspection", cascade="all, delete-orphan", lazy="selectin",
        order_by="InspectionModelRow.position"
    )


class InspectionModelRow(Base):
    """One model's result in an inspection (0003): bundle, score, the thresholds it was judged by, error, latency."""

    __tablename__ = "inspection_models"
    __table_args__ = (
        UniqueConstraint("inspection_id", "position", name="uq_inspection_models_inspection_position"),
        Index("ix_inspection_models_bundle_id", "bundle_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    inspection_id: Mapped[int] = mapped_column(BigId, ForeignKey("inspections.id", ondelete="CASCADE"))
    position: Mapped[int]  # the model's place in the recipe, from 0
    bundle_id: Mapped[int] = mapped_column(ForeignKey("model_bundles.id"))
    score: Mapped[float | None]
    image_threshold: Mapped[float | None]
    pixel_threshold: Mapped[float | None]
    error: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[float | None]

    inspection: Mapped[InspectionRow] = relationship(back_populates="models")
    bundle: Mapped[BundleRow] = relationship(lazy="joined")


class DefectRegionRow(Base):
    __tablename__ = "defect_regions"
    __table_args__ = (
        Index("ix_defect_regions_class_name", "class_name"),
        Index("ix_defect_regions_inspection_id", "inspection_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    inspection_id: Mapped[int] = mapped_column(BigId, ForeignKey("inspections.id", ondelete="CASCADE"))
    x: Mapped[int]
    y: Mapped[int]
    width: Mapped[int]
    height: Mapped[int]
    area: Mapped[int]
    score: Mapped[float]
    class_name: Mapped[str] = mapped_column(String(64))

    inspection: Mapped[InspectionRow] = relationship(back_populates="regions")


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    # 0005: accounts. A user without a password hash cannot log in (an admin sets one).
    password_hash: Mapped[str | None] = mapped_column(Text)
    password_changed_at: Mapped[datetime | None]
    disabled: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    failed_logins: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    locked_until: Mapped[datetime | None]


class AuditRow(Base):
    """One audit entry; append-only and hash-chained (see ``inspector.storage.audit``)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"), UniqueConstraint("seq", name="uq_audit_log_seq"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    seq: Mapped[int] = mapped_column(BigInteger)  # 0005: 1, 2, 3, ... with no gap
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The chain's end (one row, id 1): appending locks it, so concurrent writers chain one after the other."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))


class RecipeSignatureRow(Base):
    """An engineer's electronic signature of a recipe file's content (0005)."""

    __tablename__ = "recipe_signatures"
    __table_args__ = (Index("ix_recipe_signatures_name", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column(default=dict)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    meaning: Mapped[str] = mapped_column(Text)
    audit_seq: Mapped[int] = mapped_column(BigInteger)

    user: Mapped[UserRow] = relationship(lazy="joined")


class ReviewRow(Base):
    """One QA review of an inspection; the inspection's own verdict, score and reasons are never changed."""

    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint(_in("action", REVIEW_ACTIONS), name="action"),
        Index("ix_reviews_inspection_at", "inspection_id", "at"),
        Index("ix_reviews_at", "at"),
        Index("ix_reviews_class_name", "class_name"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    inspection_id: Mapped[int] = mapped_column(BigId, ForeignKey("inspections.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(16))
    class_name: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)

    user: Mapped[UserRow] = relationship(lazy="joined")
