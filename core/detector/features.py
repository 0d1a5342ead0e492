"""The mismatch features: each watched model's softmax, concatenated (the paper's 20 numbers for a pair)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from core.models import load_pair


@torch.no_grad()
def features(dataset: str, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """``[N, 20]`` float32: model_1's softmax, then model_2's (no gradient, batched)."""

    m1, m2 = load_pair(dataset)
    return pair_features(m1, m2, x, batch_size)


@torch.no_grad()
def pair_features(m1: torch.nn.Module, m2: torch.nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The 20 features for an explicit pair of models."""
    return watched_features((m1, m2), x, batch_size)


@torch.no_grad()
def watched_features(models: Sequence[nn.Module], x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """``[N, 10·k]`` float32: the softmax of each of ``k`` watched models, in order (no gradient, batched)."""
    x = torch.as_tensor(x, dtype=torch.float32)
    if len(x) == 0:
        return torch.zeros(0, 10 * len(models))
    return torch.cat([torch.cat([torch.softmax(m(x[i : i + batch_size]), 1) for m in models], 1)
                      for i in range(0, len(x), batch_size)])
