"""`inspector users ...` and `inspector recipe set` for every role, through the CLI, on a real database."""

from __future__ import annotations

import pytest
import yaml

from tests.accounts import USER_OF
from tests.integration.access.conftest import Station

ROLES = ("operator", "qa", "engineer", "admin")


def test_bootstrap_is_refused_once_an_admin_exists(station: Station) -> None:
    result = station.cli("users", "bootstrap", "mallory", "--password-stdin", stdin="wants-in-please-1\n")
    assert result.exit_code == 2 and "an admin exists already" in result.output
    assert station.access.user("mallory") is None


def test_bootstrap_makes_the_first_admin_of_a_new_database(tmp_path) -> None:
    from typer.testing import CliRunner

    from inspector.cli import app as cli

    url = f"sqlite:///{tmp_path / 'new.db'}"
    result = CliRunner().invoke(cli, ["users", "bootstrap", "root-admin", "--password-stdin", "--database", url],
                                input="first-admin-pass\n")
    assert result.exit_code == 0, result.output
    listed = CliRunner().invoke(cli, ["users", "list", "--database", url])
    assert "root-admin" in listed.output and "admin" in listed.output


@pytest.mark.parametrize("role", ROLES)
def test_only_an_admin_adds_a_user(station: Station, role: str) -> None:
    result = station.as_user(USER_OF[role], "users", "add", "newbie", "--role", "operator",
                             new_password="newcomer-pass-1")
    if role == "admin":
        assert result.exit_code == 0, result.output
        assert station.access.authenticate("newbie", "newcomer-pass-1").role == "operator"
    else:
        assert result.exit_code == 2 and "may not manage users" in result.output
        assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
        assert station.access.user("newbie") is None


@pytest.mark.parametrize("role", ROLES)
def test_only_an_admin_changes_roles_and_disables(station: Station, role: str) -> None:
    target = "quinn" if role != "qa" else "olga"
    changed = station.as_user(USER_OF[role], "users", "role", target, "--role", "engineer")
    disabled = station.as_user(USER_OF[role], "users", "disable", target)
    assert (changed.exit_code, disabled.exit_code) == ((0, 0) if role == "admin" else (2, 2))
    assert station.access.user(target).disabled == (role == "admin")


def test_a_wrong_password_is_refused_in_one_line(station: Station) -> None:
    result = station.cli("users", "add", "newbie", "--user", "ada", "--password-stdin",
                         stdin="not-the-password\nnewcomer-pass-1\n")
    assert result.exit_code == 2 and result.output.strip() == "error: wrong user name or password"


def test_passwd_sets_ones_own_password(station: Station) -> None:
    result = station.as_user("olga", "users", "passwd", "olga", new_password="operator-pass-2")
    assert result.exit_code == 0, result.output
    assert station.access.authenticate("olga", "operator-pass-2").name == "olga"


@pytest.mark.parametrize("role", ROLES)
def test_only_an_engineer_sets_a_threshold(station: Station, role: str) -> None:
    before = station.recipe.read_text()
    result = station.as_user(USER_OF[role], "recipe", "set", str(station.recipe), "--image-threshold", "30",
                             "--meaning", "approved threshold change")
    if role == "engineer":
        assert result.exit_code == 0, result.output
        recipe = yaml.safe_load(station.recipe.read_text())
        assert recipe["version"] == 4 and recipe["models"][0]["image_threshold"] == 30
        assert "signed by eve" in result.output and "approved threshold change" in result.output
    else:
        assert result.exit_code == 2 and f"({role}) may not change recipes" in result.output
        assert station.recipe.read_text() == before


def test_a_recipe_change_is_versioned_with_before_after_and_signature(station: Station) -> None:
    result = station.as_user("eve", "recipe", "set", str(station.recipe), "--min-area", "25", "--deadline-ms",
                             "500", "--roi", "0.1,0.1,0.9,0.9", "--meaning", "approved ROI change")
    assert result.exit_code == 0, result.output
    from sqlalchemy import select

    from inspector.storage.orm import AuditRow

    with station.access.uow_factory() as uow:
        row = uow.session.scalars(select(AuditRow).where(AuditRow.action == "recipe.change")).one()
        detail, user = row.detail, row.user_id
    assert detail["changed"]["min_defect_area"] == {"from": 10, "to": 25}
    assert detail["changed"]["deadline_ms"] == {"from": 10_000, "to": 500.0}
    assert detail["before"]["version"] == 3 and detail["after"]["version"] == 4
    assert detail["signed_by"] == "eve" and detail["meaning"] == "approved ROI change" and detail["signed_at"]
    assert user == station.access.user("eve").id


def test_a_signature_with_the_wrong_password_changes_nothing(station: Station) -> None:
    before = station.recipe.read_text()
    result = station.cli("recipe", "set", str(station.recipe), "--image-threshold", "1e6", "--meaning", "x y z",
                         "--user", "eve", "--password-stdin", stdin="engineer-guess-1\n")
    assert result.exit_code == 2 and station.recipe.read_text() == before


def test_on_a_new_station_bootstrap_and_demo_prepare_make_its_data_folder(tmp_path, tiny_bundle) -> None:
    """As `make demo` on a fresh clone: the station's data folder does not exist yet."""
    from typer.testing import CliRunner

    from inspector.cli import app as cli
    from inspector.cli_access import DEMO_USERS
    from tests.integration.station.conftest import write_station

    config = write_station(tmp_path, tiny_bundle)
    assert not (tmp_path / "station").exists()
    result = CliRunner().invoke(cli, ["demo-prepare", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "station" / "inspector.db").is_file()
    assert "demo users made" in result.output and "signed 1 demo recipe(s)" in result.output
    for name, role, _ in DEMO_USERS:
        assert f"{name} / " in result.output and f"({role})" in result.output
    again = CliRunner().invoke(cli, ["demo-prepare", "--config", str(config)])  # the next `make demo`
    assert again.exit_code == 0 and "demo users made" not in again.output
