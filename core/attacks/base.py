"""The attack contract: a spec per attack, two kinds of attack, and the result types.

Every attack is searched over a one-dimensional *budget* (Sec. III-B of the
paper: "the distortion level is gradually increased up until the model makes a
mistake, independently for each image").  Two kinds exist:

* ``GridAttack``: a closed-form perturbation at any per-image budget
  (``perturb(x, ctx, budget[N])``), after a one-off ``prepare`` (FGSM's gradient
  sign, a seeded noise direction, ...).  Searched on a linear grid, then by
  bisection; the budget is continuous.
* ``IterativeAttack``: a state advanced one iteration at a time (IGSM, DeepFool,
  JSMA); the budget is a function of the iteration count.

The update rules mirror foolbox 3's attacks (checked in ``tests/test_attacks_units.py``)
but take a budget per image, so a whole batch is searched at once.  Both kinds are ABCs in
foolbox 3's shape: a ``@final`` public method (``GridAttack.apply``/``attempt``,
``IterativeAttack.step``) checks the inputs and the return contract (shapes, dtype, range
[0, 1], success flags) around the one abstract method a subclass implements (``perturb``,
``advance``); hyperparameters are constructor arguments.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Iterator, final

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


def _final_methods(cls: type) -> set[str]:
    """Names of the methods ``cls`` or its bases mark ``@final``."""
    return {k for c in cls.__mro__ for k, v in vars(c).items() if getattr(v, "__final__", False)}


class FinalTemplate(ABC):
    """An ABC whose ``@final`` methods a subclass may not override (foolbox 3's ``Attack.__call__`` habit: one
    checked entry point, one abstract method to implement), enforced when the subclass is defined."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in cls.__mro__[1:]:
            clash = _final_methods(base) & set(vars(cls))
            if clash:
                raise TypeError(f"{cls.__name__} overrides final method(s) {', '.join(sorted(clash))} of "
                                f"{base.__name__}: implement the abstract method instead")


def check_images(x: torch.Tensor, like: torch.Tensor, who: str) -> torch.Tensor:
    """``x`` if it is a batch of images shaped and typed like ``like`` with values in [0, 1], else a clear error."""
    if not isinstance(x, torch.Tensor) or x.shape != like.shape or x.dtype != like.dtype:
        got = f"{tuple(x.shape)} {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{who}: images must be {tuple(like.shape)} {like.dtype}, got {got}")
    if x.numel() and (bool(x.min() < 0) or bool(x.max() > 1)):
        raise ValueError(f"{who}: image values must lie in [0, 1], got [{float(x.min()):.4g}, {float(x.max()):.4g}]")
    return x


def check_inputs(x: torch.Tensor, y: torch.Tensor, who: str) -> None:
    """Images ``[N, C, H, W]`` float in [0, 1] and int64 labels ``[N]``, else a clear error."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"{who}: images must be a float tensor [N, C, H, W], got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    check_images(x, x, who)
    if not isinstance(y, torch.Tensor) or y.shape != (len(x),) or y.dtype != torch.long:
        raise ValueError(f"{who}: labels must be int64 [{len(x)}], got "
                         f"{f'{tuple(y.shape)} {y.dtype}' if isinstance(y, torch.Tensor) else type(y).__name__}")


class GridAttack(FinalTemplate):
    """A perturbation defined in closed form at any budget; searched by grid + bisection.

    Subclasses implement ``perturb``; ``apply`` (final) checks the budgets going in and the images coming out
    (shape, dtype, range [0, 1]), and ``attempt`` (final) the success flags.  ``prepare`` may be overridden.
    """

    def __init__(self, max_budget: float, grid_points: int = 50, bisect_steps: int = 5, repeats: int = 1) -> None:
        self.max_budget = max_budget
        self.grid_points = grid_points  # linear grid (0, max_budget] of this many points
        self.bisect_steps = bisect_steps  # bisection steps after the first grid point that fools
        self.repeats = repeats  # random attacks: seeded draws tried at each budget, the first that fools is kept
        self.spec = self.make_spec()

    @abstractmethod
    def make_spec(self) -> AttackSpec:
        """This configuration's ``AttackSpec`` (its schedule and tolerance follow the hyperparameters)."""

    def grid_schedule(self, symbol: str, unit: str = "") -> str:
        """The schedule as the README's attack table words it, from the hyperparameters."""
        draws = f"; {self.repeats} seeded draws per budget" if self.repeats > 1 else ""
        return (f"{symbol} on a linear grid of {self.grid_points} steps of {self.max_budget / self.grid_points:g} "
                f"up to {self.max_budget:g}{unit}, then {self.bisect_steps} bisection steps{draws}")

    def grid_tolerance(self) -> float:
        """Width of a fooling image's bracket after the bisection."""
        return self.max_budget / self.grid_points / 2**self.bisect_steps

    def prepare(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int) -> State:
        """Per-image tensors the perturbation needs (computed once per batch)."""
        return {}

    @abstractmethod
    def perturb(self, x: torch.Tensor, ctx: State, budget: torch.Tensor, draw: int = 0) -> torch.Tensor:
        """The perturbed images at per-image ``budget`` [N] (random draw ``draw``), clipped to [0, 1]."""

    @final
    def apply(self, x: torch.Tensor, ctx: State, budget: torch.Tensor, draw: int = 0) -> torch.Tensor:
        """``perturb`` with its contract checked: ``budget`` [N] non-negative in, images like ``x`` in [0, 1] out."""
        if budget.shape != (len(x),) or bool((budget < 0).any()):
            raise ValueError(f"{self.spec.name}: budgets must be [{len(x)}] and non-negative, got "
                             f"{tuple(budget.shape)}")
        if not 0 <= draw < self.repeats:
            raise ValueError(f"{self.spec.name}: draw {draw} outside 0..{self.repeats - 1}")
        return check_images(self.perturb(x, ctx, budget, draw), x, self.spec.name)

    @final
    def attempt(self, model: nn.Module, x: torch.Tensor, ctx: State, budget: torch.Tensor,
                y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(fooled [N] bool, images [N,...]) at ``budget``: the first of ``repeats`` draws that fools, else draw 0."""
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
        if fooled.shape != (len(x),) or fooled.dtype != torch.bool:
            raise ValueError(f"{self.spec.name}: success flags must be bool [{len(x)}], got {tuple(fooled.shape)}")
        return fooled, out

    def grid(self) -> torch.Tensor:
        """The budgets tried before the bisection, ascending."""
        return torch.linspace(0, self.spec.max_budget, self.grid_points + 1)[1:]


class IterativeAttack(FinalTemplate):
    """An attack advanced one iteration at a time; the budget is a function of the iteration count.

    Subclasses implement ``advance`` and ``budget_of``; ``step`` (final) checks the logits and the next iterate
    (shape, dtype, range [0, 1]).  ``init`` and ``for_dim`` may be overridden.
    """

    def __init__(self, max_steps: int) -> None:
        self.max_steps = max_steps  # iterations tried; images not fooled by then fail
        self.spec = self.make_spec()

    @abstractmethod
    def make_spec(self) -> AttackSpec:
        """This configuration's ``AttackSpec`` (its schedule follows the hyperparameters)."""

    def init(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int) -> State:
        """Initial state; must hold ``x0`` (clean), ``x`` (current iterate) and ``y``."""
        return {"x0": x.clone(), "x": x.clone(), "y": y.clone()}

    @abstractmethod
    def advance(self, model: nn.Module, state: State) -> tuple[torch.Tensor, State]:
        """Logits at the current iterate, and the state after one more iteration.

        Rows already fooled by the current iterate may be returned unchanged.
        """

    @final
    def step(self, model: nn.Module, state: State) -> tuple[torch.Tensor, State]:
        """``advance`` with its contract checked: logits ``[N, K]`` and a next iterate like ``state["x"]`` in [0, 1]."""
        x = state["x"]
        logits, new = self.advance(model, state)
        if logits.dim() != 2 or len(logits) != len(x):
            raise ValueError(f"{self.spec.name}: logits must be [{len(x)}, K], got {tuple(logits.shape)}")
        check_images(new["x"], x, self.spec.name)
        return logits, new

    def for_dim(self, dim: int) -> "IterativeAttack":
        """This attack configured for inputs of ``dim`` features (JSMA's schedule depends on it)."""
        return self

    @abstractmethod
    def budget_of(self, k: int | torch.Tensor) -> Any:
        """Budget reached after ``k`` iterations."""

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


Attack = GridAttack | IterativeAttack
