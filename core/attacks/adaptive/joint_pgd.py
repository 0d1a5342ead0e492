"""Joint PGD: drive both watched models to the same wrong class, so that they agree and the mismatch vanishes.

Carlini & Wagner, "Adversarial Examples Are Not Easily Detected", AISec 2017 (attack the combined system);
the target class is the wrong class both models find most likely at the clean image; the loss is the sum of
both models' targeted cross-entropies, descended with L∞ PGD.
"""
from __future__ import annotations

import torch

from .base import AdaptiveAttack, AdaptiveSpec, ce, grad_of, joint_target


class JointPGD(AdaptiveAttack):
    spec = AdaptiveSpec("joint_pgd", "Joint PGD", "−CE(model 1, t) − CE(model 2, t) for one wrong class t",
                        "Carlini & Wagner 2017")

    def prepare(self, judge, x, y, seed):
        with torch.no_grad():
            l1, l2, _ = judge.module.outputs(x)
        return {"target": joint_target(l1, l2, y)}

    def direction(self, x, outs, y, state, fooled, flagged) -> torch.Tensor:
        t = state["target"]
        return grad_of(-(ce(outs[0], t) + ce(outs[1], t)), x)
