"""Properties of config and recipe loading: any YAML at all gives a config or one ConfigError line, never a
traceback; a threshold that is not a finite number never loads."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspector.config import ConfigError, load_recipe, load_station_config

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["name", "version", "models", "bundle", "image_threshold", "pixel_threshold", "roi", "x0",
                     "deadline_ms", "min_defect_area", "combine", "camera", "kind", "sim", "fps", "writer",
                     "station", "data_dir", "recipe", "pipeline", "backpressure"]), inner, max_size=4),
    max_leaves=12)
KEEP = dict(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _load(path: Path, text: str, loader) -> None:
    path.write_text(text)
    try:
        loader(path)
    except ConfigError as exc:
        assert "\n" not in str(exc).strip(), str(exc)


@settings(**KEEP)
@given(values)
def test_any_recipe_yaml_loads_or_is_one_config_error(tmp_path: Path, data) -> None:
    _load(tmp_path / "recipe.yaml", yaml.safe_dump(data), load_recipe)


@settings(**KEEP)
@given(values)
def test_any_station_yaml_loads_or_is_one_config_error(tmp_path: Path, data) -> None:
    _load(tmp_path / "station.yaml", yaml.safe_dump(data), lambda p: load_station_config(p, environ={}))


@settings(**KEEP)
@given(st.text(max_size=40))
def test_any_text_at_all_loads_or_is_one_config_error(tmp_path: Path, text: str) -> None:
    _load(tmp_path / "recipe.yaml", text, load_recipe)


@settings(**KEEP)
@given(st.sampled_from([".nan", ".inf", "-.inf", "-1.0e-3"]), st.sampled_from(["image_threshold",
                                                                                "pixel_threshold"]))
def test_a_threshold_that_is_not_finite_is_refused_at_load(tmp_path: Path, value: str, field: str) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(f"name: r\nmodels:\n  - bundle: b\n    {field}: {value}\n")
    if value == "-1.0e-3":
        load_recipe(path)  # finite: its range is checked against the bundle's task when the model is bound
        return
    try:
        load_recipe(path)
    except ConfigError as exc:
        assert f"models.0.{field}" in str(exc)
    else:
        raise AssertionError(f"{field}: {value} loaded")


@settings(**KEEP)
@given(st.binary(max_size=40))
def test_any_bytes_at_all_load_or_are_one_config_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_bytes(data)
    try:
        load_recipe(path)
    except ConfigError as exc:
        assert "\n" not in str(exc).strip(), str(exc)
