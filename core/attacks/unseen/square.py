"""The Square attack: a black-box L∞ attack that needs only the model's scores."""
from __future__ import annotations

import math

import torch
from torch import nn

from core import UNSEEN_LABELS
from core.attacks.unseen.base import UnseenAttack, margin


class SquareLinf(UnseenAttack):
    r"""Square attack, L∞ (Andriushchenko et al., "Square Attack: a query-efficient black-box adversarial attack
    via random search", ECCV 2020, https://arxiv.org/abs/1912.00049).

    Starts from vertical stripes of ±ε, then each query changes one random square window (per channel ±ε) and
    keeps it where the margin loss ``Z_y - max_{i≠y} Z_i`` drops; the window's side shrinks on the paper's
    schedule of ``p`` (the fraction of pixels changed).  No gradients: the model is only queried.

    Distance measure: L∞ (the budget ε, fixed).

    Arguments:
        eps (float): the L∞ budget.
        queries (int): queries per image at most. (Default: 1000)
        p_init (float): initial fraction of pixels per square. (Default: 0.05)

    Shape:
        - images: :math:`(N, C, H, W)`, float32 in [0, 1]; labels: :math:`(N)`, int64; output ``x_adv`` alike.

    Examples::
        >>> result = SquareLinf(eps=8 / 255, queries=1000)(model, images, labels, seed=0)
    """

    name, label, distance = "square", UNSEEN_LABELS["square"], "L∞"
    reference = "Andriushchenko et al. 2020, queries only"

    def __init__(self, eps: float, queries: int = 1000, p_init: float = 0.05) -> None:
        self.eps, self.queries, self.p_init = eps, queries, p_init

    def p_at(self, i: int) -> float:
        """The paper's schedule (rescaled to 10,000 queries) of the fraction of pixels a square changes."""
        k = i * 10_000 // max(self.queries, 1)
        halvings = sum(k > t for t in (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000))
        return self.p_init / 2**halvings

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        n, ch, h, w = x.shape
        eps = self.eps
        stripes = torch.randint(0, 2, (n, ch, 1, w), generator=g).float() * 2 - 1
        xa = (x + eps * stripes).clamp(0, 1)
        with torch.no_grad():
            loss = margin(model(xa), y)
        for i in range(self.queries):
            todo = (loss >= 0).nonzero().squeeze(1)
            if not len(todo):
                break
            s = max(1, min(h - 1, int(round(math.sqrt(self.p_at(i) * h * w)))))
            r = int(torch.randint(0, h - s + 1, (1,), generator=g))
            c = int(torch.randint(0, w - s + 1, (1,), generator=g))
            cand = xa[todo].clone()
            signs = torch.randint(0, 2, (len(todo), ch, 1, 1), generator=g).float() * 2 - 1
            x0 = x[todo]
            cand[:, :, r:r + s, c:c + s] = (x0[:, :, r:r + s, c:c + s] + eps * signs).clamp(0, 1)
            with torch.no_grad():
                new = margin(model(cand), y[todo])
            better = new < loss[todo]
            xa[todo[better]] = cand[better]
            loss[todo[better]] = new[better]
        return xa
