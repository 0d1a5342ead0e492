"""Budget search on the shipped MNIST pair and samples: success, bounds, minimality, seeds."""
from __future__ import annotations

import pytest
import torch

from core.attacks import ATTACK_SPECS, ATTACKS, BudgetResult, budget_search, budget_search_steps, perturb_at
from core.data import samples
from core.models import load_pair

N = {"jsma": 16}  # JSMA's pair search is the slow one
MIN_SUCCESS = {"gaussian_noise": 0.4, "salt_and_pepper": 0.7}  # the rest: ≥ 0.8


@pytest.fixture(scope="module")
def mnist():
    torch.manual_seed(0)
    x, y = samples("mnist")
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:40]
    return load_pair("mnist"), x[idx], y[idx]


@pytest.fixture(scope="module")
def results(mnist):
    (m1, m2), x, y = mnist
    out = {}
    for a in ATTACKS:
        n = N.get(a, 40)
        out[a] = (
            m1 if a != "jsma" else m2,
            x[:n],
            y[:n],
            budget_search(a, m1 if a != "jsma" else m2, x[:n], y[:n], seed=0),
        )
    return out


def test_names_and_specs():
    assert ATTACKS == ("fgsm", "igsm", "jsma", "deepfool", "gaussian_blur", "gaussian_noise", "salt_and_pepper")
    for a in ATTACKS:
        s = ATTACK_SPECS[a]
        assert s.name == a and s.label and s.budget_name and s.schedule and s.max_budget > 0 and s.tolerance > 0


@pytest.mark.parametrize("attack", ATTACKS)
def test_fools_most_and_agrees_with_fresh_forward(results, attack):
    model, x, y, r = results[attack]
    assert isinstance(r, BudgetResult)
    assert r.x_adv.shape == x.shape and r.x_adv.dtype == torch.float32
    assert r.x_adv.min() >= 0 and r.x_adv.max() <= 1
    assert r.success.dtype == torch.bool and r.budget.shape == (len(x),)
    ok = ~r.misclassified
    assert r.fooled[ok].float().mean() >= MIN_SUCCESS.get(attack, 0.8)
    with torch.no_grad():
        pred = model(r.x_adv).argmax(1)
    assert torch.equal(r.success, pred != y)  # the contract: a fresh forward pass decides
    assert torch.equal(r.fooled, r.success & ok)
    # failures keep the clean image and the maximum budget; misclassified ones budget 0
    fail = ok & ~r.success
    assert torch.equal(r.x_adv[~r.fooled], x[~r.fooled])
    top = ATTACK_SPECS[attack].max_budget
    assert torch.allclose(r.budget[fail], torch.full_like(r.budget[fail], top), rtol=1e-2)  # JSMA: 2·⌊γD/2⌋/D
    assert torch.all(r.budget[r.misclassified] == 0)
    assert torch.all(r.budget[r.success] <= ATTACK_SPECS[attack].max_budget + 1e-6)


@pytest.mark.parametrize("attack", ATTACKS)
def test_minimal_within_tolerance(results, attack):
    """The largest budget known not to fool is within the tolerance, and indeed does not fool."""
    model, x, y, r = results[attack]
    s = r.fooled
    tol = ATTACK_SPECS[attack].tolerance
    assert torch.all(r.budget[s] - r.budget_lo[s] <= tol * (1 + 1e-4) + 1e-6)
    lo = torch.where(s, r.budget_lo, torch.zeros_like(r.budget_lo))  # whole batch: same seeded noise rows
    below = perturb_at(attack, model, x, y, lo, seed=0)[s]
    with torch.no_grad():
        still = model(below).argmax(1) != y[s]
    assert still.float().mean() <= 0.05  # float ties at the boundary may flip one image in a batch


def test_jsma_changes_at_most_budget_pixels(results):
    _, x, _, r = results["jsma"]
    changed = (r.x_adv != x).flatten(1).sum(1).float()
    d = x[0].numel()
    assert torch.all(changed <= r.budget * d + 1e-3)
    assert torch.all(changed[r.fooled] > 0)


@pytest.mark.parametrize("attack", ["gaussian_noise", "salt_and_pepper", "fgsm"])
def test_same_seed_same_result(mnist, attack):
    (m1, _), x, y = mnist
    a = budget_search(attack, m1, x[:10], y[:10], seed=3)
    b = budget_search(attack, m1, x[:10], y[:10], seed=3)
    assert torch.equal(a.x_adv, b.x_adv) and torch.equal(a.budget, b.budget)
    if attack != "fgsm":
        c = budget_search(attack, m1, x[:10], y[:10], seed=4)
        assert not torch.equal(a.x_adv, c.x_adv)


@pytest.mark.parametrize("attack", ATTACKS)
def test_steps_walk_the_schedule(mnist, attack):
    (m1, m2), x, y = mnist
    i = 1
    steps = list(budget_search_steps(attack, m1, x[i : i + 1], y[i], seed=0, other_model=m2))
    assert steps[0].index == 0 and steps[0].budget == 0 and not steps[0].fooled
    assert all(not s.fooled for s in steps[:-1])
    budgets = [s.budget for s in steps]
    assert budgets == sorted(budgets)
    last = steps[-1]
    assert last.fooled or last.budget == pytest.approx(ATTACK_SPECS[attack].max_budget, rel=1e-2)
    assert last.x.shape == (1, 1, 28, 28) and 0 <= last.x.min() and last.x.max() <= 1
    assert last.probs_attacked.shape == (10,) and abs(float(last.probs_attacked.sum()) - 1) < 1e-4
    assert last.probs_other is not None and last.probs_other.shape == (10,)
    with torch.no_grad():
        assert (m1(last.x).argmax(1).item() != int(y[i])) == last.fooled
    none = next(iter(budget_search_steps(attack, m1, x[i : i + 1], y[i])))
    assert none.probs_other is None


def test_misclassified_clean_image_is_success_at_budget_zero_but_not_fooled(mnist):
    (m1, _), x, y = mnist
    with torch.no_grad():
        wrong = (m1(x).argmax(1) + 1) % 10  # pretend labels: every clean image is "misclassified"
    r = budget_search("fgsm", m1, x[:5], wrong[:5])
    assert r.success.all() and torch.all(r.budget == 0) and r.misclassified.all() and not r.fooled.any()
    assert torch.equal(r.x_adv, x[:5])


def test_unknown_attack_is_a_clear_error(mnist):
    (m1, _), x, y = mnist
    with pytest.raises(ValueError, match="unknown attack"):
        budget_search("pgd", m1, x[:2], y[:2])
