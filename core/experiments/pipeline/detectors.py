"""Stage ``detectors`` (held-out protocol): the shipped detectors, one per attack plus ``all`` (the seven pooled).

Each is an RBF-SVM over the ``margins`` feature map (``core.detector.feature_map``) of the detector-role rows of
``--protocol heldout`` (test images neither classifier saw), (C, gamma) chosen by inner CV for the detection rate
at 5 % false positives, a Platt calibration fitted on 3-fold out-of-fold decision values, stored as ``.npz`` +
``.json`` with the roles of its images and registered with its sha256.  Then ``python -m core calibrate`` sets the
operating points on the calibration role.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from sklearn.metrics import make_scorer
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from core.detector import Detector, platt_fit, store
from core.detector.feature_map import FeatureMap
from core.experiments.calibration import calibrate
from core.experiments.pipeline.config import PipelineConfig
from core.experiments.pipeline.cv import make_svc, scores, subsample
from core.experiments.pipeline.detector_data import load_detector_data
from core.io.labs import is_lab
from core.io.manifest import code_version
from core.io.paths import make_command
from core.results.metrics import tpr_at_fpr

SELECT_FPR = 0.05  # (C, gamma) are chosen for the detection rate at this clean false-positive rate


def tpr_scorer(y: np.ndarray, decision: np.ndarray) -> float:
    return tpr_at_fpr(decision[y == 0], decision[y == 1], SELECT_FPR)


def choose_detector_params(cfg: PipelineConfig, f: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """(C, gamma) by ``inner_folds``-fold CV of the detection rate at ``SELECT_FPR`` on a stratified subsample."""
    idx = subsample(y, cfg.inner_subsample, cfg.seed)
    folds = max(2, min(cfg.inner_folds, int(np.bincount(y[idx], minlength=2).min())))
    scorer = make_scorer(tpr_scorer, response_method="decision_function")
    grid = GridSearchCV(make_svc({"C": 1.0, "gamma": 1.0}),
                        {"C": list(cfg.grid_c), "gamma": list(cfg.detector_grid_gamma)},
                        cv=StratifiedKFold(folds, shuffle=True, random_state=cfg.seed), scoring=scorer, n_jobs=1)
    grid.fit(f[idx], y[idx])
    return {"C": float(grid.best_params_["C"]), "gamma": grid.best_params_["gamma"],
            "inner_cv_tpr_at_5": float(grid.best_score_), "inner_rows": int(len(idx))}


def training_rows(cfg: PipelineConfig, data: dict[str, dict[str, np.ndarray]], name: str
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, labels, source indices) a detector trained on ``name`` (an attack or ``all``) is fitted on."""
    attacks = list(cfg.attacks) if name == "all" else [name]
    parts = []
    for a in attacks:
        d = data[a]
        idx = subsample(d["label"], cfg.pooled_per_attack, cfg.seed) if name == "all" else np.arange(len(d["label"]))
        parts.append((d["features"][idx].astype(np.float64), d["label"][idx], d["source_index"][idx]))
    return tuple(np.concatenate(p) for p in zip(*parts))  # type: ignore[return-value]


def fit_svc(cfg: PipelineConfig, f: np.ndarray, y: np.ndarray) -> tuple[Any, FeatureMap, dict[str, Any]]:
    """(SVC fitted on every row of ``cfg.feature_map`` of ``f``, that map, its chosen params)."""
    fmap = FeatureMap.fit(cfg.feature_map, f)
    z = fmap(f)
    params = choose_detector_params(cfg, z, y)
    return make_svc(params).fit(z, y), fmap, params


def fit_detector(cfg: PipelineConfig, name: str, f: np.ndarray, y: np.ndarray, src: np.ndarray) -> Detector:
    """The full-data SVM, Platt-calibrated on 3-fold out-of-fold decision values, with its roles recorded."""
    svc, fmap, params = fit_svc(cfg, f, y)
    z = fmap(f)
    oof = np.zeros(len(y))
    for tr, te in StratifiedKFold(3, shuffle=True, random_state=cfg.seed).split(z, y):
        oof[te] = make_svc(params).fit(z[tr], y[tr]).decision_function(z[te])
    command = f"{make_command('detectors', cfg.dataset)} --n {cfg.n}"
    det = Detector.from_svc(svc, cfg.dataset, name, platt_fit(oof, y), fmap=fmap, n_inputs=f.shape[1], meta={
        "params": params, "rows": int(len(y)), "train_rows": int(len(y)), "n_support": int(len(svc.support_)),
        "oof_scores": scores(y, oof), "feature_map": fmap.name, "protocol": cfg.protocol, "seed": cfg.seed, "n": cfg.n,
        "roles": {"classifiers": {"split": "elsewhere" if is_lab(cfg.dataset) else "train"},
                  "detector": {"split": "test", "role": "detector", "seed": cfg.split_seed,
                               "images": int(len(np.unique(src)))}},
        "code_version": code_version(), "command": command})
    return det


def run(cfg: PipelineConfig, progress: Callable | None = None) -> dict:
    if cfg.protocol != "heldout":
        raise ValueError("the shipped detectors are fitted on the held-out protocol's rows: run "
                         f"`{make_command('detectors', cfg.dataset)}`")
    data = {a: load_detector_data(cfg, a) for a in cfg.attacks}
    names = list(cfg.attacks) + ["all"]
    out = {}
    for name in progress(names, desc="detectors", unit="detector") if progress else names:
        f, y, src = training_rows(cfg, data, name)
        det = fit_detector(cfg, name, f, y, src)
        store(det, det.meta["command"])
        out[name] = {"n_support": int(len(det.head.dual_coef)), "platt": list(det.head.platt), **det.meta["params"]}
    calibrate(cfg.dataset, cfg.data_root, trained_on=names)  # the operating points of the detectors just shipped
    return out
