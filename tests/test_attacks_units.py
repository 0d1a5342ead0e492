"""Attack internals against hand computations and foolbox 3 at shared budgets."""
from __future__ import annotations

import foolbox as fb
import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from torch import nn

from core.attacks import (
    ATTACK_SPECS,
    FGSM,
    IGSM,
    GaussianNoise,
    GridAttack,
    IterativeAttack,
    budget_search,
    perturb_at,
)
from core.attacks.adaptive import AdaptiveAttack
from core.attacks.corruption import blur_matrices, gaussian_blur
from core.attacks.jsma import JSMA, pick_pairs
from core.data import samples
from core.models import load_pair


class Linear(nn.Module):
    """Logits = W·x.flatten(): the Jacobian is W itself."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w, requires_grad=False)

    def forward(self, x):
        return x.flatten(1) @ self.w.T


def test_pick_pairs_by_hand():
    a = torch.tensor([[1.0, 2.0, -1.0, 0.5]])
    b = torch.tensor([[-1.0, -3.0, 5.0, -0.5]])
    # pairs: (0,1): α=3, β=-4 → 12; (1,3): α=2.5, β=-3.5 → 8.75; (0,3): 1.5·1.5=2.25; pairs with 2 have β>0
    p, q = pick_pairs(a, b, torch.ones(1, 4, dtype=torch.bool))
    assert {int(p), int(q)} == {0, 1}
    p, q = pick_pairs(a, b, torch.tensor([[True, False, True, True]]))
    assert {int(p), int(q)} == {0, 3}
    # pruned search == brute force over all pairs (by score), with and without chunking
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(40, 300, generator=g), torch.randn(40, 300, generator=g)
    s = torch.rand(40, 300, generator=g) > 0.3
    for kw in ({}, {"memory_bytes": 1}, {"seed_k": 2}):
        p, q = pick_pairs(a, b, s, **kw)
        for r in range(40):
            al = a[r].unsqueeze(1) + a[r].unsqueeze(0)
            be = b[r].unsqueeze(1) + b[r].unsqueeze(0)
            ok = (al > 0) & (be < 0) & s[r].unsqueeze(1) & s[r].unsqueeze(0) & ~torch.eye(300, dtype=torch.bool)
            brute = torch.where(ok, al * -be, torch.tensor(float("-inf"))).max()
            assert p[r] != q[r] and s[r, p[r]] and s[r, q[r]]
            assert torch.isclose(al[p[r], q[r]] * -be[p[r], q[r]], brute)


def test_jsma_on_linear_model_by_hand():
    # 1x2x2 image, 3 classes.  Class 0 is true; class 1 the most likely wrong one (target).
    w = torch.tensor([[2.0, 0.0, 0.0, 0.0],   # class 0 ("true")
                      [0.0, 1.0, 3.0, -1.0],  # class 1 (target)
                      [0.0, 0.0, -2.0, 0.5]])
    model = Linear(w)
    x = torch.tensor([[[[0.9, 0.0], [0.0, 0.0]]]])
    y = torch.tensor([0])
    # a = W[1] = [0,1,3,-1]; b = W[0]+W[2] = [2,0,-2,0.5]; best valid pair: (1,2): α=4, β=-2 → 8
    att = JSMA(4)
    state = att.init(model, x, y, 0)
    assert int(state["t"]) == 1
    _, state = att.step(model, state)
    assert torch.equal(state["x"].flatten(), torch.tensor([0.9, 1.0, 1.0, 0.0]))
    # logits now: class 0 = 1.8, class 1 = 4 → fooled after one iteration (2 of 4 features = γ 0.5)
    assert model(state["x"]).argmax(1).item() == 1


def test_blur_matches_scipy():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 2, 9, 7, generator=g)
    sig = torch.tensor([0.0, 0.7, 6.5])  # 6.5: radius 26 > 9, several reflections
    ours = gaussian_blur(x, sig)
    for i, s in enumerate(sig.tolist()):
        ref = gaussian_filter(x[i].numpy(), [0, s, s]) if s > 0 else x[i].numpy()
        np.testing.assert_allclose(ours[i].numpy(), np.clip(ref, 0, 1), atol=1e-5)
    assert torch.allclose(blur_matrices(torch.tensor([2.0]), 9).sum(2), torch.ones(1, 9))


@pytest.fixture(scope="module")
def mnist_fb():
    (m1, _), (x, y) = load_pair("mnist"), samples("mnist")
    return fb, m1, fb.PyTorchModel(m1, bounds=(0, 1)), x[:12], y[:12]


def test_fgsm_igsm_match_foolbox(mnist_fb):
    fb, m, fm, x, y = mnist_fb
    _, ours_fb, _ = fb.attacks.FGSM()(fm, x, y, epsilons=0.1)
    assert torch.allclose(perturb_at("fgsm", m, x, y, 0.1), ours_fb, atol=1e-6)
    k, alpha = 5, 1 / 255
    _, bim, _ = fb.attacks.LinfBasicIterativeAttack(abs_stepsize=alpha, steps=k)(fm, x, y, epsilons=k * alpha)
    assert (perturb_at("igsm", m, x, y, k * alpha) - bim).abs().max() < 1e-5


def test_deepfool_matches_foolbox(mnist_fb):
    fb, m, fm, x, y = mnist_fb
    _, ref, _ = fb.attacks.L2DeepFoolAttack(steps=50)(fm, x, y, epsilons=None)
    assert (perturb_at("deepfool", m, x, y, 50.0) - ref).abs().max() < 1e-3


def test_blur_matches_foolbox_filter(mnist_fb):
    fb, m, fm, x, y = mnist_fb
    # GaussianBlurAttack(steps=1, max_sigma=σ) tries exactly σ and returns the blur where it fools
    sigma = 5.0
    _, ref, succ = fb.attacks.GaussianBlurAttack(steps=1, max_sigma=sigma)(fm, x, y, epsilons=None)
    ours = perturb_at("gaussian_blur", m, x, y, sigma)
    assert succ.any()
    assert (ours[succ] - ref[succ]).abs().max() < 1e-5


# ------------------------------------------------------------------ the attack ABCs: one checked entry point each
def test_attack_classes_keep_their_final_entry_points_and_hyperparameters_are_arguments():
    with pytest.raises(TypeError, match="abstract"):
        GridAttack(1.0)
    for base, final in ((GridAttack, "apply"), (GridAttack, "attempt"), (IterativeAttack, "step"),
                        (AdaptiveAttack, "direction")):
        with pytest.raises(TypeError, match=f"final method.*{final}"):
            type("Sneaky", (base,), {final: lambda self, *a: None})
    # the defaults are the paper's settings; another argument is another schedule
    assert FGSM().spec == ATTACK_SPECS["fgsm"] and IGSM().spec == ATTACK_SPECS["igsm"]
    coarse = FGSM(grid_points=20, bisect_steps=2)
    assert coarse.spec.tolerance == pytest.approx(1.0 / 20 / 4) and "20 steps of 0.05" in coarse.spec.schedule
    assert GaussianNoise(repeats=2).repeats == 2 and IGSM(alpha=2 / 255).spec.max_budget == pytest.approx(256 / 255)
    m1, _ = load_pair("mnist")
    x, y = samples("mnist")
    by_name, by_instance = budget_search("fgsm", m1, x[:8], y[:8]), budget_search(FGSM(), m1, x[:8], y[:8])
    assert torch.equal(by_name.x_adv, by_instance.x_adv) and torch.equal(by_name.budget, by_instance.budget)
    fooled = by_name.fooled
    coarse_budget = budget_search(coarse, m1, x[:8], y[:8]).budget
    assert not torch.equal(coarse_budget[fooled], by_name.budget[fooled])  # the arguments reach the search
    assert ((coarse_budget - by_name.budget).abs()[fooled] <= 1.0 / 20 + 1e-6).all()


def test_attack_contract_is_checked_on_the_way_in_and_out():
    class Overshoot(FGSM):  # a perturbation that forgets to clip
        def perturb(self, x, ctx, budget, draw=0):
            return x + budget.view(-1, 1, 1, 1)

    m1, _ = load_pair("mnist")
    x, y = samples("mnist")
    with pytest.raises(ValueError, match=r"values must lie in \[0, 1\]"):
        budget_search(Overshoot(), m1, x[:4], y[:4])
    with pytest.raises(ValueError, match=r"values must lie in \[0, 1\]"):
        budget_search("fgsm", m1, x[:4] * 2, y[:4])
    with pytest.raises(ValueError, match="labels must be int64"):
        budget_search("fgsm", m1, x[:4], y[:3])
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        budget_search("fgsm", m1, x[:4].flatten(1), y[:4])
    with pytest.raises(ValueError, match="budgets must be"):
        FGSM().apply(x[:4], {"sign": torch.zeros_like(x[:4])}, torch.full((3,), 0.1))
