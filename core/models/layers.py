"""Building blocks every classifier shares: the normalisation layer in front, and torchvision's architectures."""
from __future__ import annotations

import torch
from torch import nn


class Normalize(nn.Module):
    """Per-channel standardisation as the first layer, so inputs stay in ``[0,1]``."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def torchvision_model(name: str, num_classes: int = 10) -> nn.Module:
    """A torchvision architecture by name (``torchvision.models.get_model``), untrained, ``num_classes`` outputs."""
    from torchvision.models import get_model, list_models  # heavy (torchvision pulls torch._dynamo)

    if name not in list_models():
        raise ValueError(f"unknown torchvision architecture {name!r}: see torchvision.models.list_models()")
    return get_model(name, weights=None, num_classes=num_classes)
