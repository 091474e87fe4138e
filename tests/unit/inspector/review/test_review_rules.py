"""Review rules and dataset helpers that need no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from inspector.review.dataset_export import box_mask, folder_name
from inspector.review.export import describe
from inspector.review.queries import ReviewFilter, Sort
from inspector.review.service import ReviewError, check_review


@pytest.mark.parametrize(("verdict", "action", "class_name", "comment", "error"), [
    ("FAIL", "confirm", "scratch", None, None),
    ("FAIL", "confirm", None, None, "needs its class"),
    ("PASS", "confirm", "scratch", None, "applies to a FAIL"),
    ("FAIL", "false_reject", None, None, None),
    ("PASS", "false_reject", None, None, "applies to a FAIL"),
    ("PASS", "escape", None, None, None),
    ("FAIL", "escape", "dent", None, "a PASS that was bad"),
    ("PASS", "comment", None, "looks odd", None),
    ("FAIL", "comment", None, "  ", "empty comment"),
    ("FAIL", "approve", None, None, "unknown review action"),
])
def test_review_actions_fit_the_verdict(verdict: str, action: str, class_name: str | None, comment: str | None,
                                        error: str | None) -> None:
    if error is None:
        check_review(verdict, action, class_name, comment)
    else:
        with pytest.raises(ReviewError, match=error):
            check_review(verdict, action, class_name, comment)


def test_folder_names_are_safe_and_never_good() -> None:
    assert [folder_name(n) for n in ("scratch", "oil stain", "../x", "good", "Good", "")] == [
        "scratch", "oil_stain", "x", "good_", "Good_", "unclassified"]


def test_box_mask_fills_and_clips() -> None:
    mask = box_mask(10, 8, [(1, 2, 3, 2), (8, 6, 5, 5), (20, 20, 2, 2)])
    assert mask.shape == (8, 10) and mask.dtype == np.uint8
    assert mask[2:4, 1:4].min() == 255 and mask[6:, 8:].min() == 255
    assert int((mask > 0).sum()) == 6 + 4


def test_filter_description_and_sort_keys() -> None:
    start = datetime(2026, 3, 2, 6, tzinfo=UTC)
    text = describe(ReviewFilter(start=start, end=start + timedelta(hours=8), station="line-1", min_score=0.5), UTC)
    assert text == "2026-03-02 06:00 – 2026-03-02 14:00; station = line-1; min score = 0.5"
    assert describe(ReviewFilter(), UTC) == "all inspections"
    with pytest.raises(ValueError, match="sort key"):
        Sort("station")
