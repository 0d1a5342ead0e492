"""The detector as one torch module, images to logit, so that gradients flow from the verdict to the pixels."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from core.detector.svm import RBFHead


class DetectorModule(nn.Module):
    """Images → the detector's logit ``[N]`` in torch end to end: the watched models (a pair, then any ``more``),
    their softmax features, the head's feature map, the RBF decision (float64, as the shipped detector computes
    it), Platt.  Gradients reach the pixels.

    ``outputs(x)`` also returns every model's logits from the same forward pass (what adaptive attacks use):
    ``(logits_1, logits_2, logit, (logits of the more models...))``.
    """

    def __init__(self, m1: nn.Module, m2: nn.Module, head: RBFHead, more: Sequence[nn.Module] = ()) -> None:
        super().__init__()
        if head.n_features != 10 * (2 + len(more)):
            raise ValueError(f"the head takes {head.n_features} features, {2 + len(more)} models give "
                             f"{10 * (2 + len(more))}")
        self.m1, self.m2, self.more = m1, m2, nn.ModuleList(more)
        self.register_buffer("sv", torch.as_tensor(head.support_vectors, dtype=torch.float64))
        self.register_buffer("dual", torch.as_tensor(head.dual_coef, dtype=torch.float64))
        self.register_buffer("sv_sq", (self.sv * self.sv).sum(1))
        self.intercept, self.gamma = head.intercept, head.gamma
        self.platt_a, self.platt_b = head.platt
        self.fmap = head.fmap

    def logit_of_features(self, f: torch.Tensor) -> torch.Tensor:
        f = self.fmap.torch(f)
        d2 = torch.addmm(self.sv_sq[None, :], f, self.sv.T, alpha=-2.0) + (f * f).sum(1, keepdim=True)
        decision = torch.exp(-self.gamma * d2.clamp_min(0.0)) @ self.dual + self.intercept
        return (self.platt_a * decision + self.platt_b).float()

    def outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        """(model 1 logits, model 2 logits, detector logit, the more models' logits)."""
        l1, l2 = self.m1(x), self.m2(x)
        more = tuple(m(x) for m in self.more)
        f = torch.cat([torch.softmax(v, 1) for v in (l1, l2, *more)], 1)
        return l1, l2, self.logit_of_features(f), more

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.outputs(x)[2]
