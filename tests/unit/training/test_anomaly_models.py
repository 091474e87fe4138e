"""The exported PatchCore view gives anomalib's scores and maps, one image or a batch at a time."""

from __future__ import annotations

import pytest
import torch

from training.anomaly.models import ExportModule, ModelConfig, PatchcoreExport, build_model, export_view, fit


@pytest.fixture(scope="module")
def fitted():
    torch.manual_seed(0)
    config = ModelConfig(coreset_ratio=0.25)
    model = build_model(config)
    fit(model, config, torch.rand(6, 3, 64, 64))
    return model


@pytest.mark.parametrize("batch", [1, 3])
def test_the_fast_view_matches_anomalib_forward(fitted, batch: int) -> None:
    images = torch.rand(batch, 3, 64, 64) * 2 - 1
    with torch.inference_mode():
        expected = fitted(images)
        scores, maps = PatchcoreExport(fitted)(images)
    torch.testing.assert_close(scores, expected.pred_score.reshape(-1), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(maps, expected.anomaly_map, rtol=1e-4, atol=1e-4)


def test_patchcore_exports_the_fast_view_and_padim_anomalib_forward() -> None:
    config = ModelConfig(architecture="padim")
    padim = build_model(config)
    assert isinstance(export_view(padim), ExportModule)
    patchcore = build_model(ModelConfig())
    patchcore.memory_bank = torch.rand(10, 152)
    assert isinstance(export_view(patchcore), PatchcoreExport)
