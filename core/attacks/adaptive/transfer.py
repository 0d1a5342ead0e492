"""Transfer attack: joint PGD crafted on surrogate models, applied to the defended ones.

Papernot, McDaniel & Goodfellow, "Transferability in Machine Learning", 2016: the attacker trains its own
models (here the same architectures and recipe with another seed or training run: one surrogate per watched
model, so four against the ``pool`` detector) and attacks those; the
gradients never touch the defended models.  The defended pair and detector are only queried to see whether
the current iterate already succeeds (the budget search's stopping rule), as for every attack here.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from core.attacks.adaptive.base import AdaptiveAttack, AdaptiveSpec, ce, grad_of, joint_target


class TransferPGD(AdaptiveAttack):
    r"""Transfer attack: joint PGD crafted on the attacker's own surrogate models, applied to the defended ones.

    Paper: Papernot, McDaniel & Goodfellow, "Transferability in Machine Learning: from Phenomena to Black-Box
    Attacks using Adversarial Samples", 2016, https://arxiv.org/abs/1605.07277.  Gradients come from the
    surrogates only; the defended pair and detector are queried to see whether an iterate already succeeds.

    Distance measure: L∞ (the budget ε; ``steps`` PGD steps of ε/10 within the ε-ball).

    Arguments:
        surrogate (sequence of nn.Module): the attacker's models, one per watched model. (Required)

    Shape:
        - images: :math:`(N, C, H, W)`, float32 in [0, 1]; labels: :math:`(N)`, int64.
        - output of ``budget_search``: a ``BudgetCurve``: ``budget`` :math:`(N)` (inf where no budget
          succeeded), ``outcome`` :math:`(G, N)` per budget of the grid, ``x_adv`` :math:`(N, C, H, W)` in [0, 1].

    Examples::
        >>> attack = TransferPGD(load_surrogates("mnist"))
        >>> curve = budget_search(attack, judge, images, labels, grid=(0.1, 0.2, 0.3), steps=100, seed=0)
    """

    spec = AdaptiveSpec("transfer", "Transfer (surrogate pair)", "joint PGD on a surrogate pair",
                        "Papernot et al. 2016")
    needs_graph = False

    def __init__(self, surrogate: Sequence[nn.Module]) -> None:
        self.surrogate = tuple(surrogate)

    def prepare(self, judge, x, y, seed):
        with torch.no_grad():
            return {"target": joint_target([m(x) for m in self.surrogate], y)}

    def ascent(self, x, outs, y, state, fooled, flagged) -> torch.Tensor:
        t = state["target"]
        with torch.enable_grad():
            xs = x.detach().requires_grad_(True)
            return grad_of(-sum(ce(m(xs), t) for m in self.surrogate), xs)
