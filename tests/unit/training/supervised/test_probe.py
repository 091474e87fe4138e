"""The few-shot probe: when it is chosen, that it learns a small local defect, and that it is deterministic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inspector.bundle.preprocess import Preprocessing
from training.supervised.models import ClassifierExport, ModelSpec
from training.supervised.pipeline import input_size
from training.supervised.probe import (
    FINE_TUNE_FROM,
    TRAINING_VARIANTS,
    ProbeClassifier,
    fit_probe,
    resolve_head,
    variants,
)
from training.supervised.tensors import Item

PRE = Preprocessing(64, 64)
NAMES = ("good", "spot", "unused")


def _item(rng: np.random.Generator, label: int, i: int) -> Item:
    image = rng.integers(90, 140, (64, 64, 3), dtype=np.uint8)
    if label == 1:  # a dark 6 px spot somewhere: about 1 % of the image
        y, x = rng.integers(0, 58, 2)
        image[y:y + 6, x:x + 6] = 10
    return Item(image, label, np.zeros((0, 4), np.float32), np.zeros(0, np.int64), None, f"{i}.png")


def _items(seed: int, n: int) -> list[Item]:
    rng = np.random.default_rng(seed)
    return [_item(rng, i % 2, i) for i in range(n)]


def test_auto_probes_few_images_and_fine_tunes_many() -> None:
    assert resolve_head("auto", {"good": 20, "crack": 12}) == "probe"
    assert resolve_head("auto", {"good": FINE_TUNE_FROM, "crack": FINE_TUNE_FROM}) == "fine-tune"
    assert resolve_head("auto", {"good": 5, "crack": 5}, pretrained=False) == "fine-tune"
    assert resolve_head("probe", {"good": 500}) == "probe"
    with pytest.raises(ValueError, match="--head 'linear'"):
        resolve_head("linear", {})


def test_probe_learns_a_small_spot_deterministically() -> None:
    train, val, test = _items(0, 24), _items(1, 10), _items(2, 40)
    heads = []
    for _ in range(2):
        model = ProbeClassifier(ModelSpec("classification", num_classes=3, image_size=64, pretrained=True))
        result = fit_probe(model, train, val, NAMES, PRE, torch.device("cpu"))
        heads.append(model.head.weight.detach().clone())
    assert torch.equal(heads[0], heads[1])  # same images, same model: no seed involved
    phases = [row["phase"] for row in result.history]
    assert phases == ["probe LDA on 24 images", "refit LDA on 34 images"]
    with torch.no_grad():
        probs = ClassifierExport(model)(torch.from_numpy(PRE.batch([i.image for i in test]))).numpy()
    predicted = probs.argmax(axis=1)
    assert (predicted == [i.label for i in test]).mean() >= 0.95
    assert not (predicted == 2).any() and probs[:, 2].max() < 1e-6  # a class without images is never predicted
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_an_eight_view_probe_reads_an_image_and_its_turns_and_flips_alike() -> None:
    train, val = _items(0, 16), _items(1, 6)
    image = torch.from_numpy(PRE.batch([_items(3, 2)[1].image]))
    turned = [torch.rot90(image, 1, dims=(2, 3)), image.flip(3), torch.rot90(image, 2, dims=(2, 3)).flip(2)]
    spread = {}
    for views in (1, 8):
        model = ProbeClassifier(ModelSpec("classification", num_classes=3, image_size=64, pretrained=True), views)
        fit_probe(model, train, val, NAMES, PRE, torch.device("cpu"))
        with torch.no_grad():
            logits = torch.cat([model(x) for x in (image, *turned)])
        spread[views] = (logits - logits[0]).abs().max().item()
    assert spread[8] < 1e-3 * max(1.0, spread[1]) and spread[1] > 1e-2


def test_probe_views_are_one_or_eight() -> None:
    with pytest.raises(ValueError, match="--probe-views 4 is not one of 1, 8"):
        ProbeClassifier(ModelSpec("classification", num_classes=2, image_size=64, pretrained=False), views=4)


def test_probe_needs_two_classes() -> None:
    model = ProbeClassifier(ModelSpec("classification", num_classes=2, image_size=64, pretrained=False))
    only_good = [item for item in _items(0, 8) if item.label == 0]
    with pytest.raises(ValueError, match="at least two classes"):
        fit_probe(model, only_good, only_good, NAMES[:2], PRE, torch.device("cpu"))


def test_a_probe_reads_at_its_backbone_size_and_other_heads_at_the_task_default() -> None:
    assert input_size("classification", "probe", "lite2", None) == 256  # Lite2's 260 px, to a multiple of 32
    assert input_size("classification", "probe", "lite0", None) == 224
    assert input_size("classification", "fine-tune", "lite2", None) == 224
    assert input_size("detection", "fine-tune", "lite0", None) == 128
    assert input_size("classification", "probe", "lite2", 96) == 96


def test_training_variants_turn_and_shrink_the_image_and_keep_what_is_in_the_middle() -> None:
    image = np.full((64, 64, 3), 200, np.uint8)
    image[28:36, 28:36] = 0  # a spot in the middle
    image[0:5, 0:5] = 0  # and one in a corner
    out = variants(image)
    assert len(out) == 1 + len(TRAINING_VARIANTS) and all(v.shape == image.shape for v in out)
    for (degrees, scale), variant in zip(TRAINING_VARIANTS, out[1:], strict=True):
        assert variant[24:40, 24:40].min() < 50, f"turned {degrees} degrees, scaled {scale}: the spot left"
        assert not np.array_equal(variant, image)
    shrunk = out[1 + [scale for _, scale in TRAINING_VARIANTS].index(0.85)]
    assert shrunk[:16, :16].min() < 50  # shrinking keeps the corner (turns cut it: see TRAINING_VARIANTS)
