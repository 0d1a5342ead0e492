"""DeepFool (Moosavi-Dezfooli et al. 2016), L2 version, one-vs-all over all other classes (paper eq. 6).

Mirrors ``foolbox.attacks.L2DeepFoolAttack(steps=50, candidates=10, overshoot=0.02,
loss="logits")``: candidates are the classes sorted by the clean logits; each step
moves toward the nearest linearised boundary, and the iterate is
``clip(x0 + 1.02·Σ steps)``.  The L2 version is chosen because its distortion is spread
thinly (the paper's MNIST DeepFool MSE, 6.2e-3, is an L2 of ≈2.2, not an L∞ step on
every pixel).  The budget is the iteration count: DeepFool sizes its own steps, so
"more budget" means "one more linearisation".
"""
from __future__ import annotations

import torch
from torch import nn

from core import ATTACK_LABELS
from core.attacks.base import AttackSpec, IterativeAttack, State


class DeepFool(IterativeAttack):
    r"""DeepFool, L2 version, one-vs-all over the other classes, with a per-step length cap.

    Paper: Moosavi-Dezfooli, Fawzi & Frossard, "DeepFool: a simple and accurate method to fool deep neural
    networks", CVPR 2016, https://arxiv.org/abs/1511.04599.  Each iteration moves toward the nearest
    linearised decision boundary among the ``candidates`` classes (sorted by the clean logits); the iterate is
    clip(x0 + (1 + overshoot)·Σ steps, 0, 1).  Where the gradient norm vanishes a step's length is capped at
    the diagonal of the [0, 1] cube.  Mirrors ``foolbox.attacks.L2DeepFoolAttack(steps=50, candidates=10,
    overshoot=0.02, loss="logits")``.

    Distance measure: L2 (the perturbation); the budget is the iteration count.

    Arguments:
        max_steps (int): iterations tried before an image counts as not fooled. (Default: 50)
        overshoot (float): factor 1 + overshoot on the summed steps, so the iterate crosses. (Default: 0.02)

    Shape:
        - images: :math:`(N, C, H, W)`, float32 in [0, 1]; labels: :math:`(N)`, int64.
        - output of ``budget_search``: ``x_adv`` :math:`(N, C, H, W)` in [0, 1], ``success`` and ``budget``
          :math:`(N)`.

    Examples::
        >>> attack = DeepFool(max_steps=50, overshoot=0.02)
        >>> result = budget_search(attack, model, images, labels, seed=0)
    """

    name = "deepfool"

    def __init__(self, max_steps: int = 50, overshoot: float = 0.02) -> None:
        self.overshoot = overshoot
        super().__init__(max_steps)

    def make_spec(self) -> AttackSpec:
        return AttackSpec(
            name=self.name, label=ATTACK_LABELS[self.name], budget_name="iterations", kind="iterative",
            foolbox="L2DeepFoolAttack",
            schedule=f"one DeepFool iteration at a time (overshoot {self.overshoot:g}), up to {self.max_steps}",
            max_budget=float(self.max_steps), tolerance=1.0,
        )

    def init(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int) -> State:
        with torch.no_grad():
            order = model(x).argsort(dim=1, descending=True)
        return {"x0": x.clone(), "x": x.clone(), "y": y.clone(), "order": order, "p": torch.zeros_like(x)}

    def advance(self, model: nn.Module, state: State) -> tuple[torch.Tensor, State]:
        x, order = state["x"], state["order"]
        n, k = len(x), order.shape[1]
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            logits = model(xg)
            picked = logits.gather(1, order)  # [N, K]: column 0 is the clean prediction
            grads = torch.stack(
                [torch.autograd.grad(picked[:, j].sum(), xg, retain_graph=j < k - 1)[0] for j in range(k)], 1
            )
        logits, picked = logits.detach(), picked.detach()
        losses = picked[:, 1:] - picked[:, :1]  # [N, K-1], negative while not crossed
        w = (grads[:, 1:] - grads[:, :1]).flatten(2)  # [N, K-1, D]
        norms = w.norm(dim=2)
        dist = losses.abs() / (norms + 1e-8)
        best = dist.argmin(1)
        rows = torch.arange(n)
        d, wn, wb = dist[rows, best] + 1e-4, norms[rows, best], w[rows, best]  # foolbox's +1e-4 makes it cross
        fooled = logits.argmax(1) != state["y"]
        d = torch.where(fooled, torch.zeros_like(d), d)  # fooled rows stay where they are
        step = (d / (wn + 1e-8)).unsqueeze(1) * wb  # [N, D]
        # Where ‖w‖ vanishes the step explodes: cap its length at the diagonal of the [0,1] cube.
        cap = float(step.shape[1]) ** 0.5
        step_norm = step.norm(dim=1, keepdim=True)
        step = torch.where(step_norm > cap, step * (cap / step_norm.clamp_min(1e-12)), step)
        step = torch.nan_to_num(step, nan=0.0, posinf=0.0, neginf=0.0)
        p = state["p"] + step.view_as(x)
        x_new = (state["x0"] + (1.0 + self.overshoot) * p).clamp(0, 1)
        return logits, {**state, "p": p, "x": x_new}

    def budget_of(self, k):
        return float(k) if isinstance(k, int) else k.float()
