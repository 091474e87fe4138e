"""Thresholds a model may be bound to: finite, within the task's score range, and near the calibrated ones."""

from __future__ import annotations

import logging
import math

from inspector.bundle.store import Bundle, BundleError

log = logging.getLogger(__name__)

# Scores each task gives: anomaly distances are >= 0; supervised scores are probabilities.
SCORE_RANGE = {"anomaly": (0.0, math.inf), "classification": (0.0, 1.0), "detection": (0.0, 1.0),
               "segmentation": (0.0, 1.0)}
FAR = 10.0  # a recipe threshold more than this factor from the calibrated one must be meant explicitly


def resolve_threshold(bundle: Bundle, kind: str, override: float | None, override_calibration: bool) -> float:
    """The threshold to bind: the recipe's ``override`` (checked) or the bundle's calibrated value.

    ``kind`` is ``image`` or ``pixel``. Raises :class:`BundleError` with one line naming the value and the limit.
    """
    manifest = bundle.manifest
    calibrated = getattr(manifest, f"{kind}_threshold").value
    value = calibrated if override is None else float(override)
    where = f"bundle {manifest.bundle_id}" if override is None else f"recipe {kind}_threshold for {manifest.bundle_id}"
    low, high = SCORE_RANGE.get(manifest.task, (-math.inf, math.inf))
    if not math.isfinite(value):
        raise BundleError(f"{where}: {kind} threshold {value} is not a finite number")
    if not low <= value <= high:
        raise BundleError(f"{where}: {kind} threshold {value:g} is outside the {manifest.task} score range "
                          f"{low:g}..{high:g}")
    if override is not None and calibrated > 0 and not calibrated / FAR <= value <= calibrated * FAR:
        if not override_calibration:
            raise BundleError(f"{where}: {kind} threshold {value:g} is more than {FAR:g}x from the calibrated "
                              f"{calibrated:.4g}; set override_calibration: true on this model to mean it")
        log.warning("%s: %s threshold %g overrides the calibrated %.4g (override_calibration is set)", where,
                    kind, value, calibrated)
    return value
