"""A station.yaml and recipe for a benchmark run of the real station on the simulated camera."""

from __future__ import annotations

from pathlib import Path

import yaml

from inspector.bundle.store import open_bundle


def write_station_config(root: Path, bundle: Path, *, fps: float, runtime: str = "onnxruntime",
                         threads: int | None = None, pool: int = 0, backpressure: str = "drop_oldest",
                         queue_size: int = 4, product: str = "washer", max_batch: int = 4,
                         workers: int | None = None) -> Path:
    """Files under ``root`` (database, journal and archive too); returns the station.yaml path."""
    size = open_bundle(bundle).manifest.input.height
    recipe = root / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"name": "bench", "models": [{"bundle": str(bundle.resolve())}],
                                      "min_defect_area": 30, "deadline_ms": 60_000}))
    station = root / "station.yaml"
    station.write_text(yaml.safe_dump({
        "station": {"name": "bench", "data_dir": str(root / "station")},
        "camera": {"kind": "sim", "sim": {"product": product, "fps": fps, "size": size, "defect_fraction": 0.2,
                                          "seed": 1, "pool": pool}},
        "recipe": str(recipe),
        "pipeline": {"queue_size": queue_size, "backpressure": backpressure, "runtime": runtime,
                     "inference_threads": threads, "max_batch": max_batch,
                     "inference_workers": workers},
        "security": {"require_signed_recipes": False},  # a throw-away recipe of the benchmark's own
    }))
    return station
