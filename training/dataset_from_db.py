"""``inspector-train dataset-from-db``: reviewed inspections from the station database as an MVTec-layout dataset."""

from __future__ import annotations

import os
from pathlib import Path

from inspector.review.context import ReviewContext, default_artifacts_root
from inspector.review.dataset_export import DEFAULT_MAX_GOOD, DatasetSummary, export_dataset
from inspector.storage.database import DatabaseUnavailable, check_connection, default_sqlite_url, mask_url
from inspector.storage.migrate import current, head

DEFAULT_DATA_DIR = Path("data/station")


def default_database_url() -> str:
    """$INSPECTOR_DATABASE_URL, else the station's default SQLite file."""
    return os.environ.get("INSPECTOR_DATABASE_URL") or default_sqlite_url(DEFAULT_DATA_DIR)


def dataset_from_db(out: Path, database: str | None = None, recipe: str | None = None,
                    artifacts: Path | None = None, max_good: int | None = DEFAULT_MAX_GOOD,
                    overwrite: bool = False, seed: int = 0) -> DatasetSummary:
    """Write the dataset; raises ValueError (one line) for an unreachable database or an empty result."""
    url = database or default_database_url()
    root = artifacts or default_artifacts_root(url)
    if not Path(root).is_dir():
        raise FileNotFoundError(f"{root}: artifact folder not found (pass --artifacts)")
    try:
        check_connection(url)
        revision = current(url)
    except DatabaseUnavailable as exc:
        raise ValueError(str(exc)) from None
    if revision != head():
        raise ValueError(f"{mask_url(url)} is at schema revision {revision or 'none'}, not {head()}: "
                         "run `inspector db upgrade` first")
    ctx = ReviewContext(url, os.environ.get("USER", "ml"), root, migrate=False, check=False)
    try:
        summary = export_dataset(ctx.queries, ctx.store, out, recipe=recipe, max_good=max_good, seed=seed,
                                 overwrite=overwrite, source=mask_url(url))
    except FileExistsError as exc:
        raise ValueError(str(exc)) from None
    finally:
        ctx.close()
    if summary.train_good == 0:
        raise ValueError(f"{mask_url(url)}: no good inspections{f' for recipe {recipe}' if recipe else ''}; "
                         f"nothing to train on (dataset left in {out})")
    return summary
