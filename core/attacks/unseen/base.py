"""The contract of the attacks no shipped detector trained on: one checked entry point, one abstract method."""
from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import final

import torch
from torch import nn

from core.attacks.base import FinalTemplate, check_images, check_inputs


@dataclass
class UnseenResult:
    """Outcome on N images: ``x_adv`` ``[N, C, H, W]`` in [0, 1], ``fooled`` (bool ``[N]``: the model's fresh
    prediction differs from ``y``), ``budget`` (float ``[N]``: the attack's own distance of ``x_adv`` from ``x``;
    ``inf`` where it did not fool), ``linf``/``l2`` (float ``[N]``, measured)."""

    x_adv: torch.Tensor
    fooled: torch.Tensor
    budget: torch.Tensor
    linf: torch.Tensor
    l2: torch.Tensor


class UnseenAttack(FinalTemplate):
    """An attack from outside the paper, run on images the model classifies correctly.

    Subclasses implement ``perturb``; ``__call__`` (final) checks the inputs, the images coming out (shape, dtype,
    range [0, 1]) and measures success with a fresh forward pass.
    """

    name: str = ""
    label: str = ""
    reference: str = ""
    distance: str = ""  # "L∞" or "L2": what ``budget`` measures

    @abstractmethod
    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
        """Adversarial candidates for ``x`` (the clean image where the attack gave up)."""

    @final
    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> UnseenResult:
        check_inputs(x, y, self.name)
        torch.manual_seed(seed)
        x_adv = check_images(self.perturb(model, x, y, seed).detach(), x, self.name)
        with torch.no_grad():
            fooled = model(x_adv).argmax(1) != y
        delta = (x_adv - x).flatten(1)
        linf, l2 = delta.abs().amax(1), delta.norm(dim=1)
        dist = linf if self.distance == "L∞" else l2
        return UnseenResult(x_adv, fooled, torch.where(fooled, dist, torch.full_like(dist, float("inf"))), linf, l2)


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``Z_y - max_{i != y} Z_i`` per row: negative once the model is fooled."""
    other = logits.clone()
    other[torch.arange(len(y)), y] = float("-inf")
    return logits.gather(1, y[:, None])[:, 0] - other.amax(1)
