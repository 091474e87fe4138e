"""The transfer-learning loop: head first with the encoder frozen, then everything at a lower encoder rate.

Early stopping on the validation score, a checkpoint after every epoch (``resume`` continues from it), mixed
precision on CUDA only. Each epoch reseeds the sampler and the augmentations, so a resumed run repeats the
epochs it would have run.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from training.supervised.models import parameter_groups, set_encoder_trainable
from training.supervised.tasks import Task
from training.supervised.tensors import Item

Progress = Callable[[int, int], None]
CHECKPOINT = "last.pt"


class ResumeError(ValueError):
    """The checkpoint is missing or belongs to another run."""


@dataclass(frozen=True)
class FitOptions:
    epochs: int = 20
    freeze_epochs: int | None = None  # None: a quarter of the epochs (at least 1) when pretrained, 0 from scratch
    batch_size: int = 16
    lr: float = 3e-3
    backbone_lr_factor: float = 0.5
    weight_decay: float = 1e-4
    patience: int = 4
    amp: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch size must be >= 1, got {self.epochs} and {self.batch_size}")
        if self.lr <= 0 or not 0 < self.backbone_lr_factor <= 1:
            raise ValueError(f"lr must be > 0 and the backbone factor in (0, 1], got {self.lr}, "
                             f"{self.backbone_lr_factor}")

    def frozen_epochs(self, pretrained: bool) -> int:
        if not pretrained:
            return 0
        wanted = max(1, self.epochs // 4) if self.freeze_epochs is None else self.freeze_epochs
        return min(self.epochs, max(0, wanted))


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    best_score: float = -math.inf
    stopped_early: bool = False
    seconds: float = 0.0
    resumed_from: int | None = None


def learning_rates(options: FitOptions, epoch: int, frozen: int, pretrained: bool) -> tuple[float, float]:
    """(head lr, encoder lr) for ``epoch``: constant while frozen, then cosine decay to 5 %."""
    if epoch < frozen:
        return options.lr, 0.0
    span = max(1, options.epochs - frozen)
    decay = 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (epoch - frozen) / span))
    factor = options.backbone_lr_factor if pretrained else 1.0
    return options.lr * decay, options.lr * factor * decay


def _batches(task: Task, dataset: Dataset, sampler: Sampler | None, options: FitOptions, collate) -> DataLoader:
    return DataLoader(dataset, batch_size=options.batch_size, sampler=sampler, shuffle=sampler is None,
                      collate_fn=collate, num_workers=0, drop_last=len(dataset) > options.batch_size)


def fit(model: nn.Module, task: Task, train: Dataset, collate, val_items: list[Item], options: FitOptions,
        device: torch.device, *, pretrained: bool, sampler_factory: Callable[[int], Sampler | None],
        checkpoint_dir: Path | None = None, resume: bool = False, meta: dict | None = None,
        on_step: Progress | None = None) -> FitResult:
    """Train ``model`` in place and leave it holding the best validation weights."""
    meta = dict(meta or {})
    frozen = options.frozen_epochs(pretrained)
    optimizer = torch.optim.AdamW(parameter_groups(model, options.lr, options.lr * options.backbone_lr_factor),
                                  weight_decay=options.weight_decay)
    use_amp = options.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    result, best_state, bad_epochs, start_epoch = FitResult(), None, 0, 0
    path = checkpoint_dir / CHECKPOINT if checkpoint_dir else None
    if resume:
        state = _load_checkpoint(path, meta)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        best_state, bad_epochs, start_epoch = state["best_state"], state["bad_epochs"], state["epoch"] + 1
        result = FitResult(**state["result"])
        result.resumed_from = state["epoch"]
    steps_per_epoch = len(_batches(task, train, sampler_factory(0), options, collate))
    total, done = options.epochs * steps_per_epoch, start_epoch * steps_per_epoch
    started = time.perf_counter() - result.seconds
    for epoch in range(start_epoch, options.epochs):
        if result.stopped_early:
            break
        torch.manual_seed(options.seed * 1000 + epoch)
        head_lr, enc_lr = learning_rates(options, epoch, frozen, pretrained)
        for group in optimizer.param_groups:
            group["lr"] = enc_lr if group["name"] == "backbone" else head_lr
        model.train()
        set_encoder_trainable(model, epoch >= frozen)
        losses = []
        for images, targets in _batches(task, train, sampler_factory(epoch), options, collate):
            images = images.to(device, non_blocking=True)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                loss = task.loss(model, images, targets)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            losses.append(float(loss.detach()))
            done += 1
            if on_step:
                on_step(done, total)
        model.eval()
        score = task.evaluate(model, val_items, device).score
        improved = score > result.best_score + 1e-4
        if improved:
            result.best_score, result.best_epoch = score, epoch
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
            bad_epochs = 0
        elif epoch >= frozen:
            bad_epochs += 1
        result.history.append({"epoch": epoch + 1, "phase": "head" if epoch < frozen else "all",
                               "loss": sum(losses) / max(1, len(losses)), task.score_name: score,
                               "lr_head": head_lr, "lr_backbone": enc_lr})
        result.stopped_early = epoch >= frozen and bad_epochs >= options.patience and epoch + 1 < options.epochs
        result.seconds = time.perf_counter() - started
        if path is not None:
            _save_checkpoint(path, epoch, model, optimizer, scaler, best_state, bad_epochs, result, meta)
    if on_step:
        on_step(total, total)
    if best_state is not None:
        model.load_state_dict(best_state)
    return result


def _save_checkpoint(path: Path, epoch: int, model: nn.Module, optimizer, scaler, best_state, bad_epochs: int,
                     result: FitResult, meta: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scaler": scaler.state_dict(), "best_state": best_state, "bad_epochs": bad_epochs,
             "result": asdict(result), "meta": meta}
    partial = path.with_suffix(".partial")
    torch.save(state, partial)
    partial.replace(path)


def _load_checkpoint(path: Path | None, meta: dict) -> dict:
    if path is None or not path.is_file():
        raise ResumeError(f"{path}: no checkpoint to resume from; run once without --resume")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint is the same user error
        raise ResumeError(f"{path}: cannot read the checkpoint ({exc})") from exc
    different = {k: (state["meta"].get(k), v) for k, v in meta.items() if state["meta"].get(k) != v}
    if different:
        key, (old, new) = next(iter(different.items()))
        raise ResumeError(f"{path}: checkpoint was made with {key}={old!r}, this run has {key}={new!r}; "
                          "use the same settings or start again without --resume")
    return state
