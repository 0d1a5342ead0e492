"""Plain PGD on model 1, blind to the detector: the reference every adaptive attack is measured against.

Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018: L∞ PGD on the
cross-entropy of model 1.  It stops as soon as model 1 errs, whether or not the detector flags the image.
"""
from __future__ import annotations

import torch

from core.attacks.adaptive.base import AdaptiveAttack, AdaptiveSpec, ce, grad_of


class NoDetectorPGD(AdaptiveAttack):
    r"""Plain PGD on model 1, blind to the detector: the reference every adaptive attack is measured against.

    Paper: Madry, Makelov, Schmidt, Tsipras & Vladu, "Towards Deep Learning Models Resistant to Adversarial
    Attacks", ICLR 2018, https://arxiv.org/abs/1706.06083.  Ascends model 1's cross-entropy and stops as soon as
    model 1 errs, whether or not the detector flags the image.

    Distance measure: L∞ (the budget ε; ``steps`` PGD steps of ε/10 within the ε-ball).

    Arguments: none (the PGD settings are ``budget_search``'s: ``grid``, ``steps``, ``seed``).

    Shape:
        - images: :math:`(N, C, H, W)`, float32 in [0, 1]; labels: :math:`(N)`, int64.
        - output of ``budget_search``: a ``BudgetCurve``: ``budget`` :math:`(N)` (inf where no budget
          succeeded), ``outcome`` :math:`(G, N)` per budget of the grid, ``x_adv`` :math:`(N, C, H, W)` in [0, 1].

    Examples::
        >>> attack = NoDetectorPGD()
        >>> curve = budget_search(attack, judge, images, labels, grid=(0.1, 0.2, 0.3), steps=100, seed=0)
    """

    spec = AdaptiveSpec("no_detector", "PGD, no detector", "model 1's cross-entropy, stop when model 1 errs",
                        "Madry et al. 2018", adaptive=False)
    stop_on_fooled = True

    def ascent(self, x, outs, y, state, fooled, flagged) -> torch.Tensor:
        return grad_of(ce(outs[0], y), x)
