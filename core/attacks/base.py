"""The attack contract: a spec per attack, two kinds of attack, and the result types.

Every attack is searched over a one-dimensional *budget* (Sec. III-B of the
paper: "the distortion level is gradually increased up until the model makes a
mistake, independently for each image").  Two kinds exist:

* ``GridAttack``: a closed-form perturbation at any per-image budget
  (``apply(x, ctx, budget[N])``), after a one-off ``prepare`` (FGSM's gradient
  sign, a seeded noise direction, ...).  Searched on a linear grid, then by
  bisection; the budget is continuous.
* ``IterativeAttack``: a state advanced one iteration at a time (IGSM, DeepFool,
  JSMA); the budget is a function of the iteration count.

The update rules mirror foolbox 3's attacks (checked in ``tests/test_attacks_units.py``)
but take a budget per image, so a whole batch is searched at once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from torch import nn

State = dict[str, torch.Tensor]


@dataclass(frozen=True)
class AttackSpec:
    """What an attack's budget is and how it is searched (the README's attack table)."""

    name: str
    label: str  # display name: core.ATTACK_LABELS[name]
    budget_name: str  # e.g. "L∞ ε"
    schedule: str  # human description of the schedule
    max_budget: float  # largest budget tried; images not fooled there fail
    tolerance: float  # a budget this much smaller (or the previous step) does not fool
    kind: str  # "grid" (grid + bisection) or "iterative" (one step at a time)
    foolbox: str  # the foolbox 3 class whose update rule this mirrors ("" = none)


@dataclass
class BudgetResult:
    """Outcome of ``budget_search`` for a batch of N images.

    ``success``: the model's prediction on ``x_adv`` differs from ``y`` (a fresh forward
    pass, exactly as the contract says).  A clean image the model already gets wrong is
    therefore a success at budget 0 with ``x_adv = x``; ``misclassified`` marks those, and
    ``fooled`` (success by the attack itself) excludes them: the paper labels them clean.
    ``budget``: the smallest budget found that fools (``max_budget`` where none did, 0
    where the clean image was already misclassified).
    ``budget_lo``: the largest budget known *not* to fool (grid/bisection lower end or
    the previous iteration), so ``budget - budget_lo <= spec.tolerance``.
    ``x_adv`` is the clean image wherever ``fooled`` is False (as in the paper, a failed
    attack contributes its clean version).
    """

    x_adv: torch.Tensor
    success: torch.Tensor
    budget: torch.Tensor
    budget_lo: torch.Tensor
    steps: torch.Tensor  # int64: grid/bisection evaluations or iterations used
    misclassified: torch.Tensor  # bool: clean image already wrong (success True, budget 0, x_adv = x)
    attack: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fooled(self) -> torch.Tensor:
        """Images the attack itself turned from right to wrong (what the detector data set labels 1)."""
        return self.success & ~self.misclassified


@dataclass
class SearchStep:
    """One step of ``budget_search_steps`` on one image (what the dashboard animates)."""

    index: int
    budget: float
    x: torch.Tensor  # [1, C, H, W]
    probs_attacked: torch.Tensor  # [10] softmax of the attacked model
    probs_other: torch.Tensor | None  # [10] softmax of the other model, if given
    fooled: bool
    predicted: int = -1  # attacked model's class on ``x``


def subset(state: State, idx: torch.Tensor) -> State:
    """Rows ``idx`` of every tensor in ``state``."""
    return {k: v[idx] for k, v in state.items()}


def logits_and_grad(model: nn.Module, x: torch.Tensor, objective) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits at ``x`` and the gradient of ``objective(logits).sum()`` w.r.t. ``x``."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        logits = model(x)
        (grad,) = torch.autograd.grad(objective(logits).sum(), x)
    return logits.detach(), grad.detach()


class GridAttack:
    """A perturbation defined in closed form at any budget; searched by grid + bisection."""

    spec: AttackSpec
    grid_points: int = 50
    bisect_steps: int = 5
    repeats: int = 1  # random attacks: seeded draws tried at each budget, the first that fools is kept

    def prepare(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int) -> State:
        """Per-image tensors the perturbation needs (computed once per batch)."""
        return {}

    def apply(self, x: torch.Tensor, ctx: State, budget: torch.Tensor, draw: int = 0) -> torch.Tensor:
        """The perturbed images at per-image ``budget`` [N] (random draw ``draw``), clipped to [0,1]."""
        raise NotImplementedError

    def attempt(self, model: nn.Module, x: torch.Tensor, ctx: State, budget: torch.Tensor,
                y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(fooled [N], images [N,...]) at ``budget``: the first of ``repeats`` draws that fools, else draw 0."""
        out = self.apply(x, ctx, budget, 0)
        with torch.no_grad():
            fooled = model(out).argmax(1) != y
        for r in range(1, self.repeats):
            rows = (~fooled).nonzero().squeeze(1)
            if not len(rows):
                break
            cand = self.apply(x[rows], subset(ctx, rows), budget[rows], r)
            with torch.no_grad():
                f = model(cand).argmax(1) != y[rows]
            out[rows[f]], fooled[rows[f]] = cand[f], True
        return fooled, out

    def grid(self) -> torch.Tensor:
        return torch.linspace(0, self.spec.max_budget, self.grid_points + 1)[1:]


class IterativeAttack:
    """An attack advanced one iteration at a time; the budget is a function of the iteration count."""

    spec: AttackSpec
    max_steps: int

    def init(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int) -> State:
        """Initial state; must hold ``x0`` (clean), ``x`` (current iterate) and ``y``."""
        return {"x0": x.clone(), "x": x.clone(), "y": y.clone()}

    def step(self, model: nn.Module, state: State) -> tuple[torch.Tensor, State]:
        """Logits at the current iterate, and the state after one more iteration.

        Rows already fooled by the current iterate may be returned unchanged.
        """
        raise NotImplementedError

    def for_dim(self, dim: int) -> "IterativeAttack":
        """This attack configured for inputs of ``dim`` features (JSMA's schedule depends on it)."""
        return self

    def budget_of(self, k: int | torch.Tensor):
        """Budget reached after ``k`` iterations."""
        raise NotImplementedError

    def iter_steps(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   seed: int) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """(k, iterate x_k, logits at x_k) for k = 0 .. max_steps (for all rows)."""
        state = self.init(model, x, y, seed)
        for k in range(self.max_steps + 1):
            x_k = state["x"]
            if k == self.max_steps:
                with torch.no_grad():
                    yield k, x_k, model(x_k)
                return
            logits, state = self.step(model, state)
            yield k, x_k, logits
