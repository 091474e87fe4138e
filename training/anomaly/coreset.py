"""Greedy k-center coreset selection, written for speed on the CPU.

Same algorithm as PatchCore's (farthest-point selection on a random projection), but the distance
update is one matrix-vector product per step with no N x d temporaries.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def project(features: torch.Tensor, dim: int, seed: int) -> torch.Tensor:
    """Gaussian random projection to ``dim`` dimensions (identity when already small enough)."""
    if features.shape[1] <= dim:
        return features.float().contiguous()
    generator = torch.Generator(device="cpu").manual_seed(seed)
    matrix = torch.randn(features.shape[1], dim, generator=generator) / dim**0.5
    return (features.float() @ matrix.to(features.device)).contiguous()


def greedy_coreset_indices(
    features: torch.Tensor,
    size: int,
    *,
    projection_dim: int = 128,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Indices of ``size`` rows of ``features`` (N x d) chosen by greedy farthest-point selection."""
    n = features.shape[0]
    if size <= 0:
        raise ValueError(f"coreset size must be positive, got {size}")
    if size >= n:
        return torch.arange(n)
    reduced = project(features, projection_dim, seed)
    squared = (reduced * reduced).sum(1)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    index = int(torch.randint(n, (1,), generator=generator))
    min_distance = torch.full((n,), float("inf"), device=reduced.device)
    chosen = torch.empty(size, dtype=torch.long)
    step = max(1, size // 100)
    with torch.inference_mode():
        for i in range(size):
            chosen[i] = index
            distance = squared - 2.0 * (reduced @ reduced[index]) + squared[index]
            torch.minimum(min_distance, distance, out=min_distance)
            min_distance[index] = -1.0
            index = int(torch.argmax(min_distance))
            if progress and (i % step == 0 or i == size - 1):
                progress(i + 1, size)
    return chosen
