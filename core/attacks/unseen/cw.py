"""Carlini & Wagner's L2 attack."""
from __future__ import annotations

import torch
from torch import nn

from core import UNSEEN_LABELS
from core.attacks.unseen.base import UnseenAttack, margin


class CarliniWagnerL2(UnseenAttack):
    r"""C&W L2 (Carlini & Wagner, "Towards Evaluating the Robustness of Neural Networks", IEEE S&P 2017,
    https://arxiv.org/abs/1608.04644): minimise ``|δ|² + c·max(Z_y - max_{i≠y} Z_i, -κ)`` over
    ``x + δ = (tanh(w) + 1)/2`` with Adam; ``c`` by binary search per image; the smallest fooling δ is kept.

    Distance measure: L2.

    Arguments:
        c (float): the first trade-off constant. (Default: 0.1)
        kappa (float): confidence margin κ. (Default: 0)
        steps (int): Adam steps per constant. (Default: 100)
        search_steps (int): binary-search steps over ``c``. (Default: 5)
        lr (float): Adam's learning rate. (Default: 0.01)

    Shape:
        - images: :math:`(N, C, H, W)`, float32 in [0, 1]; labels: :math:`(N)`, int64; output ``x_adv`` alike.

    Examples::
        >>> result = CarliniWagnerL2(steps=100, search_steps=5)(model, images, labels, seed=0)
    """

    name, label, distance = "cw_l2", UNSEEN_LABELS["cw_l2"], "L2"
    reference = "Carlini & Wagner 2017"

    def __init__(self, c: float = 0.1, kappa: float = 0.0, steps: int = 100, search_steps: int = 5,
                 lr: float = 0.01) -> None:
        self.c, self.kappa, self.steps, self.search_steps, self.lr = c, kappa, steps, search_steps, lr

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
        n = len(x)
        w0 = torch.atanh((x * 2 - 1).clamp(-1 + 1e-6, 1 - 1e-6))
        c = torch.full((n,), self.c)
        lo, hi = torch.zeros(n), torch.full((n,), float("inf"))
        best, best_d = x.clone(), torch.full((n,), float("inf"))
        for _ in range(self.search_steps):
            w = w0.clone().requires_grad_(True)
            opt = torch.optim.Adam([w], lr=self.lr)
            found = torch.zeros(n, dtype=torch.bool)
            for _ in range(self.steps):
                with torch.enable_grad():
                    xa = (torch.tanh(w) + 1) / 2
                    logits = model(xa)
                    d = (xa - x).flatten(1).pow(2).sum(1)
                    loss = (d + c * margin(logits, y).clamp(min=-self.kappa)).sum()
                    opt.zero_grad()
                    loss.backward()
                with torch.no_grad():
                    fooled = logits.argmax(1) != y
                    better = fooled & (d < best_d)
                    best[better], best_d[better] = xa.detach()[better], d.detach()[better]
                    found |= fooled
                opt.step()
            # fooled at c: try a smaller one; not fooled: a larger one
            hi = torch.where(found, torch.minimum(hi, c), hi)
            lo = torch.where(found, lo, torch.maximum(lo, c))
            c = torch.where(torch.isfinite(hi), (lo + hi) / 2, c * 10)
        return best
