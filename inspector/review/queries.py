"""Paged, filtered inspection queries for the QA review: keyset paging on indexed columns, plain dataclasses out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from inspector.storage.orm import BundleRow, DefectRegionRow, InspectionRow, RecipeRow, ReviewRow, StationRow

Insp, Reg = InspectionRow, DefectRegionRow
SORT_KEYS = ("time", "score")


@dataclass(frozen=True)
class ReviewFilter:
    """What the review narrows inspections by; None means any. Times are timezone-aware, ``end`` exclusive."""

    start: datetime | None = None
    end: datetime | None = None
    station: str | None = None
    recipe: str | None = None  # recipe name, every version
    bundle: str | None = None  # model bundle id
    verdict: str | None = None
    min_score: float | None = None
    max_score: float | None = None  # inclusive
    review_status: str | None = None
    defect_class: str | None = None  # a region's class or the review's class
    serial: str | None = None  # the part's serial (from the PLC), exactly
    lot: str | None = None  # the part's lot, exactly

    def with_(self, **changes: Any) -> ReviewFilter:
        return replace(self, **changes)


@dataclass(frozen=True)
class Sort:
    key: str = "time"  # time | score
    descending: bool = True

    def __post_init__(self) -> None:
        if self.key not in SORT_KEYS:
            raise ValueError(f"sort key {self.key!r}: expected one of {', '.join(SORT_KEYS)}")


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: the last row's sort value and id (keyset paging)."""

    value: datetime | float | None
    id: int


@dataclass(frozen=True)
class InspectionSummary:
    """One row of the review table."""

    id: int
    acquired_at: datetime
    station: str
    recipe: str
    recipe_version: int
    bundle: str | None
    camera: str
    frame_id: int
    verdict: str
    score: float | None
    image_threshold: float | None
    review_status: str
    review_class: str | None
    region_class: str | None  # class of the highest-scoring region
    serial: str | None = None
    lot: str | None = None

    @property
    def defect_class(self) -> str | None:
        return self.review_class or self.region_class

    def cursor(self, sort: Sort) -> Cursor:
        return Cursor(self.acquired_at if sort.key == "time" else self.score, self.id)


@dataclass(frozen=True)
class Page:
    rows: list[InspectionSummary]
    next: Cursor | None  # None: no more rows


@dataclass(frozen=True)
class FilterOptions:
    stations: list[str] = field(default_factory=list)
    recipes: list[str] = field(default_factory=list)
    bundles: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None


def top_region_class() -> Any:
    """Correlated scalar subquery: the class of an inspection's highest-scoring region."""
    return (select(Reg.class_name).where(Reg.inspection_id == Insp.id).order_by(Reg.score.desc(), Reg.id).limit(1)
            .correlate(Insp).scalar_subquery())


_COLUMNS = (Insp.id, Insp.acquired_at, Insp.station_id, Insp.recipe_id, Insp.bundle_id, Insp.camera, Insp.frame_id,
            Insp.verdict, Insp.score, Insp.image_threshold, Insp.review_status, Insp.review_class, Insp.serial,
            Insp.lot)


class Lookups:
    """Station, recipe and bundle names by id (small tables, cached, reloaded on an unknown id)."""

    def __init__(self) -> None:
        self.stations: dict[int, str] = {}
        self.recipes: dict[int, tuple[str, int]] = {}
        self.bundles: dict[int, str] = {}

    def load(self, session: Session) -> None:
        self.stations = {i: n for i, n in session.execute(select(StationRow.id, StationRow.name))}
        self.recipes = {i: (n, v) for i, n, v in session.execute(
            select(RecipeRow.id, RecipeRow.name, RecipeRow.version))}
        self.bundles = {i: b for i, b in session.execute(select(BundleRow.id, BundleRow.bundle_id))}

    def ensure(self, session: Session, station_ids: set[int], recipe_ids: set[int], bundle_ids: set[int]) -> None:
        if (station_ids - self.stations.keys()) or (recipe_ids - self.recipes.keys()) or (
                bundle_ids - self.bundles.keys()):
            self.load(session)


class ReviewQueries:
    """Read-only queries; each call opens and closes its own session (safe from a worker thread)."""

    def __init__(self, sessions: Callable[[], Session]) -> None:
        self.sessions = sessions
        self.lookups = Lookups()

    # -- filters -----------------------------------------------------------------------------------------------
    def _ids(self, session: Session, f: ReviewFilter) -> dict[str, list[int]]:
        ids: dict[str, list[int]] = {}
        if f.station is not None:
            ids["station"] = list(session.scalars(select(StationRow.id).where(StationRow.name == f.station)))
        if f.recipe is not None:
            ids["recipe"] = list(session.scalars(select(RecipeRow.id).where(RecipeRow.name == f.recipe)))
        if f.bundle is not None:
            ids["bundle"] = list(session.scalars(select(BundleRow.id).where(BundleRow.bundle_id == f.bundle)))
        return ids

    def conditions(self, session: Session, f: ReviewFilter) -> list[ColumnElement[bool]]:
        """WHERE terms for ``f``; names are resolved to ids first so that the planner sees equalities."""
        where: list[ColumnElement[bool]] = []
        ids = self._ids(session, f)
        for key, column in (("station", Insp.station_id), ("recipe", Insp.recipe_id), ("bundle", Insp.bundle_id)):
            if key in ids:
                found = ids[key]
                where.append(column == found[0] if len(found) == 1 else column.in_(found or [-1]))
        if f.start is not None:
            where.append(Insp.acquired_at >= f.start)
        if f.end is not None:
            where.append(Insp.acquired_at < f.end)
        if f.verdict is not None:
            where.append(Insp.verdict == f.verdict)
        if f.min_score is not None:
            where.append(Insp.score >= f.min_score)
        if f.max_score is not None:
            where.append(Insp.score <= f.max_score)
        if f.review_status is not None:
            where.append(Insp.review_status == f.review_status)
        if f.serial is not None:
            where.append(Insp.serial == f.serial)
        if f.lot is not None:
            where.append(Insp.lot == f.lot)
        if f.defect_class is not None:
            region = exists(select(Reg.id).where(Reg.inspection_id == Insp.id, Reg.class_name == f.defect_class))
            where.append(or_(Insp.review_class == f.defect_class, region))
        return where

    def filtered(self, session: Session, query: Select[Any], f: ReviewFilter) -> Select[Any]:
        terms = self.conditions(session, f)
        return query.where(and_(*terms)) if terms else query

    # -- pages -------------------------------------------------------------------------------------------------
    def _page_query(self, session: Session, f: ReviewFilter, sort: Sort, after: Cursor | None,
                    nulls: bool) -> Select[Any]:
        column = Insp.acquired_at if sort.key == "time" else Insp.score
        query = self.filtered(session, select(*_COLUMNS, top_region_class()), f)
        if sort.key == "score":
            query = query.where(column.is_(None) if nulls else column.is_not(None))
        if after is not None and nulls:
            query = query.where(Insp.id < after.id if sort.descending else Insp.id > after.id)
        elif after is not None:
            # col <= v AND (col < v OR id < i): an index range on (col, id) on SQLite and PostgreSQL alike.
            if sort.descending:
                query = query.where(column <= after.value, or_(column < after.value, Insp.id < after.id))
            else:
                query = query.where(column >= after.value, or_(column > after.value, Insp.id > after.id))
        if nulls:
            return query.order_by(Insp.id.desc() if sort.descending else Insp.id)
        if sort.descending:
            return query.order_by(column.desc(), Insp.id.desc())
        return query.order_by(column, Insp.id)

    def page(self, f: ReviewFilter | None = None, sort: Sort | None = None, after: Cursor | None = None,
             limit: int = 100) -> Page:
        """``limit`` rows after ``after`` in ``sort`` order; rows without a score come last when sorting by score."""
        f, sort = f or ReviewFilter(), sort or Sort()
        with self.sessions() as session:
            in_nulls = sort.key == "score" and after is not None and after.value is None
            raw = list(session.execute(self._page_query(session, f, sort, after, in_nulls).limit(limit + 1)))
            if sort.key == "score" and not in_nulls and len(raw) <= limit:
                raw += list(session.execute(self._page_query(session, f, sort, None, True).limit(limit + 1 - len(raw))))
            more = len(raw) > limit
            rows = self._summaries(session, raw[:limit])
        return Page(rows, rows[-1].cursor(sort) if more and rows else None)

    def _summaries(self, session: Session, raw: list[Any]) -> list[InspectionSummary]:
        self.lookups.ensure(session, {r[2] for r in raw}, {r[3] for r in raw}, {r[4] for r in raw if r[4]})
        stations, recipes, bundles = self.lookups.stations, self.lookups.recipes, self.lookups.bundles
        out = []
        for (id_, at, station_id, recipe_id, bundle_id, camera, frame_id, verdict, score, threshold, status,
             review_class, serial, lot, region_class) in raw:
            recipe, version = recipes.get(recipe_id, ("?", 0))
            out.append(InspectionSummary(
                id_, at, stations.get(station_id, "?"), recipe, version,
                None if bundle_id is None else bundles.get(bundle_id, "?"), camera, frame_id, verdict, score,
                threshold, status, review_class, region_class, serial, lot))
        return out

    def iter_rows(self, f: ReviewFilter | None = None, sort: Sort | None = None,
                  batch: int = 1000) -> Iterator[InspectionSummary]:
        """Every matching row, fetched page by page (never all at once)."""
        after: Cursor | None = None
        while True:
            page = self.page(f, sort, after, batch)
            yield from page.rows
            if page.next is None:
                return
            after = page.next

    def summary(self, inspection_id: int) -> InspectionSummary | None:
        with self.sessions() as session:
            raw = list(session.execute(select(*_COLUMNS, top_region_class()).where(Insp.id == inspection_id)))
            rows = self._summaries(session, raw)
        return rows[0] if rows else None

    def count(self, f: ReviewFilter | None = None) -> int:
        with self.sessions() as session:
            return int(session.scalar(self.filtered(session, select(func.count()).select_from(Insp),
                                                    f or ReviewFilter())) or 0)

    def options(self) -> FilterOptions:
        """Choices for the filter bar: names in use, known defect classes, the time span of the data."""
        with self.sessions() as session:
            classes = set(session.scalars(select(Reg.class_name).distinct()))
            classes |= set(session.scalars(select(ReviewRow.class_name).where(ReviewRow.class_name.is_not(None))
                                           .distinct()))
            return FilterOptions(
                stations=list(session.scalars(select(StationRow.name).order_by(StationRow.name))),
                recipes=list(session.scalars(select(RecipeRow.name).distinct().order_by(RecipeRow.name))),
                bundles=list(session.scalars(select(BundleRow.bundle_id).order_by(BundleRow.bundle_id))),
                classes=sorted(c for c in classes if c),
                first=session.scalar(select(func.min(Insp.acquired_at))),
                last=session.scalar(select(func.max(Insp.acquired_at))),
            )
