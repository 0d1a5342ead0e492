"""Numbers derived from result arrays: per-budget outcomes, ε50, ROC, and how well a 2-D map separates attacks."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.attacks.adaptive import CAUGHT, EVADED, RIGHT
from core.detector.thresholds import threshold_at


def outcomes_from_linf(linf: np.ndarray, fooled: np.ndarray, flagged: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """[G, N] outcome of a fixed adversarial image per budget: counts from the budget that covers its L∞ size."""
    covered = fooled[None, :] & (linf[None, :] <= grid[:, None] + 1e-9)
    return np.where(covered, np.where(flagged[None, :], CAUGHT, EVADED), RIGHT)


def eps50(budget: np.ndarray) -> float | None:
    """Median smallest successful budget (``None`` when fewer than half the images ever succeed)."""
    m = float(np.median(np.where(np.isfinite(budget), budget, np.inf)))
    return m if np.isfinite(m) else None


def tpr_at_fpr(clean: np.ndarray, attacked: np.ndarray, fpr: float) -> float:
    """Fraction of ``attacked`` scores above the threshold that flags ``fpr`` of the ``clean`` ones."""
    if not len(attacked):
        return float("nan")
    return float((np.asarray(attacked) > threshold_at(clean, fpr)).mean())


def roc(clean: np.ndarray, attacked: np.ndarray, points: int = 101) -> dict[str, Any]:
    if len(attacked) == 0:
        return {"fpr": [], "tpr": [], "auc": None}
    yy = np.r_[np.zeros(len(clean)), np.ones(len(attacked))]
    s = np.r_[clean, attacked]
    from sklearn.metrics import roc_auc_score, roc_curve  # noqa: PLC0415  (off the dashboard's start: ~1 s)

    fpr, tpr, _ = roc_curve(yy, s)
    grid = np.linspace(0, 1, points)
    return {"fpr": grid.round(4).tolist(), "tpr": np.interp(grid, fpr, tpr).round(4).tolist(),
            "auc": float(roc_auc_score(yy, s))}


def separability(path: str | Path, k: int = 10, folds: int = 3, seed: int = 0) -> dict[str, float]:
    """How well each 2-D map of an ``embeddings/<attack>.npz`` separates attacks from clean images.

    Per map (e.g. ``tsne_pixels``): the ``folds``-fold CV accuracy of a ``k``-nearest-neighbour
    classifier of ``label`` on the 2-D coordinates (0.5 = mixed, 1.0 = apart; the paper's Figure 4 in a number).
    """

    with np.load(path, allow_pickle=False) as z:
        label = z["label"]
        maps = {name: z[name] for name in z.files if name.endswith(("_pixels", "_features")) and z[name].ndim == 2}
    from sklearn.model_selection import StratifiedKFold, cross_val_score  # noqa: PLC0415  (off the app's start)
    from sklearn.neighbors import KNeighborsClassifier  # noqa: PLC0415

    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return {name: float(cross_val_score(KNeighborsClassifier(k), xy, label, cv=cv).mean()) for name, xy in maps.items()}
