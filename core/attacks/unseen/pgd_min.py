"""Minimal-budget L∞ PGD: the smallest ε on a grid at which projected gradient descent fools the model."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core import UNSEEN_LABELS
from core.attacks.unseen.base import UnseenAttack


class MinimalPGD(UnseenAttack):
    r"""L∞ PGD (Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018,
    https://arxiv.org/abs/1706.06083), per image at the smallest ε of an ascending grid that fools.

    Each ε runs ``steps`` signed-gradient steps of size ``2.5·ε/steps`` on the cross-entropy from a uniform random
    start in the ε-ball, projected back after each; an image leaves the search at its first fooling ε.

    Distance measure: L∞ (the budget ε).

    Arguments:
        grid (tuple of float): the ε tried, ascending (the security page's grid: ``core.attacks.adaptive.grids``).
        steps (int): PGD steps per ε. (Default: 20)

    Shape:
        - images: :math:`(N, C, H, W)`, float32 in [0, 1]; labels: :math:`(N)`, int64; output ``x_adv`` alike.

    Examples::
        >>> result = MinimalPGD(grid=(1 / 255, 2 / 255, 4 / 255))(model, images, labels, seed=0)
    """

    name, label, distance = "pgd_min", UNSEEN_LABELS["pgd_min"], "L∞"
    reference = "Madry et al. 2018, smallest ε on the grid"

    def __init__(self, grid: tuple[float, ...], steps: int = 20) -> None:
        self.grid, self.steps = tuple(sorted(grid)), steps

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
        out = x.clone()
        todo = torch.arange(len(x))
        for eps in self.grid:
            if not len(todo):
                break
            x0, y0 = x[todo], y[todo]
            xa = (x0 + torch.empty_like(x0).uniform_(-eps, eps)).clamp(0, 1)
            done = torch.zeros(len(todo), dtype=torch.bool)
            for _ in range(self.steps):
                with torch.enable_grad():
                    xa.requires_grad_(True)
                    logits = model(xa)
                    (g,) = torch.autograd.grad(F.cross_entropy(logits, y0, reduction="sum"), xa)
                fooled = logits.detach().argmax(1) != y0
                hit = fooled & ~done
                out[todo[hit]] = xa.detach()[hit]
                done |= fooled
                if bool(done.all()):
                    break
                step = xa.detach() + 2.5 * eps / self.steps * g.sign()
                xa = torch.where(done[:, None, None, None], xa.detach(),
                                 torch.min(torch.max(step, x0 - eps), x0 + eps).clamp(0, 1))
            with torch.no_grad():
                last = (model(xa.detach()).argmax(1) != y0) & ~done
            out[todo[last]] = xa.detach()[last]
            done |= last
            todo = todo[~done]
        return out
