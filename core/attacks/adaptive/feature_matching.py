"""Feature matching: drive the detector's 20 input features to those of a clean image of another class.

Tramèr, Carlini, Brendel & Madry, "On Adaptive Attacks to Adversarial Example Defenses", NeurIPS 2020
(Sec. 5: match the defended model's internal features of a benign input of the target class).  Here the
features are both softmax vectors; the guide is, among the clean images of the batch of the joint target
class that both models get right, the one the detector finds most clean (lowest score).  The loss is the
squared L2 distance of the 20 features to the guide's; a batch without such an image of the target class
falls back to a one-hot agreement on it.
"""
from __future__ import annotations

import torch

from .base import AdaptiveAttack, AdaptiveSpec, grad_of, joint_target


class FeatureMatching(AdaptiveAttack):
    spec = AdaptiveSpec("feature_matching", "Feature matching",
                        "−‖features(x) − features(clean guide of class t)‖²", "Tramèr et al. 2020")

    def prepare(self, judge, x, y, seed):
        with torch.no_grad():
            l1, l2, s = judge.module.outputs(x)
        p1, p2 = torch.softmax(l1, 1), torch.softmax(l2, 1)
        t = joint_target(l1, l2, y)
        f = torch.cat([p1, p2], 1)
        good = (p1.argmax(1) == y) & (p2.argmax(1) == y)
        guide = torch.cat([torch.nn.functional.one_hot(t, 10).float()] * 2, 1)
        for c in t.unique().tolist():
            pool = (good & (y == c)).nonzero().squeeze(1)
            if len(pool):
                guide[t == c] = f[pool[s[pool].argmin()]]
        return {"target": t, "guide": guide}

    def direction(self, x, outs, y, state, fooled, flagged) -> torch.Tensor:
        f = torch.cat([torch.softmax(outs[0], 1), torch.softmax(outs[1], 1)], 1)
        return grad_of(-((f - state["guide"]) ** 2).sum(1), x)
