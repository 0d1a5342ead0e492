"""Selective PGD: model 1's loss until it errs, then the detector's score only.

Bryniarski, Hingun, Pachuca, Wang & Carlini, "Evading Adversarial Example Detection Defenses with Orthogonal
Projected Gradient Descent", ICLR 2022 (Sec. 4, selective PGD): each step follows the gradient of the
classifier's cross-entropy where model 1 is still right, and descends the detector's score where it is
already wrong but flagged.
"""
from __future__ import annotations

import torch

from core.attacks.adaptive.base import AdaptiveAttack, AdaptiveSpec, ce, grad_of


class SelectivePGD(AdaptiveAttack):
    spec = AdaptiveSpec("s_pgd", "Selective PGD", "CE(model 1) while right, then −detector score",
                        "Bryniarski et al. 2022")

    def direction(self, x, outs, y, state, fooled, flagged) -> torch.Tensor:
        loss = torch.where(fooled, -outs[2].to(outs[0].dtype), ce(outs[0], y))
        return grad_of(loss, x)
