"""CIFAR-10 attack checks (slow), on the shipped CIFAR-10 pair."""
from __future__ import annotations

import pytest
import torch

from core.attacks import ATTACKS, budget_search, budget_search_steps
from core.data import samples
from core.models import load_pair

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cifar():
    m1, m2 = load_pair("cifar10")  # shipped: a missing or changed file fails the test
    x, y = samples("cifar10")
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:12]
    return m1, m2, x[idx], y[idx]


@pytest.mark.parametrize("attack", ATTACKS)
def test_cifar_attack(cifar, attack):
    m1, m2, x, y = cifar
    r = budget_search(attack, m2, x, y, seed=0)
    ok = ~r.misclassified
    assert r.x_adv.shape == x.shape and r.x_adv.min() >= 0 and r.x_adv.max() <= 1
    assert r.fooled[ok].float().mean() >= (0.6 if attack == "gaussian_blur" else 0.75)
    with torch.no_grad():
        assert torch.equal(r.success, m2(r.x_adv).argmax(1) != y)
    if attack == "jsma":
        assert torch.all((r.x_adv != x).flatten(1).sum(1) <= r.budget * x[0].numel() + 1e-3)
    steps = list(budget_search_steps(attack, m2, x[:1], y[0], other_model=m1))
    assert steps[-1].x.shape == (1, 3, 32, 32) and steps[-1].probs_other.shape == (10,)
