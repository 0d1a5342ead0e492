"""Stage ``transfer``: train on attack A, test on attack B (7x7, Figures 5-6), and leave-one-attack-out."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from core.detector import Detector
from core.experiments.pipeline.config import PipelineConfig, stamp, write_result
from core.experiments.pipeline.cv import choose_params, make_svc, scores, subsample
from core.experiments.pipeline.detector_data import load_detector_data
from core.io.files import read_json


def full_detector_stem(cfg: PipelineConfig, trained_on: str):
    return cfg.cache() / "fitted" / trained_on


def fit_full(cfg: PipelineConfig, trained_on: str, f: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> Detector:
    """Fit on every row; cached under ``.cache`` (same no-pickle format as the shipped detectors)."""
    stem = full_detector_stem(cfg, trained_on)
    if stem.with_suffix(".npz").exists() and stem.with_suffix(".json").exists():
        det = Detector.read(stem.with_suffix(".npz"), stem.with_suffix(".json"))
        if det.meta.get("params") == params and det.meta.get("rows") == int(len(y)):
            return det
    svc = make_svc(params).fit(f, y)
    det = Detector.from_svc(svc, cfg.dataset, trained_on, meta={"params": params, "rows": int(len(y)),
                                                                  "n_support": int(len(svc.support_))})
    det.save(stem)
    return det


def pooled(
    cfg: PipelineConfig, data: dict[str, dict[str, np.ndarray]], attacks: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """``pooled_per_attack`` stratified rows from each attack in ``attacks``, concatenated."""
    fs, ys = [], []
    for a in attacks:
        d = data[a]
        idx = subsample(d["label"], cfg.pooled_per_attack, cfg.seed)
        fs.append(d["features"][idx].astype(np.float64))
        ys.append(d["label"][idx])
    return np.concatenate(fs), np.concatenate(ys)


def run(cfg: PipelineConfig, progress: Callable | None = None) -> dict:
    """Writes ``transfer.json`` (accuracy and AUC matrices, rows = train, cols = test) and ``loao.json``."""
    table3 = read_json(cfg.results() / "table3.json")["table3"]
    atk = list(cfg.attacks)
    data = {a: load_detector_data(cfg, a) for a in atk}
    k = len(atk)
    acc, auc, f1 = np.full((k, k), np.nan), np.full((k, k), np.nan), np.full((k, k), np.nan)
    it = progress(atk, desc="transfer", unit="attack") if progress else atk
    for i, a in enumerate(it):
        da = data[a]
        det = fit_full(cfg, a, da["features"].astype(np.float64), da["label"], table3[a]["params"])
        for j, b in enumerate(atk):
            if a == b:
                acc[i, j], auc[i, j], f1[i, j] = (table3[a][m] for m in ("accuracy", "auc", "f1"))
                continue
            db = data[b]
            s = scores(db["label"], det.decision_function_features(db["features"]))
            acc[i, j], auc[i, j], f1[i, j] = s["accuracy"], s["auc"], s["f1"]
    off = ~np.eye(k, dtype=bool)
    out = stamp(
        cfg,
        attacks=atk,
        note="rows = train attack, cols = test attack; diagonal = 10-fold CV (Table III); "
        "off-diagonal: trained on all rows of the row attack, tested on all rows of the column attack",
        accuracy=acc.tolist(),
        auc=auc.tolist(),
        f1=f1.tolist(),
        mean_offdiag_accuracy=float(acc[off].mean()),
        min_offdiag_accuracy=float(acc[off].min()),
        mean_offdiag_auc=float(auc[off].mean()),
    )
    write_result(cfg, "transfer", out)

    loao = {}
    it = progress(atk, desc="loao", unit="attack") if progress else atk
    for b in it:
        rest = [a for a in atk if a != b]
        f, y = pooled(cfg, data, rest)
        params = choose_params(cfg, f, y)
        svc = make_svc(params).fit(f, y)
        db = data[b]
        loao[b] = {
            **scores(db["label"], svc.decision_function(db["features"].astype(np.float64))),
            "params": params,
            "train_rows": int(len(y)),
        }
    out = stamp(
        cfg,
        note=f"train on the other attacks pooled ({cfg.pooled_per_attack} stratified rows each), "
        "test on every row of the held-out attack",
        loao=loao,
        mean_accuracy=float(np.mean([v["accuracy"] for v in loao.values()])),
    )
    write_result(cfg, "loao", out)
    return out
