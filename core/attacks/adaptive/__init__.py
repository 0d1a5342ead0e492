"""Detector-aware attacks: white-box attackers that know both models and the detector (one attack a file).

``ADAPTIVE_ATTACKS`` lists them by name; ``budget_search`` finds each image's smallest undetected L∞ budget.
``no_detector`` (plain PGD on model 1) is the reference; ``transfer`` needs a surrogate pair.
"""
from __future__ import annotations

from core.attacks.adaptive.base import (
    CAUGHT,
    EVADED,
    RIGHT,
    AdaptiveAttack,
    AdaptiveSpec,
    BudgetCurve,
    Judge,
    budget_search,
    pgd,
    search_steps,
)
from core.attacks.adaptive.feature_matching import FeatureMatching
from core.attacks.adaptive.joint_pgd import JointPGD
from core.attacks.adaptive.no_detector import NoDetectorPGD
from core.attacks.adaptive.orthogonal_pgd import OrthogonalPGD
from core.attacks.adaptive.selective_pgd import SelectivePGD
from core.attacks.adaptive.transfer import TransferPGD

_WHITE_BOX = (NoDetectorPGD, JointPGD, FeatureMatching, SelectivePGD, OrthogonalPGD)
ADAPTIVE_ATTACKS: tuple[str, ...] = tuple(c.spec.name for c in _WHITE_BOX) + (TransferPGD.spec.name,)
ADAPTIVE_SPECS: dict[str, AdaptiveSpec] = {c.spec.name: c.spec for c in (*_WHITE_BOX, TransferPGD)}


def get_adaptive(name: str, surrogate=None) -> AdaptiveAttack:
    """A fresh adaptive attack; ``transfer`` needs ``surrogate`` (the attacker's own pair of models)."""
    for c in _WHITE_BOX:
        if c.spec.name == name:
            return c()
    if name == TransferPGD.spec.name:
        if surrogate is None:
            raise ValueError("the transfer attack needs a surrogate pair of models")
        return TransferPGD(surrogate)
    raise ValueError(f"unknown adaptive attack {name!r}: choose one of {', '.join(ADAPTIVE_ATTACKS)}")


__all__ = ["ADAPTIVE_ATTACKS", "ADAPTIVE_SPECS", "CAUGHT", "EVADED", "RIGHT", "AdaptiveAttack", "AdaptiveSpec",
           "BudgetCurve", "Judge", "budget_search", "get_adaptive", "pgd", "search_steps"]
