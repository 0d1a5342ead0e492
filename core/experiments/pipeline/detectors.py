"""Stage ``detectors``: the shipped detectors, one per attack plus ``all`` (the seven pooled).

Each is the full-data RBF-SVM with a Platt calibration fitted on out-of-fold
decision values (the 10-fold CV of stage ``cv`` for single attacks, a 3-fold CV
for ``all``), stored as ``.npz`` + ``.json`` and registered with its sha256.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn.model_selection import StratifiedKFold

from core.detector import Detector, platt_fit, store
from core.experiments.calibration import calibrate
from core.experiments.pipeline.config import PipelineConfig
from core.experiments.pipeline.cv import choose_params, make_svc, oof_path, scores
from core.experiments.pipeline.detector_data import load_detector_data
from core.experiments.pipeline.transfer import fit_full, pooled
from core.io.files import read_json
from core.io.manifest import code_version
from core.io.paths import make_command


def store_calibrated(cfg: PipelineConfig, det: Detector, cal: tuple[float, float], extra: dict) -> None:
    """Set the Platt calibration ``cal`` and the provenance of a fitted detector, then write and register it."""

    det.head = det.head.with_platt(cal)
    det.meta = {**det.meta, **extra, "seed": cfg.seed, "n": cfg.n, "code_version": code_version(),
                "command": f"{make_command('detectors', cfg.dataset)} --n {cfg.n}"}
    store(det, det.meta["command"])


def run(cfg: PipelineConfig, progress: Callable | None = None) -> dict:
    table3 = read_json(cfg.results() / "table3.json")["table3"]
    data = {a: load_detector_data(cfg, a) for a in cfg.attacks}
    out = {}
    it = (
        progress(list(cfg.attacks) + ["all"], desc="detectors", unit="detector")
        if progress
        else list(cfg.attacks) + ["all"]
    )
    for name in it:
        if name != "all":
            d = data[name]
            f, y = d["features"].astype(np.float64), d["label"]
            det = fit_full(cfg, name, f, y, table3[name]["params"])
            with np.load(oof_path(cfg, name)) as z:
                cal = platt_fit(z["decision"], z["label"])
        else:
            f, y = pooled(cfg, data, list(cfg.attacks))
            params = choose_params(cfg, f, y)
            det = fit_full(cfg, "all", f, y, params)
            oof = np.zeros(len(y))
            for tr, te in StratifiedKFold(3, shuffle=True, random_state=cfg.seed).split(f, y):
                oof[te] = make_svc(params).fit(f[tr], y[tr]).decision_function(f[te])
            cal = platt_fit(oof, y)
            det.meta["oof_scores"] = scores(y, oof)
        store_calibrated(cfg, det, cal, {"train_rows": int(len(y))})
        out[name] = {"n_support": int(len(det.head.dual_coef)), "platt": list(cal), **det.meta.get("params", {})}
    calibrate(cfg.dataset, cfg.data_root)  # the operating points of the detectors just shipped
    return out
