"""Orthogonal PGD: each objective's gradient projected orthogonal to the other's where they conflict.

Bryniarski, Hingun, Pachuca, Wang & Carlini, "Evading Adversarial Example Detection Defenses with Orthogonal
Projected Gradient Descent", ICLR 2022 (Sec. 4, orthogonal PGD): where model 1 is still right, ascend its
cross-entropy; where model 1 errs but the image is flagged, descend the detector's score.  Each step is
projected orthogonal to the other objective's gradient so that it does not undo the other constraint to first
order: the classifier step orthogonal to the score's gradient, the detector step orthogonal to the
cross-entropy's.  A projection is applied only where the two gradients conflict (the step would raise the
score, or lower the cross-entropy); where they agree the plain gradient already serves both.  (Projecting
always made every CIFAR-10 step orthogonal to a detector gradient that a clean, unflagged image does not
need to respect: 0 of 200 images succeeded at 1/255 and 2/255, where selective PGD reached 94 %.)
"""
from __future__ import annotations

import torch

from core.attacks.adaptive.base import AdaptiveAttack, AdaptiveSpec, ce, grad_of


def orthogonal(g: torch.Tensor, h: torch.Tensor, only_conflict: bool = False) -> torch.Tensor:
    """``g`` minus its projection on ``h``, per image (``only_conflict``: only where ``g·h > 0``)."""
    gf, hf = g.flatten(1), h.flatten(1)
    dot = (gf * hf).sum(1)
    if only_conflict:
        dot = dot.clamp_min(0.0)
    coef = dot / (hf * hf).sum(1).clamp_min(1e-30)
    return (gf - coef[:, None] * hf).view_as(g)


class OrthogonalPGD(AdaptiveAttack):
    r"""Orthogonal PGD: each objective's step projected orthogonal to the other's gradient where they conflict.

    Paper: Bryniarski, Hingun, Pachuca, Wang & Carlini, "Evading Adversarial Example Detection Defenses with
    Orthogonal Projected Gradient Descent", ICLR 2022, https://arxiv.org/abs/2106.15023 (Sec. 4, orthogonal PGD).

    Distance measure: L∞ (the budget ε; ``steps`` PGD steps of ε/10 within the ε-ball).

    Arguments:
        only_conflict (bool): project only where the two gradients conflict (module docstring: projecting
            always stalled on CIFAR-10). (Default: True)

    Shape:
        - images: :math:`(N, C, H, W)`, float32 in [0, 1]; labels: :math:`(N)`, int64.
        - output of ``budget_search``: a ``BudgetCurve``: ``budget`` :math:`(N)` (inf where no budget
          succeeded), ``outcome`` :math:`(G, N)` per budget of the grid, ``x_adv`` :math:`(N, C, H, W)` in [0, 1].

    Examples::
        >>> attack = OrthogonalPGD(only_conflict=True)
        >>> curve = budget_search(attack, judge, images, labels, grid=(0.1, 0.2, 0.3), steps=100, seed=0)
    """

    spec = AdaptiveSpec("o_pgd", "Orthogonal PGD", "CE(model 1) ⟂ detector score, then −score ⟂ CE",
                        "Bryniarski et al. 2022")

    def __init__(self, only_conflict: bool = True) -> None:
        self.only_conflict = only_conflict

    def ascent(self, x, outs, y, state, fooled, flagged) -> torch.Tensor:
        g_cls = grad_of(ce(outs[0], y), x, retain=True)
        g_det = grad_of(outs[2], x)
        # ascend CE without raising the score; descend the score without lowering CE (each where they conflict)
        cls_step = orthogonal(g_cls, g_det, only_conflict=self.only_conflict)
        det_step = orthogonal(-g_det, -g_cls, only_conflict=self.only_conflict)
        return torch.where(fooled.view(-1, *([1] * (x.dim() - 1))), det_step, cls_step)
