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
    r"""Selective PGD: model 1's cross-entropy while it is right, then the detector's score only.

    Paper: Bryniarski, Hingun, Pachuca, Wang & Carlini, "Evading Adversarial Example Detection Defenses with
    Orthogonal Projected Gradient Descent", ICLR 2022, https://arxiv.org/abs/2106.15023 (Sec. 4, selective PGD).

    Distance measure: L∞ (the budget ε; ``steps`` PGD steps of ε/10 within the ε-ball).

    Arguments: none (the PGD settings are ``budget_search``'s: ``grid``, ``steps``, ``seed``).

    Shape:
        - images: :math:`(N, C, H, W)`, float32 in [0, 1]; labels: :math:`(N)`, int64.
        - output of ``budget_search``: a ``BudgetCurve``: ``budget`` :math:`(N)` (inf where no budget
          succeeded), ``outcome`` :math:`(G, N)` per budget of the grid, ``x_adv`` :math:`(N, C, H, W)` in [0, 1].

    Examples::
        >>> attack = SelectivePGD()
        >>> curve = budget_search(attack, judge, images, labels, grid=(0.1, 0.2, 0.3), steps=100, seed=0)
    """

    spec = AdaptiveSpec("s_pgd", "Selective PGD", "CE(model 1) while right, then −detector score",
                        "Bryniarski et al. 2022")

    def ascent(self, x, outs, y, state, fooled, flagged) -> torch.Tensor:
        loss = torch.where(fooled, -outs[2].to(outs[0].dtype), ce(outs[0], y))
        return grad_of(loss, x)
