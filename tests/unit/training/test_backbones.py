"""The offline EfficientNet-Lite weights are real ImageNet weights, mapped correctly onto timm."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import timm
import torch
from skimage import data

from training.backbones import BackboneError, backbone_spec, create_classifier, load_into, timm_state_dict

CAT, ESPRESSO = 285, 967


def _top1(model: torch.nn.Module, image: np.ndarray, size: int) -> int:
    x = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    x = (x - 0.5) / 0.5
    with torch.no_grad():
        logits = model(torch.from_numpy(x).permute(2, 0, 1)[None])
    return int(logits.argmax(1))


@pytest.mark.parametrize("key", ["lite0", "lite1", "lite2"])
def test_packaged_weights_classify_imagenet_images(key: str, no_network) -> None:
    model = create_classifier(key)
    size = backbone_spec(key).input_size
    assert _top1(model, data.chelsea(), size) == CAT
    assert _top1(model, data.coffee(), size) == ESPRESSO
    assert no_network.attempts == []


def test_untrained_model_does_not_pass_the_check() -> None:
    """The check has teeth: the same architecture without the weights gets both images wrong."""
    torch.manual_seed(0)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    assert (_top1(model, data.chelsea(), 224), _top1(model, data.coffee(), 224)) != (CAT, ESPRESSO)


def test_features_only_model_gets_every_tensor() -> None:
    features = timm.create_model("tf_efficientnet_lite0", pretrained=False, features_only=True, out_indices=(2, 3))
    load_into(features, "lite0")
    weights = timm_state_dict("lite0")
    for name, tensor in features.state_dict().items():
        if not name.endswith("num_batches_tracked"):
            assert torch.equal(tensor, weights[name]), name


def test_unknown_backbone_is_named() -> None:
    with pytest.raises(BackboneError, match="resnet50"):
        backbone_spec("resnet50")
