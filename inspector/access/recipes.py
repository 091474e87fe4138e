"""Signed changes to what decides: recipe knobs changed through the app, versioned, signed; edits outside it found.

A change (thresholds, ROI, minimum area, deadline, a model's bundle) needs an engineer's electronic signature; it
rewrites the recipe file (comments kept, version + 1), and records the signature with the file's sha256 and the
before and after in the audit trail. A station starts only on a recipe file whose content an engineer signed.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from sqlalchemy import select

from inspector.access.roles import Permission
from inspector.access.service import AccessError, AccessService, Signature, UserSession
from inspector.config import ConfigError, RecipeConfig
from inspector.storage.archive import write_atomic
from inspector.storage.orm import RecipeSignatureRow

log = logging.getLogger(__name__)
SIDECAR = ".signature.json"  # beside the recipe: what the station checks while its database is down


@dataclass(frozen=True)
class RecipeChanges:
    """What to change; None leaves a knob as it is. ``model`` is the model's place in the recipe, from 0."""

    model: int = 0
    image_threshold: float | None = None
    pixel_threshold: float | None = None
    min_defect_area: int | None = None
    deadline_ms: float | None = None
    roi: tuple[float, float, float, float] | None = None
    bundle: str | None = None
    clear: tuple[str, ...] = field(default_factory=tuple)  # "image_threshold", "pixel_threshold", "roi": to null

    def edits(self) -> dict[tuple, Any]:
        """The change as {path in the recipe: new value}."""
        found: dict[tuple, Any] = {}
        for key in ("image_threshold", "pixel_threshold", "bundle"):
            if getattr(self, key) is not None:
                found[("models", self.model, key)] = getattr(self, key)
        for key in ("min_defect_area", "deadline_ms"):
            if getattr(self, key) is not None:
                found[(key,)] = getattr(self, key)
        if self.roi is not None:
            found[("roi",)] = dict(zip(("x0", "y0", "x1", "y1"), self.roi, strict=True))
        for key in self.clear:
            found[(key,) if key == "roi" else ("models", self.model, key)] = None
        return found


def apply_edits(data: Any, edits: dict[tuple, Any]) -> None:
    """Set each path of ``edits`` in the (round-trip) recipe data; a model that is not there is an error."""
    for path, value in edits.items():
        node = data
        for key in path[:-1]:
            if isinstance(key, int) and not (isinstance(node, list) and 0 <= key < len(node)):
                raise AccessError(f"model {key + 1}: the recipe has {len(node) if isinstance(node, list) else 0} "
                                  "model(s)")
            node = node[key]
        node[path[-1]] = value


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _yaml() -> YAML:
    yaml = YAML()  # round trip: the comments that document every knob stay
    yaml.preserve_quotes = True
    yaml.width = 120
    return yaml


def _plain(data: Any) -> Any:
    return json.loads(json.dumps(data, default=str))


class RecipeBook:
    """Recipe changes and signatures through one :class:`AccessService`."""

    def __init__(self, access: AccessService) -> None:
        self.access = access

    def change(self, session: UserSession, password: str, meaning: str, path: Path,
               changes: RecipeChanges | dict[tuple, Any]) -> tuple[int, Signature]:
        """Apply ``changes`` (or {path: value} edits) to the recipe at ``path`` with an engineer's signature;
        returns the new version."""
        edits = changes.edits() if isinstance(changes, RecipeChanges) else dict(changes)
        self.access.require(session, Permission.RECIPE_CHANGE, f"recipe {path.name}")
        problem = self.problem(path)
        if problem is not None and "changed outside" in problem:
            raise AccessError(f"{problem}; sign its current content first (`inspector recipe sign`)")
        yaml = _yaml()
        data = yaml.load(path.read_text(encoding="utf-8"))
        before = _plain(data)
        apply_edits(data, edits)
        data["version"] = int(data.get("version") or 1) + 1
        after = _plain(data)
        try:
            RecipeConfig.model_validate(after).to_domain(path.parent)
        except (ValueError, ConfigError) as exc:
            raise AccessError(f"{path}: the change is not a valid recipe ({_first(exc)})") from exc
        self._check_thresholds(after, path)
        signature = self.access.sign(session, password, meaning)
        buffer = io.StringIO()
        yaml.dump(data, buffer)
        write_atomic(path, buffer.getvalue().encode("utf-8"))
        self._record(signature, path, after, "recipe.change", {"before": before, "after": after,
                                                                "changed": _diff(before, after)})
        return int(after["version"]), signature

    def sign(self, session: UserSession, password: str, meaning: str, path: Path) -> Signature:
        """Sign the recipe file as it is now (after an edit outside the app, or a first installation)."""
        self.access.require(session, Permission.RECIPE_CHANGE, f"sign recipe {path.name}")
        data = _plain(_yaml().load(path.read_text(encoding="utf-8")))
        try:
            RecipeConfig.model_validate(data)
        except ValueError as exc:
            raise AccessError(f"{path}: not a valid recipe ({_first(exc)})") from exc
        signature = self.access.sign(session, password, meaning)
        self._record(signature, path, data, "recipe.sign", {"body": data})
        return signature

    def problem(self, path: Path) -> str | None:
        """None when an engineer signed exactly this content of the recipe file, else what is wrong."""
        name = _plain(_yaml().load(path.read_text(encoding="utf-8")) or {}).get("name")
        sha = file_sha256(path)
        with self.access.uow_factory() as uow:
            last = uow.session.scalars(select(RecipeSignatureRow).where(RecipeSignatureRow.name == name)
                                       .order_by(RecipeSignatureRow.id.desc()).limit(1)).first()
            signed = uow.session.scalars(select(RecipeSignatureRow.id).where(
                RecipeSignatureRow.name == name, RecipeSignatureRow.sha256 == sha).limit(1)).first()
        if signed is not None and last is not None and last.sha256 == sha:
            return None
        if last is None:
            return f"recipe {path} ({name}) was never signed"
        return (f"recipe {path} ({name}) was changed outside the app since {last.user.name} signed version "
                f"{last.version} on {last.at:%Y-%m-%d %H:%M} UTC")

    def _check_thresholds(self, data: dict[str, Any], path: Path) -> None:
        """The new thresholds must bind to their bundles as the station will bind them."""
        from inspector.bundle.store import BundleError, open_bundle
        from inspector.inference.thresholds import resolve_threshold

        recipe = RecipeConfig.model_validate(data).to_domain(path.parent)
        for rule in recipe.models:
            try:
                bundle = open_bundle(rule.bundle)
            except BundleError:
                continue  # a bundle that is not here yet: the station checks it when it starts
            try:
                for kind in ("image", "pixel"):
                    resolve_threshold(bundle, kind, getattr(rule, f"{kind}_threshold"), rule.override_calibration)
            except BundleError as exc:
                raise AccessError(str(exc)) from exc
            finally:
                bundle.close()

    def _record(self, signature: Signature, path: Path, body: dict[str, Any], action: str, detail: dict) -> None:
        sha = file_sha256(path)
        with self.access.uow_factory().writing() as uow:
            user = uow.users.get(signature.name)
            row = uow.audit.add(action, "recipe", body.get("name"), {
                **detail, "file": str(path), "sha256": sha, "version": body.get("version"),
                **signature.manifestation()}, user=user, at=signature.at)
            uow.session.add(RecipeSignatureRow(name=str(body.get("name")), version=int(body.get("version") or 1),
                                               sha256=sha, body=body, user_id=user.id, at=signature.at,
                                               meaning=signature.meaning, audit_seq=row.seq))
            uow.commit()
        sidecar = {"name": body.get("name"), "version": body.get("version"), "sha256": sha, **signature.manifestation()}
        try:
            write_atomic(path.with_name(path.name + SIDECAR), (json.dumps(sidecar, indent=2) + "\n").encode())
        except OSError as exc:  # the database holds the signature; the sidecar only helps while it is down
            log.warning("recipe signature sidecar not written beside %s: %s", path, exc)


def sidecar_problem(path: Path) -> str | None:
    """The check while the database is down: the sidecar written at signing must match the file."""
    sidecar = path.with_name(path.name + SIDECAR)
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"recipe {path} has no signature record beside it and the database cannot be asked"
    if record.get("sha256") != file_sha256(path):
        return f"recipe {path} was changed outside the app since {record.get('signed_by')} signed it"
    return None


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    changed = {k: {"from": before.get(k), "to": v} for k, v in after.items() if before.get(k) != v and k != "models"}
    for i, (old, new) in enumerate(zip(before.get("models", []), after.get("models", []), strict=False)):
        for key, value in new.items():
            if old.get(key) != value:
                changed[f"models.{i}.{key}"] = {"from": old.get(key), "to": value}
    return changed


def _first(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"field {'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)
