"""Recording QA reviews: one unit of work per review; the machine's verdict, score and reasons stay as logged."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from inspector.access.roles import Permission, allowed, roles_with
from inspector.access.service import PermissionDenied
from inspector.review.detail import ReviewEntry
from inspector.storage.orm import REVIEW_ACTIONS, STATUS_OF_ACTION, InspectionRow
from inspector.storage.repositories import ReviewRepository
from inspector.storage.unit_of_work import SqlAlchemyUnitOfWork

COMMENT_MAX = 2000


class ReviewError(ValueError):
    """A review that cannot be recorded (wrong action for the verdict, missing class, unknown inspection)."""


@dataclass(frozen=True)
class ReviewOutcome:
    inspection_id: int
    entry: ReviewEntry
    previous_status: str
    review_status: str
    review_class: str | None


def check_review(verdict: str, action: str, class_name: str | None, comment: str | None) -> None:
    """Raise :class:`ReviewError` unless ``action`` makes sense for an inspection with ``verdict``."""
    if action not in REVIEW_ACTIONS:
        raise ReviewError(f"unknown review action {action!r}; expected one of {', '.join(REVIEW_ACTIONS)}")
    if action in ("confirm", "false_reject") and verdict != "FAIL":
        raise ReviewError(f"{action.replace('_', ' ')} applies to a FAIL; this inspection is a {verdict}")
    if action == "escape" and verdict != "PASS":
        raise ReviewError(f"an escape is a PASS that was bad; this inspection is a {verdict}")
    if action == "confirm" and not class_name:
        raise ReviewError("confirming a defect needs its class")
    if action == "comment" and not (comment or "").strip():
        raise ReviewError("empty comment")
    if comment is not None and len(comment) > COMMENT_MAX:
        raise ReviewError(f"comment longer than {COMMENT_MAX} characters")


class ReviewService:
    """Stores reviews as ``reviewer``: a ``reviews`` row, an audit entry, and the inspection's review status.

    The reviewer must be an existing, enabled user whose role may review; nobody is created on the way.
    """

    def __init__(self, uow_factory: Callable[[], SqlAlchemyUnitOfWork], reviewer: str) -> None:
        if not reviewer.strip():
            raise ReviewError("a review needs a reviewer name")
        self.uow_factory = uow_factory
        self.reviewer = reviewer.strip()

    def record(self, inspection_id: int, action: str, class_name: str | None = None,
               comment: str | None = None, at: datetime | None = None) -> ReviewOutcome:
        """Record one review in its own transaction and return what changed."""
        comment = comment.strip() if comment and comment.strip() else None
        class_name = class_name.strip() if class_name and class_name.strip() else None
        with self.uow_factory().writing() as uow:
            row = uow.session.get(InspectionRow, inspection_id)
            if row is None:
                raise ReviewError(f"no inspection with id {inspection_id}")
            check_review(row.verdict, action, class_name, comment)
            user = uow.users.get(self.reviewer)
            if user is None or user.disabled or not allowed(user.role, Permission.REVIEW):
                why = "is not a user" if user is None else "is disabled" if user.disabled else f"is {user.role}"
                uow.audit.add("access.denied", "permission", Permission.REVIEW.name,
                              {"detail": f"review inspection {inspection_id}", "who": self.reviewer}, user=user)
                uow.commit()
                raise PermissionDenied(f"{self.reviewer} {why} and may not review: that needs the "
                                       f"{' or '.join(roles_with(Permission.REVIEW))} role")
            review = ReviewRepository(uow.session).add(row.id, user, action, class_name, comment,
                                                       at or datetime.now(UTC))
            previous = row.review_status
            if action in STATUS_OF_ACTION:
                row.review_status = STATUS_OF_ACTION[action]
                row.review_class = class_name if action != "false_reject" else None
            uow.session.flush()
            uow.audit.add(f"review.{action}", "inspection", row.id, {
                "review_id": review.id, "class_name": class_name, "comment": comment,
                "previous_status": previous, "status": row.review_status}, user=user, at=review.at)
            outcome = ReviewOutcome(row.id, ReviewEntry(review.id, review.at, user.name, action, class_name, comment),
                                    previous, row.review_status, row.review_class)
            uow.commit()
        return outcome

    def confirm(self, inspection_id: int, class_name: str, comment: str | None = None) -> ReviewOutcome:
        return self.record(inspection_id, "confirm", class_name, comment)

    def false_reject(self, inspection_id: int, comment: str | None = None) -> ReviewOutcome:
        return self.record(inspection_id, "false_reject", None, comment)

    def escape(self, inspection_id: int, class_name: str | None = None, comment: str | None = None) -> ReviewOutcome:
        return self.record(inspection_id, "escape", class_name, comment)

    def comment(self, inspection_id: int, text: str) -> ReviewOutcome:
        return self.record(inspection_id, "comment", None, text)
