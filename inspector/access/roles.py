"""Roles and what each may do; the service layer checks these, whatever the window shows."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    STATION_RUN = "start and stop the station"
    COUNTERS_RESET = "reset the counters"
    ALARMS_ACKNOWLEDGE = "acknowledge alarms"
    REVIEW = "review inspections"
    EXPORT = "export inspections and reports"
    RECIPE_CHANGE = "change recipes, thresholds, ROI, minimum area and deadlines"
    MODEL_DEPLOY = "deploy model bundles"
    USERS_MANAGE = "manage users"


OPERATOR = {Permission.STATION_RUN, Permission.COUNTERS_RESET, Permission.ALARMS_ACKNOWLEDGE}
ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "operator": frozenset(OPERATOR),
    "qa": frozenset({Permission.REVIEW, Permission.EXPORT}),
    "engineer": frozenset({Permission.RECIPE_CHANGE, Permission.MODEL_DEPLOY, *OPERATOR}),
    "admin": frozenset({Permission.USERS_MANAGE}),
}
ROLES = tuple(ROLE_PERMISSIONS)


def allowed(role: str, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


def roles_with(permission: Permission) -> tuple[str, ...]:
    return tuple(role for role, granted in ROLE_PERMISSIONS.items() if permission in granted)
