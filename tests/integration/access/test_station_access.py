"""The station's side of access control: signed recipes at start, who may start, stop, acknowledge and review."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from inspector.access.recipes import RecipeBook
from inspector.access.service import PermissionDenied
from inspector.review.service import ReviewService
from inspector.station.errors import RecipeUnsigned
from inspector.station.runtime import State, StationRuntime
from inspector.storage.orm import AuditRow, InspectionRow
from tests.accounts import PASSWORDS, login
from tests.integration.access.conftest import Station

ROLES = ("operator", "qa", "engineer", "admin")


def _audit(station: Station) -> list[tuple[str, dict]]:
    with station.access.uow_factory() as uow:
        return [(r.action, r.detail) for r in uow.session.scalars(select(AuditRow).order_by(AuditRow.seq))]


def _sign(station: Station) -> None:
    RecipeBook(station.access).sign(login(station.access, "engineer"), PASSWORDS["eve"], "approved recipe",
                                    station.recipe)


def test_an_unsigned_recipe_is_refused_at_start(station: Station) -> None:
    runtime = StationRuntime(station.config, access=station.access)
    try:
        with pytest.raises(RecipeUnsigned, match="was never signed"):
            runtime.start(2)
        assert runtime.state is State.ERROR
    finally:
        runtime.close()


def test_a_recipe_edited_outside_the_app_is_refused_until_an_engineer_signs_it(station: Station) -> None:
    _sign(station)
    station.recipe.write_text(station.recipe.read_text().replace("min_defect_area: 10", "min_defect_area: 0"))
    runtime = StationRuntime(station.config, access=station.access)
    try:
        with pytest.raises(RecipeUnsigned, match="changed outside the app since eve signed version 3") as refused:
            runtime.start(2)
        assert str(station.recipe) in str(refused.value) and "\n" not in str(refused.value)
        _sign(station)
        runtime.start(3)
        assert runtime.wait(60) and runtime.counters.snapshot().inspected == 3
    finally:
        runtime.close()


@pytest.mark.parametrize("role", ROLES)
def test_who_may_start_stop_acknowledge_and_reset(station: Station, role: str) -> None:
    _sign(station)
    session = login(station.access, role)
    runtime = StationRuntime(station.config, access=station.access)
    try:
        may_run = role in ("operator", "engineer")
        for call in (lambda: runtime.start(2, by=session), lambda: runtime.acknowledge(by=session),
                     lambda: runtime.reset_counters(by=session), lambda: runtime.stop(by=session)):
            if may_run:
                call()
            else:
                with pytest.raises(PermissionDenied, match=re.escape(f"({role}) may not")):
                    call()
        assert runtime.state is State.STOPPED
        actions = [a for a, d in _audit(station) if a.startswith(("station.", "alarms.", "counters.", "access."))]
        if may_run:
            assert actions[-4:] == ["station.start", "alarms.acknowledge", "counters.reset", "station.stop"]
        else:
            assert actions[-4:] == ["access.denied"] * 4 and runtime.parts is None  # nothing was even built
    finally:
        runtime.close()


@pytest.mark.parametrize("role", ROLES)
def test_only_qa_reviews_and_nobody_is_created_by_a_review(station: Station, role: str) -> None:
    _sign(station)
    runtime = StationRuntime(station.config, access=station.access)
    try:
        runtime.start(2)
        assert runtime.wait(60)
    finally:
        runtime.close()
    with station.access.uow_factory() as uow:
        first, verdict = uow.session.execute(select(InspectionRow.id, InspectionRow.verdict)
                                             .order_by(InspectionRow.id)).first()
    action = "confirm" if verdict == "FAIL" else "escape"
    name = {"operator": "olga", "qa": "quinn", "engineer": "eve", "admin": "ada"}[role]
    service = ReviewService(station.access.uow_factory, name)
    if role == "qa":
        assert service.record(first, action).review_status != "unreviewed"
    else:
        with pytest.raises(PermissionDenied, match=f"{name} is {role} and may not review"):
            service.record(first, action)
    with pytest.raises(PermissionDenied, match="mallory is not a user"):
        ReviewService(station.access.uow_factory, "mallory").record(first, action)
    assert station.access.user("mallory") is None


def test_the_station_start_and_stop_by_the_system_are_audited(station: Station) -> None:
    _sign(station)
    runtime = StationRuntime(station.config, access=station.access)
    try:
        runtime.start(2)
        assert runtime.wait(60)
        runtime.stop()
    finally:
        runtime.close()
    starts = [d for a, d in _audit(station) if a in ("station.start", "station.stop")]
    assert [d["by"] for d in starts] == ["system", "system"]
