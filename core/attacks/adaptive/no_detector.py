"""Plain PGD on model 1, blind to the detector: the reference every adaptive attack is measured against.

Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018: L∞ PGD on the
cross-entropy of model 1.  It stops as soon as model 1 errs, whether or not the detector flags the image.
"""
from __future__ import annotations

import torch

from core.attacks.adaptive.base import AdaptiveAttack, AdaptiveSpec, ce, grad_of


class NoDetectorPGD(AdaptiveAttack):
    spec = AdaptiveSpec("no_detector", "PGD, no detector", "model 1's cross-entropy, stop when model 1 errs",
                        "Madry et al. 2018", adaptive=False)
    stop_on_fooled = True

    def direction(self, x, outs, y, state, fooled, flagged) -> torch.Tensor:
        return grad_of(ce(outs[0], y), x)
