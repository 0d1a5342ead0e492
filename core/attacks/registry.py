"""The seven attacks by name, in the contract's order."""
from __future__ import annotations

from core import ATTACK_NAMES
from core.attacks.base import Attack, AttackSpec, GridAttack, IterativeAttack
from core.attacks.corruption import GaussianBlur, GaussianNoise, SaltAndPepper
from core.attacks.deepfool import DeepFool
from core.attacks.gradient import FGSM, IGSM
from core.attacks.jsma import JSMA

_CLASSES = {c.name: c for c in (FGSM, IGSM, JSMA, DeepFool, GaussianBlur, GaussianNoise, SaltAndPepper)}
ATTACKS: tuple[str, ...] = tuple(ATTACK_NAMES)
ATTACK_SPECS: dict[str, AttackSpec] = {name: _CLASSES[name]().spec for name in ATTACKS}  # the default settings


def get_attack(name: str | Attack) -> Attack:
    """A fresh instance of the attack called ``name`` with the paper's settings; an attack instance as it is."""
    if isinstance(name, (GridAttack, IterativeAttack)):
        return name
    if name not in _CLASSES:
        raise ValueError(f"unknown attack {name!r}: choose one of {', '.join(ATTACKS)}")
    return _CLASSES[name]()
