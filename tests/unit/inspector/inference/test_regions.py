from __future__ import annotations

import numpy as np

from inspector.inference.anomaly import extract_regions


def test_regions_are_connected_areas_over_the_threshold() -> None:
    anomaly_map = np.zeros((50, 60), np.float32)
    anomaly_map[5:15, 10:20] = 3.0  # 100 px
    anomaly_map[30:32, 40:42] = 5.0  # 4 px
    regions = extract_regions(anomaly_map, threshold=1.0, min_area=1)
    assert [(r.x, r.y, r.width, r.height, r.area) for r in regions] == [(40, 30, 2, 2, 4), (10, 5, 10, 10, 100)]
    assert regions[0].score == 5.0
    assert [r.area for r in extract_regions(anomaly_map, 1.0, min_area=10)] == [100]
    assert extract_regions(anomaly_map, 10.0) == ()
