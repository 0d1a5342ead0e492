"""FGSM and IGSM (BIM): sign-of-gradient attacks on the cross-entropy loss (paper eqs. 2-3)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core import ATTACK_LABELS
from core.attacks.base import AttackSpec, GridAttack, IterativeAttack, State, logits_and_grad


def _ce(y: torch.Tensor):
    return lambda logits: F.cross_entropy(logits, y, reduction="none")


def fraction_text(v: float) -> str:
    """``1/255`` for a reciprocal of a whole number, else ``v`` as ``%g``."""
    k = round(1 / v) if v else 0
    return f"1/{k}" if k and abs(1 / k - v) < 1e-12 else f"{v:g}"


class FGSM(GridAttack):
    r"""Fast Gradient Sign Method, searched per image over ε.

    Paper: Goodfellow, Shlens & Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015,
    https://arxiv.org/abs/1412.6572.  x_adv = clip(x + ε·sign(∇x J(x, y)), 0, 1): the gradient is taken once
    (``prepare``), then any ε is one add.  Same update as ``foolbox.attacks.FGSM`` (one step,
    ``rel_stepsize=1``, no random start).

    Distance measure: L∞ (the budget ε).

    Arguments:
        max_budget (float): largest ε tried. (Default: 1.0)
        grid_points (int): ε on a linear grid of this many points up to ``max_budget``. (Default: 100)
        bisect_steps (int): bisection steps between the last grid point that did not fool and the first
            that did. (Default: 5)

    Shape:
        - images: :math:`(N, C, H, W)`, float32 in [0, 1]; labels: :math:`(N)`, int64.
        - output of ``budget_search``: ``x_adv`` :math:`(N, C, H, W)` in [0, 1], ``success`` and ``budget``
          :math:`(N)`.

    Examples::
        >>> attack = FGSM(max_budget=1.0, grid_points=100, bisect_steps=5)
        >>> result = budget_search(attack, model, images, labels, seed=0)
    """

    name = "fgsm"

    def __init__(self, max_budget: float = 1.0, grid_points: int = 100, bisect_steps: int = 5) -> None:
        super().__init__(max_budget, grid_points, bisect_steps)

    def make_spec(self) -> AttackSpec:
        return AttackSpec(
            name=self.name, label=ATTACK_LABELS[self.name], budget_name="L∞ ε", kind="grid", foolbox="FGSM",
            schedule=self.grid_schedule("ε"), max_budget=self.max_budget, tolerance=self.grid_tolerance(),
        )

    def prepare(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int) -> State:
        _, grad = logits_and_grad(model, x, _ce(y))
        return {"sign": grad.sign()}

    def perturb(self, x: torch.Tensor, ctx: State, budget: torch.Tensor, draw: int = 0) -> torch.Tensor:
        return (x + budget.view(-1, 1, 1, 1) * ctx["sign"]).clamp(0, 1)


class IGSM(IterativeAttack):
    r"""Iterative Gradient Sign Method (Basic Iterative Method), one iteration at a time.

    Paper: Kurakin, Goodfellow & Bengio, "Adversarial Examples in the Physical World", ICLR 2017 workshop,
    https://arxiv.org/abs/1607.02533.  x_k = clip(x_{k-1} + α·sign(∇J(x_{k-1}, y)), 0, 1); the budget after k
    iterations is ε = k·α, the L∞ bound reached.  Iterate k equals
    ``foolbox.attacks.LinfBasicIterativeAttack(abs_stepsize=α, steps=k)`` at ε = k·α (its projection never binds
    because each step moves at most α).

    Distance measure: L∞ (the budget ε = iterations × α).

    Arguments:
        alpha (float): step size α per iteration. (Default: 1/255)
        max_steps (int): iterations tried before an image counts as not fooled. (Default: 128)

    Shape:
        - images: :math:`(N, C, H, W)`, float32 in [0, 1]; labels: :math:`(N)`, int64.
        - output of ``budget_search``: ``x_adv`` :math:`(N, C, H, W)` in [0, 1], ``success`` and ``budget``
          :math:`(N)`.

    Examples::
        >>> attack = IGSM(alpha=1 / 255, max_steps=128)
        >>> result = budget_search(attack, model, images, labels, seed=0)
    """

    name = "igsm"

    def __init__(self, alpha: float = 1.0 / 255, max_steps: int = 128) -> None:
        self.alpha = alpha
        super().__init__(max_steps)

    def make_spec(self) -> AttackSpec:
        a = fraction_text(self.alpha)
        return AttackSpec(
            name=self.name, label=ATTACK_LABELS[self.name], budget_name=f"L∞ ε = iterations × {a}",
            kind="iterative", foolbox="LinfBasicIterativeAttack",
            schedule=f"one iteration of step α = {a} at a time, up to {self.max_steps} iterations "
                     f"(ε ≤ {self.budget_of(self.max_steps):.3f})",
            max_budget=self.budget_of(self.max_steps), tolerance=self.alpha,
        )

    def advance(self, model: nn.Module, state: State) -> tuple[torch.Tensor, State]:
        logits, grad = logits_and_grad(model, state["x"], _ce(state["y"]))
        x = (state["x"] + self.alpha * grad.sign()).clamp(0, 1)
        return logits, {**state, "x": x}

    def budget_of(self, k):
        return k * self.alpha
