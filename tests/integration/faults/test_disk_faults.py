"""The archive, and separately the journal, on a tiny full tmpfs and on a read-only mount.

Each run is 60 parts (the simulated line in part mode). Whatever fails is loud: a HOLD or a fault line, exit
code 3, and counts that add up to the 60 parts, nothing silent.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.integration.station.conftest import write_station

from .conftest import fill, mounted_tmpfs, query, station_command, station_env

pytestmark = pytest.mark.slow
PARTS = 60
SIM = {"product": "washer", "fps": 40, "size": 128, "defect_fraction": 0.3, "seed": 5, "parts": True}


def _config(tmp_path: Path, tiny_bundle: Path, **station: str) -> Path:
    config = write_station(tmp_path, tiny_bundle, sim=SIM)
    text = config.read_text()
    extra = "".join(f"  {k}: {v}\n" for k, v in station.items())
    text = text.replace("station:\n", "station:\n" + extra, 1)
    config.write_text(text + "writer: {batch_size: 8, flush_interval_s: 0.2, free_warn_mb: 0, free_hold_mb: 0}\n")
    return config


def _run(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(station_command(config, "--camera", "sim", "--frames", str(PARTS)), capture_output=True,
                          text=True, env=station_env(), timeout=600)


def _rows(tmp_path: Path) -> list[tuple]:
    return query(f"sqlite:///{tmp_path / 'station' / 'inspector.db'}",
                 "select verdict, artifacts, artifacts_error, image_artifact_id from inspections")


@pytest.mark.parametrize("read_only", [False, True], ids=["full", "read-only"])
def test_archive_fault_keeps_every_record_flagged_and_counted(tmp_path: Path, tiny_bundle: Path,
                                                              read_only: bool) -> None:
    archive = tmp_path / "archive"
    with mounted_tmpfs(archive, "2m", read_only=read_only):
        if not read_only:
            fill(archive, 200_000)  # room for a few inspections' images, then full
        result = _run(_config(tmp_path, tiny_bundle, archive_dir=str(archive)))
    output = result.stdout + result.stderr
    rows = _rows(tmp_path)
    missing = [r for r in rows if r[1] == "missing"]
    print(f"archive {'read-only' if read_only else 'full'}: exit {result.returncode}, {len(rows)} rows, "
          f"{len(missing)} without images")
    assert result.returncode == 3, output
    assert len(rows) == PARTS  # every part has its record
    assert missing and all(r[2].startswith("archive: ") and r[3] is None for r in missing)
    reported = int(re.search(r"fault: (\d+) inspections are logged without their images", output).group(1))
    assert reported == len(missing)
    kept = [r for r in rows if r not in missing]  # written; or a PASS the archive policy did not sample
    assert all((r[1] == "written" and r[3] is not None) or (r[0], r[1], r[3]) == ("PASS", "not_kept", None)
               for r in kept)
    if read_only:
        assert len(missing) == PARTS
    assert "Traceback" not in output


@pytest.mark.parametrize("read_only", [False, True], ids=["full", "read-only"])
def test_journal_fault_holds_the_station_and_releases_no_pass(tmp_path: Path, tiny_bundle: Path,
                                                              read_only: bool) -> None:
    journal = tmp_path / "journal"
    with mounted_tmpfs(journal, "1m", read_only=read_only):
        if not read_only:
            fill(journal, 0)
        result = _run(_config(tmp_path, tiny_bundle, journal_dir=str(journal)))
    output = result.stdout + result.stderr
    rows = _rows(tmp_path)
    unrecorded = int(re.search(r"fault: (\d+) verdicts were released REJECT without a record", output).group(1))
    print(f"journal {'read-only' if read_only else 'full'}: exit {result.returncode}, {len(rows)} rows, "
          f"{unrecorded} verdicts released without a record, silent losses {PARTS - len(rows) - unrecorded}")
    assert result.returncode == 3, output
    assert "fault: HOLD: journal unwritable" in output
    assert len(rows) + unrecorded == PARTS  # nothing silent
    assert re.search(r"frames 60 \| pass 0 \| fail 60", output), output  # no PASS left the station
    assert "Traceback" not in output


def test_low_free_space_holds_before_the_journal_disk_is_full(tmp_path: Path, tiny_bundle: Path) -> None:
    journal = tmp_path / "journal"
    with mounted_tmpfs(journal, "16m"):
        fill(journal, 8 * 1024 * 1024)
        config = _config(tmp_path, tiny_bundle, journal_dir=str(journal))
        config.write_text(config.read_text().replace("free_warn_mb: 0, free_hold_mb: 0", "free_warn_mb: 20, "
                                                     "free_hold_mb: 12"))
        result = _run(config)
    output = result.stdout + result.stderr
    rows = _rows(tmp_path)
    assert result.returncode == 3, output
    assert "fault: HOLD: journal disk nearly full" in output
    assert len(rows) == PARTS and all(r[0] == "FAIL" for r in rows)  # every record kept, every part rejected
