"""Where the station's database URL comes from: the environment, a 0600 file, sslmode for PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspector.config import load_station_config
from inspector.station.errors import ConfigInvalid
from inspector.station.factory import database_url


def _config(tmp_path: Path, database: str, environ: dict | None = None):
    path = tmp_path / "s.yaml"
    path.write_text(f"camera: {{kind: sim}}\nstation: {{data_dir: {tmp_path}}}\ndatabase: {database}\n")
    return load_station_config(path, environ=environ or {})


def test_the_url_comes_from_a_file_that_only_its_owner_reads(tmp_path: Path) -> None:
    secret = tmp_path / "db.url"
    secret.write_text("postgresql://station:s3cret@db.example/inspections\n")
    secret.chmod(0o600)
    config = _config(tmp_path, f"{{url_file: {secret}, sslmode: verify-full}}")
    assert database_url(config) == "postgresql://station:s3cret@db.example/inspections?sslmode=verify-full"
    secret.chmod(0o644)
    with pytest.raises(ConfigInvalid, match="readable by others") as refused:
        database_url(config)
    assert "s3cret" not in str(refused.value) and "chmod 600" in str(refused.value)


def test_the_environment_wins_and_sslmode_joins_its_query(tmp_path: Path) -> None:
    config = _config(tmp_path, "{sslmode: require}",
                     {"INSPECTOR_DATABASE_URL": "postgresql://u@h/db?options=-csearch_path%3Dx"})
    assert database_url(config) == "postgresql://u@h/db?options=-csearch_path%3Dx&sslmode=require"


def test_sqlite_gets_no_sslmode_and_a_missing_file_is_named(tmp_path: Path) -> None:
    assert "sslmode=" not in database_url(_config(tmp_path, "{sslmode: require}"))
    with pytest.raises(ConfigInvalid, match="database.url_file .*nope: file not found"):
        database_url(_config(tmp_path, f"{{url_file: {tmp_path / 'nope'}}}"))
