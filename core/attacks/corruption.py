"""Quality-degradation attacks: Gaussian blur, additive Gaussian noise, salt-and-pepper.

Foolbox's versions draw fresh randomness at every try (noise, s&p) or run their own
line search (blur).  For a budget search with a schedule we need the perturbation to be
a deterministic function of the budget, so each image gets one seeded noise direction
(``torch.Generator`` seeded from ``seed``) that the budget only scales; the formulas are
foolbox's with that randomness fixed.
"""
from __future__ import annotations

import torch
from torch import nn

from core import ATTACK_LABELS
from core.attacks.base import AttackSpec, GridAttack, State


def _reflect(idx: torch.Tensor, n: int) -> torch.Tensor:
    """scipy.ndimage 'reflect' (half-sample symmetric) boundary, any number of reflections."""
    m = idx.remainder(2 * n)
    return torch.where(m >= n, 2 * n - 1 - m, m)


def blur_matrices(sigma: torch.Tensor, n: int, truncate: float = 4.0) -> torch.Tensor:
    """[N, n, n] matrices M with M @ v = scipy.ndimage.gaussian_filter1d(v, σ_i, mode='reflect').

    σ = 0 gives the identity (scipy skips the axis).  Radius per image is int(4σ + 0.5)
    as in scipy; weights beyond an image's own radius are zero.
    """
    sigma = sigma.double()
    radius = (truncate * sigma + 0.5).floor()
    r_max = int(radius.max().item()) if len(sigma) else 0
    offs = torch.arange(-r_max, r_max + 1, dtype=torch.float64)
    s = sigma.clamp_min(1e-12).view(-1, 1)
    w = torch.exp(-0.5 * (offs / s) ** 2) * (offs.abs() <= radius.view(-1, 1))
    w = w / w.sum(1, keepdim=True)
    w = torch.where((sigma > 0).view(-1, 1), w, (offs == 0).double().expand_as(w))
    cols = _reflect(torch.arange(n).view(-1, 1) + offs.long().view(1, -1), n)  # [n, 2r+1]
    m = torch.zeros(len(sigma), n, n, dtype=torch.float64)
    m.scatter_add_(2, cols.expand(len(sigma), n, -1), w.view(-1, 1, w.shape[1]).expand(-1, n, -1))
    return m.float()


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur each image of ``x`` [N,C,H,W] over its two spatial axes with its own σ (pixels)."""
    mh = blur_matrices(sigma, x.shape[2]).unsqueeze(1)
    mw = blur_matrices(sigma, x.shape[3]).unsqueeze(1)
    return (mh @ x @ mw.transpose(-1, -2)).clamp(0, 1)


class GaussianBlur(GridAttack):
    r"""Gaussian blur of standard deviation σ pixels, searched per image over σ.

    Paper: the quality-degradation attacks of Rauber, Brendel & Bethge, "Foolbox: A Python toolbox to benchmark
    the robustness of machine learning models", ICML 2017 Reliable ML workshop, https://arxiv.org/abs/1707.04131
    (``foolbox.attacks.GaussianBlurAttack``).  Its filter (scipy ``gaussian_filter``, reflect boundary, channels
    not mixed) computed in torch as H×H and W×W blur matrices, so each image gets its own σ; foolbox's own linear
    line search over σ is replaced by the shared grid + bisection.

    Distance measure: none in pixel space; the budget is σ (pixels).

    Arguments:
        max_budget (float): largest σ tried, in pixels. (Default: 10.0)
        grid_points (int): σ on a linear grid of this many points up to ``max_budget``. (Default: 50)
        bisect_steps (int): bisection steps after the first σ that fools. (Default: 5)
    Shape:
        - images: :math:`(N, C, H, W)`, float32 in [0, 1]; labels: :math:`(N)`, int64.
        - output of ``budget_search``: ``x_adv`` :math:`(N, C, H, W)` in [0, 1], ``success`` and ``budget``
          :math:`(N)`.

    Examples::
        >>> attack = GaussianBlur(max_budget=10.0, grid_points=50, bisect_steps=5)
        >>> result = budget_search(attack, model, images, labels, seed=0)
    """

    name = "gaussian_blur"

    def __init__(self, max_budget: float = 10.0, grid_points: int = 50, bisect_steps: int = 5) -> None:
        super().__init__(max_budget, grid_points, bisect_steps)

    def make_spec(self) -> AttackSpec:
        return AttackSpec(
            name=self.name, label=ATTACK_LABELS[self.name], budget_name="σ (pixels)", kind="grid",
            foolbox="GaussianBlurAttack", schedule=self.grid_schedule("σ", " pixels"), max_budget=self.max_budget,
            tolerance=self.grid_tolerance(),
        )

    def perturb(self, x: torch.Tensor, ctx: State, budget: torch.Tensor, draw: int = 0) -> torch.Tensor:
        return gaussian_blur(x, budget)


class GaussianNoise(GridAttack):
    r"""Additive Gaussian noise of L2 norm ε, searched per image over ε.

    Paper: Rauber, Brendel & Bethge, "Foolbox: A Python toolbox to benchmark the robustness of machine learning
    models", ICML 2017 Reliable ML workshop, https://arxiv.org/abs/1707.04131
    (``foolbox.attacks.L2AdditiveGaussianNoiseAttack``) with its noise fixed: x + ε·d/‖d‖₂ clipped to [0, 1],
    d ~ N(0, I), ``repeats`` directions per image from a generator seeded by ``seed``.

    Distance measure: L2 (the norm ε of the noise before clipping; per-pixel RMS = ε/√D).

    Arguments:
        max_budget (float): largest ε tried. (Default: 40.0)
        grid_points (int): ε on a linear grid of this many points up to ``max_budget``. (Default: 50)
        bisect_steps (int): bisection steps after the first ε that fools. (Default: 5)
        repeats (int): seeded noise directions tried at each budget; the first that fools is kept. (Default: 8)
    Shape:
        - images: :math:`(N, C, H, W)`, float32 in [0, 1]; labels: :math:`(N)`, int64.
        - output of ``budget_search``: ``x_adv`` :math:`(N, C, H, W)` in [0, 1], ``success`` and ``budget``
          :math:`(N)`.

    Examples::
        >>> attack = GaussianNoise(max_budget=40.0, grid_points=50, bisect_steps=5, repeats=8)
        >>> result = budget_search(attack, model, images, labels, seed=0)
    """

    name = "gaussian_noise"

    def __init__(self, max_budget: float = 40.0, grid_points: int = 50, bisect_steps: int = 5,
                 repeats: int = 8) -> None:
        super().__init__(max_budget, grid_points, bisect_steps, repeats)

    def make_spec(self) -> AttackSpec:
        return AttackSpec(
            name=self.name, label=ATTACK_LABELS[self.name], budget_name="L2 ε (before clipping)", kind="grid",
            foolbox="L2AdditiveGaussianNoiseAttack", schedule=self.grid_schedule("ε"), max_budget=self.max_budget,
            tolerance=self.grid_tolerance(),
        )

    def prepare(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int) -> State:
        g = torch.Generator().manual_seed(int(seed))
        d = torch.randn((x.shape[0], self.repeats, *x.shape[1:]), generator=g)
        return {"dir": d / d.flatten(2).norm(dim=2).clamp_min(1e-12).view(*d.shape[:2], 1, 1, 1)}

    def perturb(self, x: torch.Tensor, ctx: State, budget: torch.Tensor, draw: int = 0) -> torch.Tensor:
        return (x + budget.view(-1, 1, 1, 1) * ctx["dir"][:, draw]).clamp(0, 1)


class SaltAndPepper(GridAttack):
    r"""Salt-and-pepper noise hitting a fraction p of the pixels, searched per image over p.

    Paper: Rauber, Brendel & Bethge, "Foolbox: A Python toolbox to benchmark the robustness of machine learning
    models", ICML 2017 Reliable ML workshop, https://arxiv.org/abs/1707.04131
    (``foolbox.attacks.SaltAndPepperNoiseAttack``'s rule): each pixel (all channels together) turns white where
    u ≥ 1 − p/2 and black where u < p/2, with u ~ U[0,1) [N,1,H,W] drawn once per image (seeded), so a larger p
    only adds pixels; ``repeats`` draws of u per image.

    Distance measure: L0 over pixels (the budget p is the expected fraction of pixels hit).

    Arguments:
        max_budget (float): largest p tried. (Default: 1.0)
        grid_points (int): p on a linear grid of this many points up to ``max_budget``. (Default: 50)
        bisect_steps (int): bisection steps after the first p that fools. (Default: 5)
        repeats (int): seeded draws of u tried at each budget; the first that fools is kept. (Default: 8)
    Shape:
        - images: :math:`(N, C, H, W)`, float32 in [0, 1]; labels: :math:`(N)`, int64.
        - output of ``budget_search``: ``x_adv`` :math:`(N, C, H, W)` in [0, 1], ``success`` and ``budget``
          :math:`(N)`.

    Examples::
        >>> attack = SaltAndPepper(max_budget=1.0, grid_points=50, bisect_steps=5, repeats=8)
        >>> result = budget_search(attack, model, images, labels, seed=0)
    """

    name = "salt_and_pepper"

    def __init__(self, max_budget: float = 1.0, grid_points: int = 50, bisect_steps: int = 5,
                 repeats: int = 8) -> None:
        super().__init__(max_budget, grid_points, bisect_steps, repeats)

    def make_spec(self) -> AttackSpec:
        return AttackSpec(
            name=self.name, label=ATTACK_LABELS[self.name], budget_name="p (fraction of pixels)", kind="grid",
            foolbox="SaltAndPepperNoiseAttack", schedule=self.grid_schedule("p"), max_budget=self.max_budget,
            tolerance=self.grid_tolerance(),
        )

    def prepare(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int) -> State:
        g = torch.Generator().manual_seed(int(seed))
        return {"u": torch.rand((x.shape[0], self.repeats, 1, *x.shape[2:]), generator=g)}

    def perturb(self, x: torch.Tensor, ctx: State, budget: torch.Tensor, draw: int = 0) -> torch.Tensor:
        p = budget.view(-1, 1, 1, 1)
        u = ctx["u"][:, draw]
        salt = (u >= 1 - p / 2).to(x.dtype)
        pepper = (u < p / 2).to(x.dtype)
        return (x + salt - pepper).clamp(0, 1)

