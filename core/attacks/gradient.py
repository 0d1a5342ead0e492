"""FGSM and IGSM (BIM): sign-of-gradient attacks on the cross-entropy loss (paper eqs. 2-3)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core import ATTACK_LABELS
from core.attacks.base import AttackSpec, GridAttack, IterativeAttack, State, logits_and_grad


def _ce(y: torch.Tensor):
    return lambda logits: F.cross_entropy(logits, y, reduction="none")


class FGSM(GridAttack):
    """x_adv = clip(x + ε·sign(∇x J(x, y))): the gradient is taken once, then any ε is one add.

    Same update as ``foolbox.attacks.FGSM`` (one step, ``rel_stepsize=1``, no random start).
    """

    spec = AttackSpec(
        name="fgsm", label=ATTACK_LABELS["fgsm"], budget_name="L∞ ε", kind="grid", foolbox="FGSM",
        schedule="ε on a linear grid of 100 steps of 0.01 up to 1, then 5 bisection steps",
        max_budget=1.0, tolerance=1.0 / 100 / 2**5,
    )
    grid_points = 100

    def prepare(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int) -> State:
        _, grad = logits_and_grad(model, x, _ce(y))
        return {"sign": grad.sign()}

    def apply(self, x: torch.Tensor, ctx: State, budget: torch.Tensor, draw: int = 0) -> torch.Tensor:
        return (x + budget.view(-1, 1, 1, 1) * ctx["sign"]).clamp(0, 1)


class IGSM(IterativeAttack):
    """x_k = clip(x_{k-1} + α·sign(∇J(x_{k-1}, y))), α = 1/255; budget ε = k·α (the L∞ bound reached).

    Iterate k equals ``foolbox.attacks.LinfBasicIterativeAttack(abs_stepsize=α, steps=k)``
    at ε = k·α (its projection never binds because each step moves at most α).
    """

    alpha = 1.0 / 255
    max_steps = 128
    spec = AttackSpec(
        name="igsm", label=ATTACK_LABELS["igsm"], budget_name="L∞ ε = iterations × 1/255", kind="iterative",
        foolbox="LinfBasicIterativeAttack",
        schedule="one iteration of step α = 1/255 at a time, up to 128 iterations (ε ≤ 0.502)",
        max_budget=128 / 255, tolerance=1 / 255,
    )

    def step(self, model: nn.Module, state: State) -> tuple[torch.Tensor, State]:
        logits, grad = logits_and_grad(model, state["x"], _ce(state["y"]))
        x = (state["x"] + self.alpha * grad.sign()).clamp(0, 1)
        return logits, {**state, "x": x}

    def budget_of(self, k):
        return k * self.alpha
