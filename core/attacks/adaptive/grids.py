"""The L∞ budget grids the detector-aware attackers are measured on, per dataset (CIFAR-10 in steps of 1/255)."""
from __future__ import annotations

GRIDS = {"mnist": tuple(round(0.02 * k, 2) for k in range(1, 16)),  # 0.02 … 0.30
         "cifar10": tuple(k / 255 for k in range(1, 17))}  # 1/255 … 16/255
# a hardened variant may hold beyond the largest budget above: its grid goes on, same step, to twice as far
EXTENDED_GRIDS = {"mnist": tuple(round(0.02 * k, 2) for k in range(1, 31)),  # 0.02 … 0.60
                  "cifar10": tuple(k / 255 for k in range(1, 33))}  # 1/255 … 32/255
# the budget each headline figure is given at
HEADLINE_EPS = {"mnist": 0.3, "cifar10": 8 / 255}
