"""Numbers derived from result arrays: per-budget outcomes, ε50, ROC, and how well a 2-D map separates attacks."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from core.attacks.adaptive import CAUGHT, EVADED, RIGHT


def outcomes_from_linf(linf: np.ndarray, fooled: np.ndarray, flagged: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """[G, N] outcome of a fixed adversarial image per budget: counts from the budget that covers its L∞ size."""
    covered = fooled[None, :] & (linf[None, :] <= grid[:, None] + 1e-9)
    return np.where(covered, np.where(flagged[None, :], CAUGHT, EVADED), RIGHT)


def eps50(budget: np.ndarray) -> float | None:
    """Median smallest successful budget (``None`` when fewer than half the images ever succeed)."""
    m = float(np.median(np.where(np.isfinite(budget), budget, np.inf)))
    return m if np.isfinite(m) else None


def roc(clean: np.ndarray, attacked: np.ndarray, points: int = 101) -> dict[str, Any]:
    if len(attacked) == 0:
        return {"fpr": [], "tpr": [], "auc": None}
    yy = np.r_[np.zeros(len(clean)), np.ones(len(attacked))]
    s = np.r_[clean, attacked]
    fpr, tpr, _ = roc_curve(yy, s)
    grid = np.linspace(0, 1, points)
    return {"fpr": grid.round(4).tolist(), "tpr": np.interp(grid, fpr, tpr).round(4).tolist(),
            "auc": float(roc_auc_score(yy, s))}
