"""Camera and recipe settings: the key fields, validated by the station's own pydantic models (``StationConfig``,
``RecipeConfig``) with each error shown next to its field; the YAML is written, comments kept, only when valid."""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from inspector.config import RecipeConfig, StationConfig
from inspector.gui.qt_widgets import STYLE
from inspector.synthetic import PRODUCTS

Path_ = tuple[str | int, ...]
_KEY = re.compile(r"^(?P<indent> *)(?P<dash>- +)?(?P<key>[A-Za-z_][\w.-]*) *:(?P<rest>(?:\s.*)?)$")
_VALUE = re.compile(r"^(?P<value>.*?)(?P<comment>\s+#.*)?$")
INVALID = "border: 2px solid #ff5c5c;"


@dataclass(frozen=True)
class FieldSpec:
    """One editable setting: which file, where in it, how it is edited."""

    file: str  # "station" or "recipe"
    path: Path_
    label: str
    kind: str  # choice | number | optional | optional_number | yaml
    choices: tuple[str, ...] = ()
    hint: str = ""


def station_fields() -> list[FieldSpec]:
    return [
        FieldSpec("station", ("camera", "kind"), "Camera kind", "choice", ("sim", "genicam", "replay")),
        FieldSpec("station", ("camera", "sim", "product"), "Product", "choice", tuple(PRODUCTS)),
        FieldSpec("station", ("camera", "sim", "fps"), "Frames per second", "number"),
        FieldSpec("station", ("camera", "sim", "defect_fraction"), "Defect fraction (0–1)", "number"),
        FieldSpec("station", ("camera", "genicam", "serial"), "GenICam serial number", "optional",
                  hint="empty: the first camera found"),
        FieldSpec("station", ("camera", "genicam", "features"), "GenICam features", "yaml",
                  hint="{ExposureTime: 5000, PixelFormat: RGB8}"),
    ]


def recipe_fields(raw: dict) -> list[FieldSpec]:
    fields = []
    models = raw.get("models") if isinstance(raw.get("models"), list) else []
    for i, _ in enumerate(models):
        tag = f"Model {i + 1}: " if len(models) > 1 else ""
        for which in ("image", "pixel"):
            fields.append(FieldSpec("recipe", ("models", i, f"{which}_threshold"), f"{tag}{which.title()} threshold",
                                    "optional_number", hint="empty: the bundle's calibrated threshold"))
    fields.append(FieldSpec("recipe", ("min_defect_area",), "Min defect area (px)", "number"))
    fields.append(FieldSpec("recipe", ("deadline_ms",), "Deadline (ms)", "number"))
    return fields


# ---- nested access ---------------------------------------------------------------------------------------------
def get_in(data: Any, path: Path_, default: Any = None) -> Any:
    for key in path:
        try:
            data = getattr(data, key) if isinstance(data, BaseModel) else data[key]
        except (KeyError, IndexError, TypeError, AttributeError):
            return default
    return data


def set_in(data: dict, path: Path_, value: Any) -> None:
    for key in path[:-1]:
        if isinstance(data, dict) and not isinstance(data.get(key), dict | list):
            data[key] = {}
        data = data[key]
    data[path[-1]] = value


def render_scalar(value: Any) -> str:
    """``value`` as one line of YAML (flow style for mappings)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 20, sort_keys=False, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...").strip()


# ---- comment-preserving YAML edits -----------------------------------------------------------------------------
def _content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _children_end(lines: list[str], start: int, hi: int, indent: int) -> int:
    end = last = start
    while end < hi and (not _content(lines[end]) or _indent(lines[end]) > indent):
        end += 1
        if _content(lines[end - 1]):
            last = end
    return last


def _locate(lines: list[str], path: Path_) -> tuple[int, int, int, int] | None:
    """(line, indent, children start, children end) of the key at ``path``, or None."""
    lo, hi, found = 0, len(lines), None
    for key in path:
        if isinstance(key, int):
            items = [i for i in range(lo, hi) if _content(lines[i]) and lines[i].lstrip().startswith("- ")]
            top = min((_indent(lines[i]) for i in items), default=0)
            items = [i for i in items if _indent(lines[i]) == top]
            if key >= len(items):
                return None
            lo, hi = items[key], items[key + 1] if key + 1 < len(items) else hi
            continue
        level, found = None, None
        for i in range(lo, hi):
            if not _content(lines[i]):
                continue
            m = _KEY.match(lines[i])
            eff = _indent(lines[i]) + len(m["dash"] or "") if m else _indent(lines[i])
            level = eff if level is None else level
            if m and eff == level and m["key"] == key:
                found = (i, eff)
                break
        if found is None:
            return None
        lo, hi = found[0] + 1, _children_end(lines, found[0] + 1, hi, found[1])
    return (found[0], found[1], lo, hi) if found else None


def _set_line(lines: list[str], path: Path_, rendered: str) -> bool:
    where = _locate(lines, path)
    if where is None:
        parent = _locate(lines, path[:-1]) if len(path) > 1 and isinstance(path[-2], str) else None
        if parent is None or isinstance(path[-1], int):
            return False
        line, indent, lo, hi = parent
        children = [i for i in range(lo, hi) if _content(lines[i])]
        child_indent = _indent(lines[children[0]]) if children else indent + 2
        lines.insert(hi, f"{' ' * child_indent}{path[-1]}: {rendered}")
        return True
    line, _, lo, hi = where
    text = lines[line]
    m = _KEY.match(text)
    prefix = text[: text.index(":", m.end("key")) + 1]
    value = _VALUE.match(m["rest"])
    new = f"{prefix} {rendered}"
    if value["comment"]:
        comment = value["comment"]
        column = len(prefix) + len(value["value"]) + len(comment) - len(comment.lstrip())
        new = new + " " * max(1, column - len(new)) + comment.lstrip()
    lines[line] = new
    del lines[lo:hi]  # a block value (indented children) is replaced by the one-line value
    return True


def update_yaml_text(text: str, edits: dict[Path_, Any]) -> str:
    """``text`` with each path set to its value, comments and layout kept; a plain dump where that fails."""
    data = yaml.safe_load(text) or {}
    intended = copy.deepcopy(data)
    for path, value in edits.items():
        set_in(intended, path, value)
    lines = text.splitlines()
    if all(_set_line(lines, path, render_scalar(value)) for path, value in edits.items()):
        edited = "\n".join(lines) + "\n"
        try:
            if yaml.safe_load(edited) == intended:
                return edited
        except yaml.YAMLError:
            pass
    return yaml.safe_dump(intended, sort_keys=False, allow_unicode=True)


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ---- the dialog ------------------------------------------------------------------------------------------------
class QtSettingsDialog(QDialog):
    """Edits station.yaml (camera) and the recipe; Save is enabled only while every field is valid."""

    saved = Signal()
    recipeChangeRequested = Signal(object)  # {path in the recipe: value}: to be signed and made by the owner

    def __init__(self, station_path: Path | str, recipe_path: Path | str, parent: QWidget | None = None,
                 signed_recipe: bool = False) -> None:
        """``signed_recipe``: recipe edits are not written here but requested (an electronic signature first)."""
        super().__init__(parent)
        self.signed_recipe = signed_recipe
        self.setWindowTitle("Settings – camera and recipe")
        self.setStyleSheet(STYLE)
        self.resize(1060, 520)
        self.paths = {"station": Path(station_path), "recipe": Path(recipe_path)}
        self.texts = {name: path.read_text(encoding="utf-8") for name, path in self.paths.items()}
        self.raw = {name: yaml.safe_load(text) or {} for name, text in self.texts.items()}
        self.fields = station_fields() + recipe_fields(self.raw["recipe"])
        self.editors: dict[FieldSpec, QLineEdit | QComboBox] = {}
        self.errors: dict[FieldSpec, QLabel] = {}
        self.values: dict[str, BaseModel | None] = {"station": None, "recipe": None}
        self.general_error = QLabel()
        self.general_error.setObjectName("fieldError")
        self.general_error.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        groups = QHBoxLayout()
        groups.addWidget(self._group(f"Camera – {self.paths['station'].name}", "station"))
        groups.addWidget(self._group(f"Recipe – {self.paths['recipe'].name}", "recipe"))
        box = QVBoxLayout(self)
        box.addLayout(groups)
        box.addWidget(self.general_error)
        box.addWidget(self.buttons)
        self.validate()

    def _group(self, title: str, file: str) -> QGroupBox:
        group = QGroupBox(title)
        form = QFormLayout(group)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setVerticalSpacing(10)
        defaults = StationConfig() if file == "station" else None
        for spec in (f for f in self.fields if f.file == file):
            current = get_in(self.raw[file], spec.path, get_in(defaults, spec.path))
            editor = self._editor(spec, current)
            error = QLabel()
            error.setObjectName("fieldError")
            error.setWordWrap(True)
            error.hide()
            cell = QVBoxLayout()
            cell.setSpacing(2)
            cell.addWidget(editor)
            cell.addWidget(error)
            form.addRow(spec.label, cell)
            self.editors[spec], self.errors[spec] = editor, error
        return group

    def _editor(self, spec: FieldSpec, current: Any) -> QLineEdit | QComboBox:
        if spec.kind == "choice":
            combo = QComboBox()
            combo.setMinimumWidth(260)
            combo.addItems(list(spec.choices))
            if current is not None and str(current) not in spec.choices:
                combo.addItem(str(current))
            combo.setCurrentText(str(current))
            combo.currentTextChanged.connect(self.validate)
            return combo
        edit = QLineEdit("" if current is None else render_scalar(current) if spec.kind == "yaml" else str(current))
        edit.setObjectName(".".join(str(p) for p in spec.path))
        edit.setPlaceholderText(spec.hint)
        edit.setMinimumWidth(260)
        edit.textChanged.connect(self.validate)
        return edit

    def editor(self, dotted: str) -> QLineEdit | QComboBox:
        """The editor of the field at ``dotted`` (e.g. ``camera.sim.fps``)."""
        return next(e for s, e in self.editors.items() if ".".join(map(str, s.path)) == dotted)

    def error_text(self, dotted: str) -> str:
        return next(self.errors[s].text() for s in self.errors if ".".join(map(str, s.path)) == dotted)

    def _read(self, spec: FieldSpec) -> Any:
        editor = self.editors[spec]
        text = editor.currentText() if isinstance(editor, QComboBox) else editor.text().strip()
        if spec.kind in ("optional", "optional_number") and not text:
            return None
        if spec.kind == "yaml":
            return yaml.safe_load(text) if text else {}
        return text

    def validate(self) -> bool:
        """Check both files with the station's models; show every error next to its field."""
        problems: dict[FieldSpec | None, list[str]] = {}
        for file, model in (("station", StationConfig), ("recipe", RecipeConfig)):
            candidate = copy.deepcopy(self.raw[file])
            self.values[file] = None
            for spec in (f for f in self.fields if f.file == file):
                try:
                    set_in(candidate, spec.path, self._read(spec))
                except yaml.YAMLError as exc:
                    problems.setdefault(spec, []).append(f"{'.'.join(map(str, spec.path))}: not valid YAML "
                                                         f"({getattr(exc, 'problem', exc)})")
            if any(s is not None and s.file == file for s in problems):
                continue
            try:
                self.values[file] = model.model_validate(candidate)
            except ValidationError as exc:
                for error in exc.errors():
                    spec = self._spec_for(file, tuple(error["loc"]))
                    where = ".".join(map(str, error["loc"])) or self.paths[file].name
                    problems.setdefault(spec, []).append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
        for spec, label in self.errors.items():
            messages = problems.get(spec, [])
            label.setText("\n".join(messages))
            label.setVisible(bool(messages))
            self.editors[spec].setStyleSheet(INVALID if messages else "")
        kind = self._read(next(s for s in self.fields if s.path == ("camera", "kind")))
        for spec, editor in self.editors.items():
            if spec.path[:2] in (("camera", "sim"), ("camera", "genicam")):
                editor.setEnabled(spec.path[1] == kind)  # still validated: the file must stay loadable
        general = problems.get(None, [])
        self.general_error.setText("\n".join(general))
        self.general_error.setVisible(bool(general))
        valid = not problems
        self.save_button.setEnabled(valid)
        return valid

    def _spec_for(self, file: str, loc: tuple) -> FieldSpec | None:
        matches = [s for s in self.fields if s.file == file and loc[: len(s.path)] == s.path]
        if not matches and file == "station" and loc == ("camera",):
            matches = [s for s in self.fields if s.path == ("camera", "kind")]
        return max(matches, key=lambda s: len(s.path), default=None)

    def save(self) -> bool:
        """Write the changed files (only when valid); returns whether it saved. With ``signed_recipe``, recipe
        changes are requested instead (``recipeChangeRequested``), and the dialog stays open until the owner calls
        :meth:`recipe_done`."""
        if not self.validate():
            return False
        pending = {}
        for file in ("station", "recipe"):
            model = self.values[file]
            edits = {s.path: get_in(model, s.path) for s in self.fields if s.file == file}
            edits = {p: v for p, v in edits.items() if get_in(self.raw[file], p, None) != v}
            if edits and file == "recipe" and self.signed_recipe:
                pending = edits
            elif edits:
                write_atomically(self.paths[file], update_yaml_text(self.texts[file], edits))
        if pending:
            self.recipeChangeRequested.emit(pending)
            return True
        self.recipe_done()
        return True

    def recipe_done(self) -> None:
        self.saved.emit()
        self.accept()
