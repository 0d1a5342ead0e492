"""Joint PGD: drive every watched model to the same wrong class, so that they agree and the mismatch vanishes.

Carlini & Wagner, "Adversarial Examples Are Not Easily Detected", AISec 2017 (attack the combined system);
the target class is the wrong class the models find most likely at the clean image; the loss is the sum of
their targeted cross-entropies (both models of a pair; all four of the ``pool`` detector), descended with L∞ PGD.
"""
from __future__ import annotations

import torch

from core.attacks.adaptive.base import AdaptiveAttack, AdaptiveSpec, ce, grad_of, joint_target, watched_logits


class JointPGD(AdaptiveAttack):
    r"""Joint PGD: every watched model driven to the same wrong class, so they agree and the mismatch vanishes.

    Paper: Carlini & Wagner, "Adversarial Examples Are Not Easily Detected: Bypassing Ten Detection Methods",
    AISec 2017, https://arxiv.org/abs/1705.07263 (attack the combined system).  Target: the wrong class the models
    find most likely at the clean image; loss: the sum of their targeted cross-entropies, descended.

    Distance measure: L∞ (the budget ε; ``steps`` PGD steps of ε/10 within the ε-ball).

    Arguments: none (the PGD settings are ``budget_search``'s: ``grid``, ``steps``, ``seed``).

    Shape:
        - images: :math:`(N, C, H, W)`, float32 in [0, 1]; labels: :math:`(N)`, int64.
        - output of ``budget_search``: a ``BudgetCurve``: ``budget`` :math:`(N)` (inf where no budget
          succeeded), ``outcome`` :math:`(G, N)` per budget of the grid, ``x_adv`` :math:`(N, C, H, W)` in [0, 1].

    Examples::
        >>> attack = JointPGD()
        >>> curve = budget_search(attack, judge, images, labels, grid=(0.1, 0.2, 0.3), steps=100, seed=0)
    """

    spec = AdaptiveSpec("joint_pgd", "Joint PGD", "−Σ CE(model i, t) over the watched models, one wrong class t",
                        "Carlini & Wagner 2017")

    def prepare(self, judge, x, y, seed):
        with torch.no_grad():
            return {"target": joint_target(watched_logits(judge.module.outputs(x)), y)}

    def ascent(self, x, outs, y, state, fooled, flagged) -> torch.Tensor:
        t = state["target"]
        return grad_of(-sum(ce(v, t) for v in watched_logits(outs)), x)
