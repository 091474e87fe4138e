"""kill -9 of a station at three moments, then a restart: every verdict that left the station is recorded.

The listener is this test process, reading the station's ``--line stdout`` pipe: a line there has left the
station. After the kills, a last run replays the journal; then every uid seen on the pipe must be a row.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.integration.station.conftest import write_station

from .conftest import VerdictListener, query, station_command, station_env

pytestmark = pytest.mark.slow
MOMENTS = (3, 25, 60)  # verdicts on the pipe before each kill
SIM = {"product": "washer", "fps": 40, "size": 128, "defect_fraction": 0.3, "seed": 5, "parts": True}


def _kill_runs(config: Path, env: dict[str, str]) -> list[dict]:
    emitted: list[dict] = []
    for moment in MOMENTS:
        proc = subprocess.Popen(station_command(config, "--camera", "sim", "--line", "stdout"), stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, env=env)
        listener = VerdictListener(proc)
        try:
            listener.wait_for(moment)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(60)
            listener.rest()
        finally:
            proc.kill()
        assert proc.returncode == -signal.SIGKILL
        emitted += listener.verdicts
    return emitted


@pytest.mark.parametrize("delay_ms", [0, 40], ids=["journal", "slow-journal"])
def test_no_verdict_that_left_is_lost(tmp_path: Path, tiny_bundle: Path, fsync_delay: Path, delay_ms: int) -> None:
    config = write_station(tmp_path, tiny_bundle, sim=SIM)
    env = station_env(**({"LD_PRELOAD": str(fsync_delay), "FSYNC_DELAY_MS": str(delay_ms)} if delay_ms else {}))
    emitted = _kill_runs(config, env)
    restart = subprocess.run(station_command(config, "--camera", "sim", "--frames", "1"), capture_output=True,
                             text=True, env=env, timeout=300)
    assert restart.returncode == 0, restart.stdout + restart.stderr
    url = f"sqlite:///{tmp_path / 'station' / 'inspector.db'}"
    rows = [uid for (uid,) in query(url, "select uid from inspections")]
    uids = [v["uid"] for v in emitted]
    lost = set(uids) - set(rows)
    duplicates = [uid for uid, n in collections.Counter(uids).items() if n > 1]
    print(f"fsync delay {delay_ms} ms: {len(uids)} verdicts left the station over {len(MOMENTS)} kills, "
          f"{len(rows)} rows after the restart, lost {len(lost)}, sent twice {len(duplicates)}")
    assert len(uids) >= sum(MOMENTS)
    assert lost == set() and duplicates == []
    assert len(rows) == len(set(rows))
    assert all(v["durable"] for v in emitted)
    assert not any((tmp_path / "station" / "journal").glob("*.json*"))
