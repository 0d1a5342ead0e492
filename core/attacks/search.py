"""Budget search: raise each image's budget along its attack's schedule until the model errs.

The whole batch advances together and images leave as soon as they are fooled (early
exit).  Grid attacks then bisect each fooled image's bracket [last grid point that did not
fool, first that did] ``bisect_steps`` times, all images at once with per-image budgets.
Iterative attacks check the prediction before every iteration, so the budget is the
first iteration count that fools.  ``success`` is re-checked with one fresh forward pass
on the final, clipped ``x_adv``.
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

from core.attacks.base import Attack, BudgetResult, GridAttack, IterativeAttack, SearchStep, check_inputs, subset
from core.attacks.registry import get_attack


def _fooled(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(1) != y


def _grid_search(att: GridAttack, model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int, ok: torch.Tensor):
    n = len(x)
    top = att.spec.max_budget
    lo, hi = torch.zeros(n), torch.full((n,), top)
    found, evals = torch.zeros(n, dtype=torch.bool), torch.zeros(n, dtype=torch.long)
    ctx = att.prepare(model, x, y, seed)
    active, prev = ok.nonzero().squeeze(1), 0.0
    for g in att.grid().tolist():
        if not len(active):
            break
        f, _ = att.attempt(model, x[active], subset(ctx, active), torch.full((len(active),), g), y[active])
        evals[active] += 1
        hit = active[f]
        lo[hit], hi[hit], found[hit] = prev, g, True
        active, prev = active[~f], g
    lo[active] = top  # never fooled: nothing below the maximum is known to fool
    idx = found.nonzero().squeeze(1)
    for _ in range(att.bisect_steps if len(idx) else 0):
        mid = (lo[idx] + hi[idx]) / 2
        f, _ = att.attempt(model, x[idx], subset(ctx, idx), mid, y[idx])
        hi[idx[f]], lo[idx[~f]] = mid[f], mid[~f]
        evals[idx] += 1
    x_adv = x.clone()
    if len(idx):
        x_adv[idx] = att.attempt(model, x[idx], subset(ctx, idx), hi[idx], y[idx])[1]
    return x_adv, found, hi, lo, evals


def _iterative_search(
    att: IterativeAttack, model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int, ok: torch.Tensor
):
    n = len(x)
    top = float(att.budget_of(att.max_steps))
    found, steps = torch.zeros(n, dtype=torch.bool), torch.full((n,), att.max_steps, dtype=torch.long)
    x_adv = x.clone()
    active = ok.nonzero().squeeze(1)
    state = att.init(model, x[active], y[active], seed) if len(active) else None
    for k in range(att.max_steps + 1):
        if not len(active):
            break
        if k == att.max_steps:
            with torch.no_grad():
                logits, new_state = model(state["x"]), state
        else:
            logits, new_state = att.step(model, state)
        f = logits.argmax(1) != state["y"]
        hit = active[f]
        x_adv[hit], found[hit], steps[hit] = state["x"][f], True, k
        keep = ~f
        state, active = subset(new_state, keep), active[keep]
    budget = torch.where(found, att.budget_of(steps).float(), torch.full((n,), top))
    lo = torch.where(found, att.budget_of((steps - 1).clamp_min(0)).float(), torch.full((n,), top))
    return x_adv, found, budget, lo, steps


def default_batch_size(x: torch.Tensor) -> int:
    """Images per chunk: MNIST-sized inputs all at once, CIFAR-sized in chunks of 128."""
    return 500 if x[0].numel() <= 1024 else 128


def budget_search(
    attack: str | Attack, model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int = 0,
    batch_size: int | None = None,
) -> BudgetResult:
    """Smallest budget on ``attack``'s schedule that makes ``model`` misclassify each image of ``x``.

    Clean images the model already gets wrong: ``success`` True (the prediction on ``x_adv`` = x
    differs from ``y``), ``misclassified`` True, ``budget`` 0; ``result.fooled`` excludes them.
    Images not fooled at the maximum: ``success`` False, ``budget`` = max, ``x_adv`` = x.
    Randomised attacks (noise, salt-and-pepper) draw from ``torch.Generator`` seeded with
    ``seed`` (chunk c of ``batch_size`` images uses ``seed + c``).  ``attack`` is a name of ``ATTACKS``
    (the paper's settings) or an attack instance with settings of its own, e.g. ``FGSM(grid_points=20)``.
    """
    att = get_attack(attack)
    y = torch.as_tensor(y, dtype=torch.long).view(-1)
    x = x.detach().float()
    check_inputs(x, y, att.spec.name)
    if isinstance(att, IterativeAttack):
        att = att.for_dim(x[0].numel())
    bs = batch_size or default_batch_size(x)
    parts = []
    for c, i in enumerate(range(0, len(x), bs)):
        xc, yc = x[i : i + bs], y[i : i + bs]
        mis = _fooled(model, xc, yc)
        search = _grid_search if isinstance(att, GridAttack) else _iterative_search
        x_adv, found, budget, lo, steps = search(att, model, xc, yc, seed + c, ~mis)
        x_adv = x_adv.clamp(0, 1)
        verified = _fooled(model, x_adv, yc) & found  # fresh forward pass on the final images
        lost = found & ~verified  # float noise at an exact tie: count as not fooled
        top = att.spec.max_budget if isinstance(att, GridAttack) else float(att.budget_of(att.max_steps))
        budget, lo = budget.clone(), lo.clone()
        budget[lost], lo[lost] = top, top
        x_adv[~verified] = xc[~verified]
        budget[mis], lo[mis] = 0.0, 0.0
        steps = torch.where(mis, torch.zeros_like(steps), steps)
        parts.append((x_adv, verified | mis, budget, lo, steps, mis))
    cat = (
        [torch.cat(t) if parts else torch.zeros(0) for t in zip(*parts)]
        if parts
        else [x.clone(), *(torch.zeros(0),) * 5]
    )
    return BudgetResult(
        x_adv=cat[0],
        success=cat[1].bool(),
        budget=cat[2].float(),
        budget_lo=cat[3].float(),
        steps=cat[4].long(),
        misclassified=cat[5].bool(),
        attack=att.spec.name,
    )


def perturb_at(
    attack: str | Attack, model: nn.Module, x: torch.Tensor, y: torch.Tensor, budget: torch.Tensor | float,
    seed: int = 0,
) -> torch.Tensor:
    """``attack`` applied at a given budget per image (no search): for checks and the dashboard.

    Iterative attacks run ``round(budget / budget_of(1))`` iterations per image.  Uses the
    same seeds as ``budget_search`` for one chunk.
    """
    att = get_attack(attack)
    y = torch.as_tensor(y, dtype=torch.long).view(-1)
    budget = torch.as_tensor(budget, dtype=torch.float32).expand(len(x)).clone()
    if isinstance(att, GridAttack):  # random attacks: the first of their draws that fools, else draw 0
        return att.attempt(model, x, att.prepare(model, x, y, seed), budget, y)[1]
    att = att.for_dim(x[0].numel())
    want = (budget / float(att.budget_of(1))).round().long().clamp(0, att.max_steps)
    out = x.clone()
    for k, x_k, _ in att.iter_steps(model, x, y, seed):
        out[want == k] = x_k[want == k]
        if k >= int(want.max()):
            break
    return out


def _softmax(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.softmax(model(x), dim=1)[0]


def budget_search_steps(
    attack: str | Attack, model: nn.Module, x1: torch.Tensor, y1, seed: int = 0, other_model: nn.Module | None = None
) -> Iterator[SearchStep]:
    """The schedule of ``attack`` on one image [1,C,H,W], one ``SearchStep`` per budget tried.

    Step 0 is the clean image (budget 0).  Grid attacks then yield each grid point (the
    bisection refinement of ``budget_search`` is not shown); iterative attacks yield each
    iterate.  Stops after the first step that fools ``model`` or at the maximum budget.
    ``probs_other`` is ``other_model``'s softmax (None when it is not given).
    """
    att = get_attack(attack)
    y = torch.as_tensor(y1, dtype=torch.long).view(-1)[:1]
    x1 = x1.detach().float().view(1, *x1.shape[-3:])

    def make(i: int, b: float, x: torch.Tensor, probs: torch.Tensor) -> SearchStep:
        pred = int(probs.argmax())
        other = _softmax(other_model, x) if other_model is not None else None
        return SearchStep(
            index=i,
            budget=float(b),
            x=x,
            probs_attacked=probs,
            probs_other=other,
            fooled=pred != int(y),
            predicted=pred,
        )

    if isinstance(att, GridAttack):
        ctx = att.prepare(model, x1, y, seed)
        for i, b in enumerate([0.0, *att.grid().tolist()]):
            x = att.attempt(model, x1, ctx, torch.tensor([b]), y)[1] if b > 0 else x1.clone()
            step = make(i, b, x, _softmax(model, x))
            yield step
            if step.fooled:
                return
        return
    att = att.for_dim(x1[0].numel())
    for k, x_k, logits in att.iter_steps(model, x1, y, seed):
        step = make(k, float(att.budget_of(k)), x_k.clone(), torch.softmax(logits, 1)[0])
        yield step
        if step.fooled:
            return
