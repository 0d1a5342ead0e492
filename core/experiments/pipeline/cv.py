"""Stage ``cv``: RBF-SVM with (C, gamma) by inner CV, scored by stratified k-fold CV (Table III)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.svm import SVC

from core.experiments.pipeline.config import PipelineConfig, stamp, write_result
from core.experiments.pipeline.detector_data import load_detector_data
from core.io.files import save_with


def subsample(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of a stratified random subsample of at most ``n`` rows."""
    if len(y) <= n:
        return np.arange(len(y))

    idx, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y, random_state=seed)
    return np.sort(idx)


def choose_params(cfg: PipelineConfig, f: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """(C, gamma) by ``inner_folds``-fold CV accuracy on a stratified subsample of ``inner_subsample`` rows."""
    idx = subsample(y, cfg.inner_subsample, cfg.seed)
    folds = max(2, min(cfg.inner_folds, int(np.bincount(y[idx], minlength=2).min())))
    grid = GridSearchCV(SVC(kernel="rbf"), {"C": list(cfg.grid_c), "gamma": list(cfg.grid_gamma)},
                        cv=StratifiedKFold(folds, shuffle=True, random_state=cfg.seed), scoring="accuracy", n_jobs=1)
    grid.fit(f[idx], y[idx])
    return {"C": float(grid.best_params_["C"]), "gamma": grid.best_params_["gamma"],
            "inner_cv_accuracy": float(grid.best_score_), "inner_rows": int(len(idx))}


def make_svc(params: dict[str, Any]) -> SVC:
    return SVC(kernel="rbf", C=params["C"], gamma=params["gamma"])


def scores(y: np.ndarray, decision: np.ndarray, pred: np.ndarray | None = None) -> dict[str, float]:
    """Accuracy, F1 and AUC (ranked on the decision value) plus the paper-style AUC of hard labels."""
    pred = decision > 0 if pred is None else pred
    both = len(np.unique(y)) == 2
    return {"accuracy": float(accuracy_score(y, pred)), "f1": float(f1_score(y, pred, zero_division=0)),
            "auc": float(roc_auc_score(y, decision)) if both else float("nan"),
            "auc_hard": float(roc_auc_score(y, pred.astype(float))) if both else float("nan"),
            "detection_rate": float(pred[y == 1].mean()) if (y == 1).any() else float("nan"),
            "fpr": float(pred[y == 0].mean()) if (y == 0).any() else float("nan")}


def cross_validate(
    cfg: PipelineConfig, f: np.ndarray, y: np.ndarray, params: dict[str, Any]
) -> tuple[np.ndarray, list[dict]]:
    """Out-of-fold decision values of ``cv_folds``-fold stratified CV, and per-fold scores."""
    folds = max(2, min(cfg.cv_folds, int(np.bincount(y, minlength=2).min())))
    oof = np.zeros(len(y))
    per_fold = []
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=cfg.seed).split(f, y):
        svc = make_svc(params).fit(f[tr], y[tr])
        oof[te] = svc.decision_function(f[te])
        per_fold.append(scores(y[te], oof[te]))
    return oof, per_fold


def oof_path(cfg: PipelineConfig, attack: str):
    return cfg.cache() / "oof" / f"{attack}.npz"


def run(cfg: PipelineConfig, progress: Callable | None = None) -> dict:
    """Table III: per attack, chosen (C, gamma), and 10-fold CV accuracy, F1, AUC (mean and std over folds)."""
    rows = {}
    it = progress(cfg.attacks, desc="cv", unit="attack") if progress else cfg.attacks
    for attack in it:
        d = load_detector_data(cfg, attack)
        f, y = d["features"].astype(np.float64), d["label"]
        params = choose_params(cfg, f, y)
        oof, per_fold = cross_validate(cfg, f, y, params)
        save_with(oof_path(cfg, attack), lambda p: np.savez(p, decision=oof, label=y))
        mean = scores(y, oof)
        rows[attack] = {
            **{k: float(np.mean([s[k] for s in per_fold])) for k in ("accuracy", "f1", "auc", "auc_hard")},
            "std": {k: float(np.std([s[k] for s in per_fold])) for k in ("accuracy", "f1", "auc")},
            "pooled_oof": mean,
            "params": params,
            "rows": int(len(y)),
            "attacks": int(y.sum()),
            "folds": len(per_fold),
        }
    out = stamp(
        cfg,
        note="mean over folds; auc ranks the SVM decision value, auc_hard the 0/1 predictions "
        "(equals balanced accuracy, how the paper's AUC column reads)",
        table3=rows,
    )
    write_result(cfg, "table3", out)
    return out
