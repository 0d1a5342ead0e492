"""Detector-aware (white-box) attacks: the contract, the L∞ PGD engine and the per-image budget search.

An attack meets a ``Judge``: the watched models and a detector with a flagging threshold.  It succeeds on an
image when model 1 is wrong AND the detector does not flag the image.  ``budget_search`` raises each image's
L∞ budget along a grid and keeps, per image, the smallest budget at which a ``steps``-step PGD run (step ε/10,
sign of the gradient, projection on the ε-ball and on [0, 1]) reaches an undetected success; the image leaves
the batch at its first success (early exit), at any PGD step.  What each attack ascends is its own
``direction``; everything else is shared, so the attacks differ only in what they know and optimise.
"""
from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, final

import numpy as np
import torch
import torch.nn.functional as F

from core.attacks.base import FinalTemplate, State, subset

# per-image outcome at a budget: model 1 still right / wrong but flagged / wrong and not flagged
RIGHT, CAUGHT, EVADED = 0, 1, 2


class Watched(Protocol):
    """What a judge's module must give, in one pass: model 1's and model 2's logits and the detector's score,
    then (optionally, a detector watching more than a pair) a tuple of the further watched models' logits."""

    def outputs(self, x: torch.Tensor) -> tuple[Any, ...]: ...


@dataclass
class Judge:
    """The defence an attack meets: ``module.outputs(x) -> (logits_1, logits_2, score)``, flag when
    ``score > threshold`` (for the mismatch detector: its Platt logit against the logit of its threshold)."""

    module: Watched
    threshold: float
    name: str = ""

    @torch.no_grad()
    def scores(self, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
        """(model 1 wrong [N], detector score [N]) from a fresh forward pass."""
        wrong, score = [], []
        for i in range(0, len(x), batch):
            l1, _, s, *_ = self.module.outputs(x[i : i + batch])
            wrong.append(l1.argmax(1) != y[i : i + batch])
            score.append(s)
        return torch.cat(wrong), torch.cat(score)

    def verdict(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(model 1 wrong [N], flagged [N]) from a fresh forward pass."""
        wrong, score = self.scores(x, y)
        return wrong, score > self.threshold


@dataclass(frozen=True)
class AdaptiveSpec:
    """What an adaptive attack is: its name, display label, what it optimises and where it comes from."""

    name: str
    label: str
    objective: str
    reference: str
    adaptive: bool = True  # False: the attacker ignores the detector (the reference)


class AdaptiveAttack(FinalTemplate):
    """One detector-aware attack, an ABC in foolbox 3's shape.  ``prepare`` makes per-image state once per batch;
    subclasses implement ``ascent``, the ascent direction at the current iterate given the judge's outputs there
    (with their graph to ``x``); ``direction`` (final) checks it has the images' shape and dtype."""

    spec: AdaptiveSpec
    stop_on_fooled: bool = False  # True: stop when model 1 errs, flagged or not (an attacker blind to the detector)
    needs_graph: bool = True  # False: ``ascent`` does not use the judge's outputs' graph (e.g. a surrogate)

    def prepare(self, judge: Judge, x: torch.Tensor, y: torch.Tensor, seed: int) -> State:
        """Per-image tensors the attack needs (computed once per batch, on the clean images)."""
        return {}

    @abstractmethod
    def ascent(self, x: torch.Tensor, outs: tuple[torch.Tensor, ...], y: torch.Tensor, state: State,
               fooled: torch.Tensor, flagged: torch.Tensor) -> torch.Tensor:
        """The direction to ascend at ``x`` [N, C, H, W] (PGD steps along its sign)."""

    @final
    def direction(self, x: torch.Tensor, outs: tuple[torch.Tensor, ...], y: torch.Tensor, state: State,
                  fooled: torch.Tensor, flagged: torch.Tensor) -> torch.Tensor:
        """``ascent`` with its contract checked: a tensor shaped and typed like ``x``."""
        g = self.ascent(x, outs, y, state, fooled, flagged)
        if not isinstance(g, torch.Tensor) or g.shape != x.shape or g.dtype != x.dtype:
            raise ValueError(f"{self.spec.name}: the ascent direction must be {tuple(x.shape)} {x.dtype}, got "
                             f"{tuple(g.shape) if isinstance(g, torch.Tensor) else type(g).__name__}")
        return g


def grad_of(value: torch.Tensor, x: torch.Tensor, retain: bool = False) -> torch.Tensor:
    """d value.sum() / dx (zeros where ``x`` does not reach ``value``)."""
    (g,) = torch.autograd.grad(value.sum(), x, retain_graph=retain, allow_unused=True)
    return torch.zeros_like(x) if g is None else g


def ce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, y, reduction="none")


def watched_logits(outs: tuple[Any, ...]) -> tuple[torch.Tensor, ...]:
    """Every watched model's logits from a judge's ``outputs``: model 1, model 2, then any more."""
    return (outs[0], outs[1], *(outs[3] if len(outs) > 3 else ()))


def joint_target(logits: Sequence[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
    """The wrong class all the models find most likely (largest summed log-probability, the true class
    excluded)."""
    s = sum(torch.log_softmax(v, 1) for v in logits)
    return s.scatter(1, y[:, None], float("-inf")).argmax(1)


@dataclass
class PGDRun:
    """One PGD run at per-image budgets: the outcome of every image and the image that gave it."""

    x_adv: torch.Tensor  # the stopping iterate; else the latest caught iterate; else the last iterate
    outcome: torch.Tensor  # RIGHT / CAUGHT / EVADED at the stopping point (or at the end)
    steps: torch.Tensor  # PGD steps taken


def pgd(attack: AdaptiveAttack, judge: Judge, x0: torch.Tensor, y: torch.Tensor, eps: torch.Tensor, steps: int,
        state: State, rel_step: float = 0.1) -> PGDRun:
    """L∞ PGD of ``steps`` steps of ``rel_step * eps``; each image stops at its first success.

    An image is *caught* if some iterate fooled model 1 but every such iterate was flagged.
    """
    n = len(x0)
    e = eps.view(-1, *([1] * (x0.dim() - 1))).to(x0.dtype)
    lo, hi, step = (x0 - e).clamp(0, 1), (x0 + e).clamp(0, 1), e * rel_step
    x = x0.clone()
    x_adv, outcome = x0.clone(), torch.full((n,), RIGHT, dtype=torch.long)
    taken = torch.full((n,), steps, dtype=torch.long)
    act = torch.arange(n)
    for k in range(steps + 1):
        xa = x[act].detach().requires_grad_(attack.needs_graph and k < steps)
        with torch.set_grad_enabled(attack.needs_graph and k < steps):
            outs = judge.module.outputs(xa)
        fooled = outs[0].argmax(1) != y[act]
        flagged = outs[2] > judge.threshold
        stop = fooled if attack.stop_on_fooled else fooled & ~flagged
        caught = fooled & flagged
        outcome[act[caught]] = CAUGHT
        x_adv[act[caught]] = xa[caught].detach()  # the latest fooled-but-flagged iterate
        hit = act[stop]
        x_adv[hit], taken[hit] = xa[stop].detach(), k
        outcome[hit] = torch.where(flagged[stop], CAUGHT, EVADED)
        if k == steps or bool(stop.all()):
            break
        g = attack.direction(xa, outs, y[act], subset(state, act), fooled, flagged)
        keep = ~stop
        rows = act[keep]
        x[rows] = torch.min(torch.max(xa[keep].detach() + step[rows] * g[keep].sign(), lo[rows]), hi[rows])
        act = rows
    left = outcome == RIGHT  # never fooled: keep the last iterate as the attacker's best try
    x_adv[left] = x[left]
    return PGDRun(x_adv, outcome, taken)


@dataclass
class BudgetCurve:
    """Per-image smallest successful budget on ``grid`` and the outcome at every budget (``[G, N]``)."""

    grid: np.ndarray
    outcome: np.ndarray  # [G, N] RIGHT / CAUGHT / EVADED
    budget: np.ndarray  # [N] smallest budget that succeeded (inf where none did)
    x_adv: torch.Tensor  # [N, ...] the image at that budget (the last try at the largest budget otherwise)
    steps: np.ndarray  # [N] PGD steps summed over the budgets tried
    extra: dict[str, Any] = field(default_factory=dict)

    def rates(self) -> dict[str, list[float]]:
        """Per budget: the share of images evaded (success), caught (model 1 fooled but flagged), fooled (either)."""
        o = self.outcome
        return {"success": (o == EVADED).mean(1).tolist(), "detected": (o == CAUGHT).mean(1).tolist(),
                "fooled": (o != RIGHT).mean(1).tolist()}


def budget_search(attack: AdaptiveAttack, judge: Judge, x: torch.Tensor, y: torch.Tensor, grid: Sequence[float],
                  steps: int = 100, seed: int = 0, batch: int = 500) -> BudgetCurve:
    """Each image's smallest budget on ``grid`` (ascending) at which ``attack`` succeeds against ``judge``.

    An image leaves at its first success; an attack that stops when model 1 errs (``stop_on_fooled``) also
    leaves when caught: a blind attacker does not retry.  The outcome at a budget above an image's stopping
    budget is the outcome it stopped with.
    """
    grid = np.asarray(sorted(grid), np.float64)
    n = len(x)
    outcome = np.full((len(grid), n), RIGHT, np.int64)
    budget = np.full(n, np.inf)
    x_adv = x.clone()
    steps_used = np.zeros(n, np.int64)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=g)))
    for b0 in range(0, n, batch):
        rows = torch.arange(b0, min(n, b0 + batch))
        state = attack.prepare(judge, x[rows], y[rows], seed)
        act = torch.arange(len(rows))
        for j, e in enumerate(grid):
            if not len(act):
                break
            r = pgd(
                attack, judge, x[rows[act]], y[rows[act]], torch.full((len(act),), float(e)), steps, subset(state, act)
            )
            idx = rows[act].numpy()
            outcome[j:, idx] = r.outcome.numpy()[None, :]
            steps_used[idx] += r.steps.numpy()
            x_adv[rows[act]] = r.x_adv
            done = (r.outcome == EVADED) | ((r.outcome == CAUGHT) & attack.stop_on_fooled)
            budget[idx[done.numpy()]] = e
            act = act[~done]
    return BudgetCurve(grid, outcome, budget, x_adv, steps_used)


def search_steps(attack: AdaptiveAttack, judge: Judge, x1: torch.Tensor, y1: torch.Tensor, grid: Sequence[float],
                 steps: int = 100, seed: int = 0):
    """``budget_search`` on one image ``[1,C,H,W]``, one ``(eps, x, outcome)`` per budget tried (what the
    dashboard animates); stops at the first budget that succeeds (for a blind attack: that fools model 1)."""
    torch.manual_seed(seed)
    state = attack.prepare(judge, x1, y1, seed)
    for e in sorted(grid):
        r = pgd(attack, judge, x1, y1, torch.full((1,), float(e)), steps, state)
        o = int(r.outcome[0])
        yield float(e), r.x_adv, o
        if o == EVADED or (o == CAUGHT and attack.stop_on_fooled):
            return
