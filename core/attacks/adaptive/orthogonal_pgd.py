"""Orthogonal PGD: each objective's gradient projected orthogonal to the other's.

Bryniarski, Hingun, Pachuca, Wang & Carlini, "Evading Adversarial Example Detection Defenses with Orthogonal
Projected Gradient Descent", ICLR 2022 (Sec. 4, orthogonal PGD): where model 1 is still right, ascend its
cross-entropy along the part of its gradient orthogonal to the detector's (so the step does not raise the
score to first order); where model 1 errs but the image is flagged, descend the detector's score along the
part orthogonal to the classifier's gradient (so the step keeps the misclassification to first order).
"""
from __future__ import annotations

import torch

from .base import AdaptiveAttack, AdaptiveSpec, ce, grad_of


def orthogonal(g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``g`` minus its projection on ``h``, per image."""
    gf, hf = g.flatten(1), h.flatten(1)
    coef = (gf * hf).sum(1) / (hf * hf).sum(1).clamp_min(1e-30)
    return (gf - coef[:, None] * hf).view_as(g)


class OrthogonalPGD(AdaptiveAttack):
    spec = AdaptiveSpec("o_pgd", "Orthogonal PGD", "CE(model 1) ⟂ detector score, then −score ⟂ CE",
                        "Bryniarski et al. 2022")

    def direction(self, x, outs, y, state, fooled, flagged) -> torch.Tensor:
        g_cls = grad_of(ce(outs[0], y), x, retain=True)
        g_det = grad_of(outs[2], x)
        return torch.where(fooled.view(-1, *([1] * (x.dim() - 1))), -orthogonal(g_det, g_cls), orthogonal(g_cls, g_det))
