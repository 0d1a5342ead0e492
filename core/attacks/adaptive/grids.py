"""The L∞ budget grids the detector-aware attackers are measured on, per dataset (CIFAR-10 in steps of 1/255); a
lab's come from its ``lab.json`` (steps of one pixel level for 8-bit images, ``core.io.labs.budgets_for``)."""
from __future__ import annotations

from core.io.labs import PerDataset

GRIDS = PerDataset({"mnist": tuple(round(0.02 * k, 2) for k in range(1, 16)),  # 0.02 … 0.30
                    "cifar10": tuple(k / 255 for k in range(1, 17))},  # 1/255 … 16/255
                   lambda lab: tuple(lab.budgets["grid"]))
# a hardened variant may hold beyond the largest budget above: its grid goes on, same step, to twice as far
EXTENDED_GRIDS = PerDataset({"mnist": tuple(round(0.02 * k, 2) for k in range(1, 31)),  # 0.02 … 0.60
                             "cifar10": tuple(k / 255 for k in range(1, 33))},  # 1/255 … 32/255
                            lambda lab: tuple(lab.budgets["extended"]))
# the budget each headline figure is given at
HEADLINE_EPS = PerDataset({"mnist": 0.3, "cifar10": 8 / 255}, lambda lab: float(lab.budgets["headline"]))
