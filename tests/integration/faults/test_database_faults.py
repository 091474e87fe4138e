"""PostgreSQL stopped and restarted under a running station; many stations (and upgrades) on a fresh database."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from inspector.storage.migrate import current, head
from tests.conftest import skip_without
from tests.integration.station.conftest import write_station
from tests.postgres_server import PrivateCluster

from .conftest import query, station_command, station_env

pytestmark = pytest.mark.slow
SIM = {"product": "washer", "fps": 20, "size": 128, "defect_fraction": 0.3, "seed": 5, "parts": True}


@pytest.fixture
def cluster() -> PrivateCluster:
    try:
        server = PrivateCluster()
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        skip_without(f"cannot start a private PostgreSQL: {exc}")
    yield server
    server.remove()


def test_postgresql_stopped_and_restarted_loses_nothing(tmp_path: Path, tiny_bundle: Path,
                                                        cluster: PrivateCluster) -> None:
    url = cluster.server.url()
    config = write_station(tmp_path, tiny_bundle, sim=SIM)
    proc = subprocess.Popen(station_command(config, "--camera", "sim", "--frames", "200"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=station_env(INSPECTOR_DATABASE_URL=url))
    try:
        deadline = time.monotonic() + 180
        while len(query(url, "select id from inspections")) < 30:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.2)
        cluster.stop()
        time.sleep(4)  # the station inspects on, into its journal
        cluster.start()
        output, _ = proc.communicate(timeout=300)
    finally:
        proc.kill()
    rows = query(url, "select count(*), count(distinct uid) from inspections")[0]
    assert proc.returncode == 0, output
    assert rows == (200, 200), output
    assert not any((tmp_path / "station" / "journal").glob("*.json*"))


def _fresh_database(cluster: PrivateCluster, name: str) -> str:
    import psycopg

    with psycopg.connect(**cluster.server.connect_kwargs("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return cluster.server.url(name)


def test_three_stations_start_at_once_on_a_fresh_database(tmp_path: Path, tiny_bundle: Path,
                                                          cluster: PrivateCluster) -> None:
    url = _fresh_database(cluster, "fresh_three")
    procs = []
    for n in range(3):
        folder = tmp_path / f"station-{n}"
        folder.mkdir()
        config = write_station(folder, tiny_bundle, sim=SIM)
        config.write_text(config.read_text().replace("name: test-station", f"name: station-{n}"))
        procs.append(subprocess.Popen(station_command(config, "--camera", "sim", "--frames", "10"),
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                      env=station_env(INSPECTOR_DATABASE_URL=url)))
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    started = sum(p.returncode == 0 for p in procs)
    print(f"stations started on a fresh database: {started} of 3")
    assert started == 3, "\n".join(outputs)
    assert query(url, "select count(*) from inspections") == [(30,)]
    assert query(url, "select count(*) from stations") == [(3,)]


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_fifteen_concurrent_upgrades_all_succeed(tmp_path: Path, cluster: PrivateCluster, backend: str) -> None:
    if backend == "sqlite":
        (tmp_path / "db").mkdir()
        url = f"sqlite:///{tmp_path / 'db' / 'inspector.db'}"
    else:
        url = _fresh_database(cluster, "fresh_upgrades")
    results: list[subprocess.CompletedProcess] = []

    def upgrade() -> None:
        results.append(subprocess.run([sys.executable, "-m", "inspector.cli", "db", "upgrade",
                                       "--database", url], capture_output=True, text=True, env=station_env(),
                                      timeout=300))

    threads = [threading.Thread(target=upgrade) for _ in range(15)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = [r for r in results if r.returncode != 0]
    assert not failed, failed[0].stdout + failed[0].stderr
    assert current(url) == head()
