"""A station that requires signed recipes, with users of every role in its SQLite database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from inspector.access.service import AccessService
from inspector.cli import app as cli
from inspector.config import load_station_config
from inspector.station.factory import database_url
from tests.accounts import PASSWORDS, accounts
from tests.integration.station.conftest import write_station


@dataclass
class Station:
    config: Path
    recipe: Path
    url: str
    access: AccessService

    def cli(self, *args: str, stdin: str = ""):
        """``inspector ARGS --config station.yaml`` in this process; the result has exit_code and output."""
        return CliRunner().invoke(cli, [*args, "--config", str(self.config)], input=stdin)

    def as_user(self, name: str, *args: str, new_password: str | None = None):
        """A state-changing command as ``name``, the password (and a new one) on standard input."""
        stdin = PASSWORDS.get(name, "wrong-password") + "\n" + (f"{new_password}\n" if new_password else "")
        return self.cli(*args, "--user", name, "--password-stdin", stdin=stdin)


def signed_station(tmp_path: Path, bundle: Path) -> Station:
    config = write_station(tmp_path, bundle)
    data = yaml.safe_load(config.read_text())
    data["security"] = {"require_signed_recipes": True}
    config.write_text(yaml.safe_dump(data))
    (tmp_path / "station").mkdir(exist_ok=True)
    url = database_url(load_station_config(config))
    return Station(config, tmp_path / "recipe.yaml", url, accounts(url))


@pytest.fixture
def station(tmp_path: Path, tiny_bundle: Path) -> Station:
    return signed_station(tmp_path, tiny_bundle)
