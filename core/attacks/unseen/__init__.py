"""Attacks that no shipped detector trained on, for the held-out report (``python -m core heldout``).

``pgd_min`` (minimal-budget L∞ PGD), ``cw_l2`` (Carlini–Wagner L2) and ``square`` (the black-box Square attack),
each against either classifier.  ``unseen_attack(name, dataset)`` gives one with the report's settings.
"""
from __future__ import annotations

from core import UNSEEN_ATTACK_NAMES, UNSEEN_LABELS
from core.attacks.adaptive.grids import GRIDS, HEADLINE_EPS
from core.attacks.unseen.base import UnseenAttack, UnseenResult
from core.attacks.unseen.cw import CarliniWagnerL2
from core.attacks.unseen.pgd_min import MinimalPGD
from core.attacks.unseen.square import SquareLinf

UNSEEN_ATTACKS: tuple[str, ...] = UNSEEN_ATTACK_NAMES


def unseen_attack(name: str, dataset: str) -> UnseenAttack:
    """``name`` with the held-out report's settings for ``dataset`` (L∞ budgets on the security page's grid)."""
    if name == "pgd_min":
        return MinimalPGD(GRIDS[dataset])
    if name == "cw_l2":
        # MNIST's pixels sit at 0 or 1, where tanh is flat: Adam needs a larger step to move them in 100 steps
        return CarliniWagnerL2(lr=0.1 if dataset == "mnist" else 0.01)
    if name == "square":
        return SquareLinf(HEADLINE_EPS[dataset], queries=1000, p_init=0.3 if dataset == "mnist" else 0.05)
    raise ValueError(f"unknown attack {name!r}: choose one of {', '.join(UNSEEN_ATTACKS)}")


__all__ = ["CarliniWagnerL2", "MinimalPGD", "SquareLinf", "UNSEEN_ATTACKS", "UNSEEN_LABELS", "UnseenAttack",
           "UnseenResult", "unseen_attack"]
