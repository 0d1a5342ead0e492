"""The detector variants: which classifiers each watches, its plain name and what it is, in a line.

``paper`` is the paper's detector over the shipped pair; the hardened ones watch adversarially trained pairs
(built by ``python -m core harden``, see docs/security.md).  The first pair's model 1 gives the user's answer.
"""
from __future__ import annotations

from torch import nn

from core.models import load_pair, load_surrogate_pair

VARIANTS: tuple[str, ...] = ("paper", "robust", "robust_pgd")
# the roles (core.models.ROLE_FLAGS) of the pairs each watches, in feature order
VARIANT_ROLES: dict[str, tuple[str, ...]] = {"paper": ("model",), "robust": ("robust",), "robust_pgd": ("robust-pgd",)}
VARIANT_PAIRS = {v: roles[0] for v, roles in VARIANT_ROLES.items()}  # the role of the pair whose bars the app shows
VARIANT_LABELS = {  # the plain name the app shows
    "paper": "Paper's detector",
    "robust": "Hardened: adversarially trained pair",
    "robust_pgd": "Hardened: PGD-trained pair (MNIST)",
}
VARIANT_DESCRIPTIONS = {  # what each is, in a line (the app's variant switches)
    "paper": "the paper's detector over the shipped pair of classifiers",
    "robust": "the same detector over a pair trained on adversarial examples: an attacker needs larger changes",
    "robust_pgd": "the same detector over a pair trained on 7-step PGD examples, the strongest hardening on MNIST",
}


def check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"unknown detector variant {variant!r}: choose one of {', '.join(VARIANTS)}")
    return variant


def load_watched(dataset: str, variant: str = "paper", device: str = "cpu") -> tuple[nn.Module, ...]:
    """Every classifier the ``variant`` detector watches: the pairs of its roles, in order (model 1 first)."""

    return tuple(m for role in VARIANT_ROLES[check_variant(variant)] for m in load_pair(dataset, role, device))


def load_surrogates(dataset: str, variant: str = "paper", device: str = "cpu") -> tuple[nn.Module, ...]:
    """A transfer attacker's own models against the ``variant`` detector: a surrogate of each watched model."""

    return tuple(m for role in VARIANT_ROLES[check_variant(variant)]
                 for m in load_surrogate_pair(dataset, role, device))
