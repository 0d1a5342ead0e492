"""Feature matching: drive the detector's input features to those of a clean image of another class.

Tramèr, Carlini, Brendel & Madry, "On Adaptive Attacks to Adversarial Example Defenses", NeurIPS 2020
(Sec. 5: match the defended model's internal features of a benign input of the target class).  Here the
features are the watched models' softmax vectors (20 for a pair, 40 for the ``pool`` detector); the guide is,
among the clean images of the batch of the joint target class that every watched model gets right, the one the
detector finds most clean (lowest score).  The loss is the squared L2 distance of the features to the guide's; a
batch without such an image of the target class falls back to a one-hot agreement on it.
"""
from __future__ import annotations

import torch

from core.attacks.adaptive.base import AdaptiveAttack, AdaptiveSpec, grad_of, joint_target, watched_logits


class FeatureMatching(AdaptiveAttack):
    r"""Feature matching: the detector's input features driven to those of a clean image of the target class.

    Paper: Tramèr, Carlini, Brendel & Madry, "On Adaptive Attacks to Adversarial Example Defenses", NeurIPS 2020,
    https://arxiv.org/abs/2002.08347 (Sec. 5).  Loss: −‖features(x) − features(guide)‖² (module docstring).

    Distance measure: L∞ (the budget ε; ``steps`` PGD steps of ε/10 within the ε-ball).

    Arguments: none (the PGD settings are ``budget_search``'s: ``grid``, ``steps``, ``seed``).

    Shape:
        - images: :math:`(N, C, H, W)`, float32 in [0, 1]; labels: :math:`(N)`, int64.
        - output of ``budget_search``: a ``BudgetCurve``: ``budget`` :math:`(N)` (inf where no budget
          succeeded), ``outcome`` :math:`(G, N)` per budget of the grid, ``x_adv`` :math:`(N, C, H, W)` in [0, 1].

    Examples::
        >>> attack = FeatureMatching()
        >>> curve = budget_search(attack, judge, images, labels, grid=(0.1, 0.2, 0.3), steps=100, seed=0)
    """

    spec = AdaptiveSpec("feature_matching", "Feature matching",
                        "−‖features(x) − features(clean guide of class t)‖²", "Tramèr et al. 2020")

    def prepare(self, judge, x, y, seed):
        with torch.no_grad():
            outs = judge.module.outputs(x)
        logits, s = watched_logits(outs), outs[2]
        t = joint_target(logits, y)
        f = torch.cat([torch.softmax(v, 1) for v in logits], 1)
        good = torch.stack([v.argmax(1) == y for v in logits]).all(0)
        guide = torch.cat([torch.nn.functional.one_hot(t, 10).float()] * len(logits), 1)
        for c in t.unique().tolist():
            pool = (good & (y == c)).nonzero().squeeze(1)
            if len(pool):
                guide[t == c] = f[pool[s[pool].argmin()]]
        return {"target": t, "guide": guide}

    def ascent(self, x, outs, y, state, fooled, flagged) -> torch.Tensor:
        f = torch.cat([torch.softmax(v, 1) for v in watched_logits(outs)], 1)
        return grad_of(-((f - state["guide"]) ** 2).sum(1), x)
