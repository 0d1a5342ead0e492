"""What the noise attacks' budgets measure: the L2 norm of the added Gaussian noise, the fraction of pixels that
salt and pepper hits; checked on the perturbations themselves and through the budget search."""
from __future__ import annotations

import torch
from torch import nn

from core.attacks import budget_search, get_attack


class Threshold(nn.Module):
    """Class 1 when ``measure(x)`` exceeds ``level``, else class 0 (a model whose mind changes at a known budget)."""

    def __init__(self, measure, level: float) -> None:
        super().__init__()
        self.measure, self.level = measure, level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.measure(x)
        return torch.stack([torch.zeros_like(m), m - self.level], 1)


GREY = torch.full((4, 3, 32, 32), 0.5)  # far enough from 0 and 1 that small perturbations are never clipped


def l2_from_grey(x: torch.Tensor) -> torch.Tensor:
    return (x - 0.5).flatten(1).norm(dim=1)


def share_hit(x: torch.Tensor) -> torch.Tensor:
    """Fraction of pixels (all channels together) moved off grey."""
    return ((x - 0.5).abs().amax(1) > 0).flatten(1).float().mean(1)


def test_gaussian_noise_budget_is_the_l2_norm_of_the_noise() -> None:
    att = get_attack("gaussian_noise")
    ctx = att.prepare(None, GREY, torch.zeros(4, dtype=torch.int64), seed=3)
    for eps in (0.5, 2.0):
        for draw in range(att.repeats):
            out = att.apply(GREY, ctx, torch.full((4,), eps), draw)
            torch.testing.assert_close(l2_from_grey(out), torch.full((4,), eps), rtol=1e-5, atol=1e-5)


def test_salt_and_pepper_budget_is_the_fraction_of_pixels_hit() -> None:
    att = get_attack("salt_and_pepper")
    x = torch.full((2, 3, 200, 200), 0.5)
    ctx = att.prepare(None, x, torch.zeros(2, dtype=torch.int64), seed=1)
    before = torch.zeros(2, 200, 200, dtype=torch.bool)
    for p in (0.05, 0.3, 0.6):
        out = att.apply(x, ctx, torch.full((2,), p))
        hit = (out - 0.5).abs().amax(1) > 0
        assert ((out == 0) | (out == 1) | (out == 0.5)).all()  # white, black or untouched
        assert (out.amin(1) == out.amax(1)).all()  # a pixel's channels move together
        assert torch.allclose(hit.flatten(1).float().mean(1), torch.full((2,), p), atol=0.01)  # 40,000 pixels
        assert (hit | ~before).all()  # a larger p only adds pixels
        before = hit


def test_the_search_finds_the_budget_where_the_model_changes_its_mind() -> None:
    y = torch.zeros(4, dtype=torch.int64)
    r = budget_search("gaussian_noise", Threshold(l2_from_grey, 3.0), GREY, y, seed=0)
    assert r.fooled.all()
    assert ((r.budget_lo < 3.0) & (r.budget >= 3.0)).all() and (r.budget - r.budget_lo <= 40.0 / 50 / 2**5 + 1e-6).all()
    torch.testing.assert_close(l2_from_grey(r.x_adv), r.budget, rtol=1e-5, atol=1e-5)
    x = torch.full((4, 3, 64, 64), 0.5)
    r = budget_search("salt_and_pepper", Threshold(share_hit, 0.25), x, y, seed=0)
    assert r.fooled.all()
    share = share_hit(r.x_adv)
    assert (share > 0.25).all() and torch.allclose(share, r.budget.float(), atol=0.03)  # 4,096 pixels
