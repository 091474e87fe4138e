"""The access service a station uses, on the database its config names."""

from __future__ import annotations

from pathlib import Path

from inspector.access.service import AccessService


def station_access(config_path: Path | str) -> tuple[AccessService | None, str | None, float]:
    """The access service on the station's database (None when the config cannot say where it is), its URL,
    and the idle logout. The database need not answer yet: logins are tried when someone logs in."""
    from inspector.config import load_station_config
    from inspector.station.factory import database_url
    from inspector.storage.database import make_engine, make_session_factory

    try:
        config = load_station_config(config_path)
        url = database_url(config)
    except Exception:  # noqa: BLE001 - the station reports config errors itself, at start
        return None, None, 900.0
    access = AccessService.for_database(make_session_factory(make_engine(url)), config.security)
    return access, url, config.security.idle_logout_s
