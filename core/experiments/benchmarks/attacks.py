"""``python -m core bench attacks``: batched budget search vs the obvious per-image foolbox loop.

Both walk the same schedule on MNIST model 1 in this process.  The loop makes one foolbox
call per image per budget (grid, then bisection for FGSM and blur; for IGSM one
``LinfBasicIterativeAttack`` step per call, continuing from the previous iterate).  The
loop is timed on a subset and reported as images/s; budgets are compared on that subset.
Also times ``budget_search_steps`` per step (with the other model's softmax) for all attacks.
"""
from __future__ import annotations

import argparse
import time

import foolbox as fb
import torch

from core.attacks import ATTACKS, budget_search, budget_search_steps, get_attack
from core.data import load_split, samples
from core.experiments.benchmarks import targets_from, verdict
from core.models import load_pair

LOOP_N = {"fgsm": 20, "igsm": 10, "igsm_restart": 4, "gaussian_blur": 20}
REPEATS = 2  # each timing is the best of this many runs (the CPU is shared)
# every budget within one grid step of foolbox's (per attack: images that differ more); the slowest live step is
# reported (docs/attacks.md: ≤ 50 ms on an idle machine) but not held by default: it follows the machine's load
TARGETS = {**{f"{a}_budgets_disagreeing": ("<=", 0.0) for a in LOOP_N}, "step_ms_max": ("<=", float("inf"))}


def _best(fn, repeats: int = REPEATS):
    """(result of the last run, fastest wall time of ``repeats`` runs)."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return out, best


def _data(n: int):
    try:
        x, y = load_split("mnist", "test")
        src = "MNIST test set"
    except FileNotFoundError:
        x, y = samples("mnist")
        src = "shipped samples (no data root)"
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(x), generator=g)[:n]
    return x[idx], y[idx], src


CALLS = [0]


def _fb_call(fb, fm, attack: str, xi, yi, budget: float):
    """One foolbox call at one budget on one image → (x_adv, fooled)."""
    CALLS[0] += 1
    if attack == "fgsm":
        _, xa, ok = fb.attacks.FGSM()(fm, xi, yi, epsilons=budget)
    elif attack == "gaussian_blur":
        _, xa, ok = fb.attacks.GaussianBlurAttack(steps=1, max_sigma=budget)(fm, xi, yi, epsilons=None)
    else:
        raise ValueError(attack)
    return xa, bool(ok[0])


def loop_budget(fb, fm, model, attack: str, xi: torch.Tensor, yi: torch.Tensor) -> float:
    """The obvious loop for one image: foolbox at each budget of the schedule until fooled.

    Counts its foolbox calls in ``CALLS[0]``."""
    att = get_attack(attack.replace("_restart", ""))
    with torch.no_grad():
        if model(xi).argmax(1).item() != yi.item():
            return 0.0
    if attack == "igsm_restart":  # literal: BIM with k steps from the clean image for k = 1, 2, ...
        for k in range(1, att.max_steps + 1):
            bim = fb.attacks.LinfBasicIterativeAttack(abs_stepsize=att.alpha, steps=k)
            CALLS[0] += 1
            if bool(bim(fm, xi, yi, epsilons=k * att.alpha)[2][0]):
                return float(att.budget_of(k))
        return float(att.budget_of(att.max_steps))
    if attack == "igsm":
        x = xi
        step = fb.attacks.LinfBasicIterativeAttack(abs_stepsize=att.alpha, steps=1)
        for k in range(1, att.max_steps + 1):
            _, x, ok = step(fm, x, yi, epsilons=att.alpha)
            CALLS[0] += 1
            if bool(ok[0]):
                return float(att.budget_of(k))
        return float(att.budget_of(att.max_steps))
    lo, hi = 0.0, None
    for g in att.grid().tolist():
        if _fb_call(fb, fm, attack, xi, yi, g)[1]:
            hi = g
            break
        lo = g
    if hi is None:
        return att.spec.max_budget
    for _ in range(att.bisect_steps):
        mid = (lo + hi) / 2
        if _fb_call(fb, fm, attack, xi, yi, mid)[1]:
            hi = mid
        else:
            lo = mid
    return hi


def grid_step(attack: str) -> float:
    att = get_attack(attack.replace("_restart", ""))
    return getattr(att, "alpha", None) or att.spec.max_budget / att.grid_points


def main(args: argparse.Namespace) -> int:
    n = args.n or 500
    x, y, src = _data(n)
    m1, m2 = load_pair("mnist")
    fm = fb.PyTorchModel(m1, bounds=(0, 1))
    print(f"MNIST model 1, {len(x)} images from the {src}; torch threads: {torch.get_num_threads()}; "
          f"best of {REPEATS} runs; loop timed on the first {LOOP_N} images")
    print("loop img/s: its time per foolbox call on the subset × the calls all images need (same schedule)")
    print(f"{'attack':<15}{'ours img/s':>12}{'loop img/s':>12}{'ratio':>9}{'  budgets within 1 grid step':>30}")
    figures: dict[str, float] = {}
    for attack in ("fgsm", "igsm", "igsm_restart", "gaussian_blur"):
        res, t_ours = _best(lambda: budget_search(attack.replace("_restart", ""), m1, x, y, seed=0))
        ours = len(x) / t_ours
        k = min(LOOP_N[attack], len(x))
        CALLS[0] = 0
        loop, t_loop = _best(lambda: [loop_budget(fb, fm, m1, attack, x[i : i + 1], y[i : i + 1]) for i in range(k)])
        calls_sub = CALLS[0] / REPEATS
        # The subset may be easier or harder than the batch: scale the loop's time per foolbox call
        # by the number of calls the whole batch needs on this schedule (= our evaluations per image).
        per_image = torch.where(res.misclassified, torch.zeros_like(res.steps), res.steps).double()
        if attack == "igsm_restart":
            per_image = per_image * (per_image + 1) / 2
        loop_rate = len(x) / (t_loop / max(calls_sub, 1) * float(per_image.sum()))
        diff = (res.budget[:k] - torch.tensor(loop)).abs()
        agree = int((diff <= grid_step(attack) + 1e-6).sum())
        agreement = f"{agree}/{k} (max diff {diff.max():.4g})"
        figures[f"{attack}_budgets_disagreeing"] = float(k - agree)
        print(f"{attack:<15}{ours:>12.1f}{loop_rate:>12.2f}{ours / loop_rate:>8.1f}x{agreement:>30}")
    print("\nbudget_search_steps on one image (attacked model 1, other model 2's softmax each step):")
    n_img = min(5, len(x))
    for attack in ATTACKS:
        steps, t = 0, time.perf_counter()
        for i in range(n_img):
            steps += sum(1 for _ in budget_search_steps(attack, m1, x[i : i + 1], y[i], seed=0, other_model=m2))
        ms = 1000 * (time.perf_counter() - t) / max(steps, 1)
        print(f"  {attack:<16} {ms:6.1f} ms/step over {steps} steps ({n_img} images)")
        figures["step_ms_max"] = max(figures.get("step_ms_max", 0.0), ms)
    return verdict(figures, targets_from(args, TARGETS, figures))
