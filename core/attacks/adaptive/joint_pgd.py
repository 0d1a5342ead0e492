"""Joint PGD: drive every watched model to the same wrong class, so that they agree and the mismatch vanishes.

Carlini & Wagner, "Adversarial Examples Are Not Easily Detected", AISec 2017 (attack the combined system);
the target class is the wrong class the models find most likely at the clean image; the loss is the sum of
their targeted cross-entropies (both models of a pair; all four of the ``pool`` detector), descended with L∞ PGD.
"""
from __future__ import annotations

import torch

from core.attacks.adaptive.base import AdaptiveAttack, AdaptiveSpec, ce, grad_of, joint_target, watched_logits


class JointPGD(AdaptiveAttack):
    spec = AdaptiveSpec("joint_pgd", "Joint PGD", "−Σ CE(model i, t) over the watched models, one wrong class t",
                        "Carlini & Wagner 2017")

    def prepare(self, judge, x, y, seed):
        with torch.no_grad():
            return {"target": joint_target(watched_logits(judge.module.outputs(x)), y)}

    def direction(self, x, outs, y, state, fooled, flagged) -> torch.Tensor:
        t = state["target"]
        return grad_of(-sum(ce(v, t) for v in watched_logits(outs)), x)
