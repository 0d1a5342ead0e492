"""Detector-aware attacks: the L∞ PGD engine's contract, the per-image budget search, and that every adaptive
attack beats the attacker who ignores the detector at the same budget."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core import detector
from core.attacks.adaptive import (
    ADAPTIVE_ATTACKS,
    CAUGHT,
    EVADED,
    RIGHT,
    budget_search,
    get_adaptive,
    pgd,
    search_steps,
)
from core.data import samples
from core.detector.judges import judge_for


@pytest.fixture(scope="module")
def mnist():
    """60 shipped MNIST samples both models get right, and the judge at 5 % clean false positives."""
    torch.set_num_threads(2)
    det = detector.load("mnist")
    m1, m2 = det.pair()
    x, y = samples("mnist")
    with torch.no_grad():
        ok = (m1(x).argmax(1) == y) & (m2(x).argmax(1) == y)
    return det, judge_for(det, 0.05), x[ok][:60], y[ok][:60]


def undetected_success(det, judge, x_adv, y) -> np.ndarray:
    """Independent check through the image-level API: model 1 wrong and not flagged at 5 %."""
    with torch.no_grad():
        wrong = (det.pair()[0](x_adv).argmax(1) != y).numpy()
    return wrong & ~det.predict(x_adv, fpr=0.05)


@pytest.mark.parametrize("name, eps", [("joint_pgd", 0.2), ("s_pgd", 0.1)])
def test_pgd_stays_in_the_ball_and_its_outcomes_are_true(mnist, name: str, eps: float) -> None:
    det, judge, x, y = mnist
    attack = get_adaptive(name)
    r = pgd(attack, judge, x, y, torch.full((len(x),), eps), 30, attack.prepare(judge, x, y, 0))
    assert ((r.x_adv - x).abs().flatten(1).amax(1) <= eps + 1e-6).all()
    assert r.x_adv.min() >= 0 and r.x_adv.max() <= 1
    outcome = r.outcome.numpy()
    ev, caught = outcome == EVADED, outcome == CAUGHT
    assert ev.any() and caught.any()
    np.testing.assert_array_equal(undetected_success(det, judge, r.x_adv, y)[ev], True)
    wrong, flagged = judge.verdict(r.x_adv, y)
    assert (wrong & flagged).numpy()[caught].all()  # a caught image comes back as its fooled-but-flagged iterate
    assert not wrong.numpy()[outcome == RIGHT].any()  # "right": model 1 never fooled
    assert (r.steps[torch.from_numpy(ev)] <= 30).all()


def undetected_rate(mnist, attack_name: str, eps: float = 0.3, steps: int = 100) -> float:
    det, judge, x, y = mnist
    a = get_adaptive(attack_name)
    torch.manual_seed(0)
    r = pgd(a, judge, x, y, torch.full((len(x),), eps), steps, a.prepare(judge, x, y, 0))
    return float(undetected_success(det, judge, r.x_adv, y).mean())


@pytest.fixture(scope="module")
def blind_rate(mnist) -> float:
    return undetected_rate(mnist, "no_detector")


@pytest.mark.parametrize("name", [a for a in ADAPTIVE_ATTACKS if a not in ("no_detector", "transfer")])
def test_each_adaptive_attack_beats_the_blind_attack_of_the_same_budget(mnist, blind_rate: float, name: str) -> None:
    rate = undetected_rate(mnist, name)
    assert rate > blind_rate, f"{name}: {rate:.2f} undetected, plain PGD {blind_rate:.2f} at ε = 0.3"


def test_budget_search_gives_the_smallest_successful_budget_on_the_grid(mnist) -> None:
    det, judge, x, y = mnist
    grid = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
    c = budget_search(get_adaptive("joint_pgd"), judge, x[:30], y[:30], grid, steps=40)
    assert c.outcome.shape == (len(grid), 30)
    for i, b in enumerate(c.budget):
        if np.isfinite(b):
            j = grid.index(b)
            assert c.outcome[j, i] == EVADED and (c.outcome[:j, i] != EVADED).all()  # smallest on the grid
            assert (c.outcome[j:, i] == EVADED).all()  # carried to larger budgets
            assert (x[i] - c.x_adv[i]).abs().max() <= b + 1e-6
        else:
            assert (c.outcome[:, i] != EVADED).all()
    rates = c.rates()
    assert all(np.diff(rates["success"]) >= 0) and rates["success"][-1] == pytest.approx(np.isfinite(c.budget).mean())
    ok = np.isfinite(c.budget)
    assert undetected_success(det, judge, c.x_adv[ok], y[:30][ok]).all()


def test_blind_attack_stops_at_the_first_fooling_budget(mnist) -> None:
    _, judge, x, y = mnist
    c = budget_search(get_adaptive("no_detector"), judge, x[:20], y[:20], (0.05, 0.1, 0.2, 0.3), steps=40)
    fooled = np.isfinite(c.budget)
    assert fooled.mean() > 0.9
    # a blind attacker keeps the first fooling image, caught or not, and does not retry at a larger budget
    last = c.outcome[-1]
    assert set(np.unique(last[fooled])) <= {CAUGHT, EVADED}


def test_search_steps_plays_one_image_until_success(mnist) -> None:
    det, judge, x, y = mnist
    steps = list(search_steps(get_adaptive("joint_pgd"), judge, x[:1], y[:1], (0.1, 0.2, 0.3), steps=50))
    assert 1 <= len(steps) <= 3 and [s[0] for s in steps] == [0.1, 0.2, 0.3][: len(steps)]
    assert all(o != EVADED for _, _, o in steps[:-1])
    eps, x_last, o_last = steps[-1]
    assert o_last == EVADED  # joint PGD evades on this image within 0.3: the play stops at its first success
    assert undetected_success(det, judge, x_last, y[:1]).all() and (x_last - x[:1]).abs().max() <= eps + 1e-6


def test_transfer_needs_a_surrogate_and_unknown_names_are_refused() -> None:
    with pytest.raises(ValueError, match="surrogate"):
        get_adaptive("transfer")
    with pytest.raises(ValueError, match="unknown adaptive attack"):
        get_adaptive("cw")
