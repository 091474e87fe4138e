"""The database side of the review charts: grouped counts, computed where the rows are (never all rows fetched)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, case, cast, func, or_, select
from sqlalchemy.orm import Session

from inspector.review.charts_data import DEFECT_STATUSES, GOOD_STATUSES, Histogram, HourCount, histogram_from_bins
from inspector.review.queries import ReviewFilter, ReviewQueries, top_region_class
from inspector.storage.orm import InspectionRow as Insp

REVIEWED_LIMIT = 200_000


@dataclass(frozen=True)
class ReviewedScores:
    """Scores of reviewed records with their truth, for the what-if threshold."""

    scores: list[float]
    is_defect: list[bool]
    thresholds: list[float | None]


@dataclass(frozen=True)
class ChartsData:
    hours: list[HourCount]
    histogram: Histogram
    defects: dict[str, int]  # defect class -> count, for the Pareto
    reviewed: ReviewedScores
    threshold: float | None  # the newest matching inspection's image threshold

    @property
    def total(self) -> int:
        return sum(h.total for h in self.hours)

    @property
    def failed(self) -> int:
        return sum(h.failed for h in self.hours)


def _hour(session: Session) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H:00:00", Insp.acquired_at)  # stored as naive UTC text
    return func.date_trunc("hour", func.timezone("UTC", Insp.acquired_at))


def _as_utc(value: Any) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _count_if(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


class ChartQueries:
    def __init__(self, queries: ReviewQueries) -> None:
        self.queries = queries

    def hourly(self, f: ReviewFilter) -> list[HourCount]:
        with self.queries.sessions() as session:
            hour = _hour(session).label("hour")
            query = select(hour, func.count(), _count_if(Insp.verdict == "FAIL"),
                           _count_if(Insp.review_status.in_(GOOD_STATUSES)),
                           _count_if(Insp.review_status == "false_negative"))
            query = self.queries.filtered(session, query, f).group_by(hour).order_by(hour)
            return [HourCount(_as_utc(h), int(n), int(fail), int(fr), int(esc))
                    for h, n, fail, fr, esc in session.execute(query)]

    def threshold(self, f: ReviewFilter) -> float | None:
        with self.queries.sessions() as session:
            query = self.queries.filtered(session, select(Insp.image_threshold), f).where(
                Insp.image_threshold.is_not(None))
            return session.scalar(query.order_by(Insp.acquired_at.desc(), Insp.id.desc()).limit(1))

    def histogram(self, f: ReviewFilter, bins: int = 40, threshold: float | None = None) -> Histogram:
        with self.queries.sessions() as session:
            # two queries: each can be answered from the end of the score index when nothing else filters
            lo = session.scalar(self.queries.filtered(session, select(func.min(Insp.score)), f))
            hi = session.scalar(self.queries.filtered(session, select(func.max(Insp.score)), f))
            lo, hi = float(lo if lo is not None else 0.0), float(hi if hi is not None else 1.0)
            if threshold is not None:
                lo, hi = min(lo, threshold), max(hi, threshold)
            hi = hi if hi > lo else lo + 1.0
            scaled = (Insp.score - lo) * (bins / (hi - lo))
            index = cast(scaled, Integer) if session.get_bind().dialect.name == "sqlite" else func.floor(scaled)
            inner = self.queries.filtered(session, select(index.label("b"), Insp.review_status.label("s")), f)
            inner = inner.where(Insp.score.is_not(None)).subquery()
            query = select(inner.c.b, inner.c.s, func.count()).group_by(inner.c.b, inner.c.s)
            rows = [(int(b), s, int(n)) for b, s, n in session.execute(query)]
        return histogram_from_bins(rows, lo, hi, bins, threshold)

    def defects(self, f: ReviewFilter) -> dict[str, int]:
        """Defects by class: FAILs not marked false reject, plus escapes; class = review's, else top region's."""
        with self.queries.sessions() as session:
            name = func.coalesce(Insp.review_class, top_region_class(), "unclassified").label("c")
            inner = self.queries.filtered(session, select(name), f).where(or_(
                (Insp.verdict == "FAIL") & Insp.review_status.not_in(GOOD_STATUSES),
                Insp.review_status == "false_negative")).subquery()
            return {c: int(n) for c, n in session.execute(select(inner.c.c, func.count()).group_by(inner.c.c))}

    def reviewed(self, f: ReviewFilter, limit: int = REVIEWED_LIMIT) -> ReviewedScores:
        with self.queries.sessions() as session:
            query = self.queries.filtered(session, select(Insp.score, Insp.review_status, Insp.image_threshold), f)
            query = query.where(Insp.review_status.in_(DEFECT_STATUSES + GOOD_STATUSES), Insp.score.is_not(None))
            rows = session.execute(query.limit(limit)).all()
        return ReviewedScores([float(s) for s, _, _ in rows], [st in DEFECT_STATUSES for _, st, _ in rows],
                              [None if t is None else float(t) for _, _, t in rows])

    def all(self, f: ReviewFilter | None = None, bins: int = 40) -> ChartsData:
        f = f or ReviewFilter()
        threshold = self.threshold(f)
        return ChartsData(self.hourly(f), self.histogram(f, bins, threshold), self.defects(f), self.reviewed(f),
                          threshold)
