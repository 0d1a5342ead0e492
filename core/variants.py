"""Hardened detector variants: the mismatch detector over another pair of models (``python -m core harden``).

``robust``: the same detector (RBF-SVM over both models' softmax, Platt, operating points on the clean
calibration half of the test split) over a PGD-trained pair (``python -m core train --robust``).  Its data
set is built as the paper's ``all`` detector's is: per attack, ``n`` seeded train images, a fair coin for
clean/attacked and one for the attacked model, the attack's budget search on that model; the seven pooled.
Each attack's chunk is cached (resume after a kill).  Also written: ``artifacts/results/<D>/variant_<name>.json``
with the Table III check (10-fold CV accuracy per attack, beside the paper detector's on as many of its rows).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from . import ATTACK_NAMES
from .paths import MAKE_COMMANDS

COMMAND = MAKE_COMMANDS["variant"]


def variant_data(dataset: str, variant: str, n: int, seed: int, data_root: str | None,
                 progress: Callable | None = None, device: str = "cpu",
                 n_per_attack: tuple[tuple[str, int], ...] = ()) -> dict[str, dict[str, np.ndarray]]:
    """Per attack: the rows (features, label, ...) of the variant's detector data set, chunk by chunk, cached.
    ``n_per_attack`` overrides ``n`` for single attacks (the draws are prefix-stable, as the pipeline's)."""
    from .data import load_split_uint8
    from .detector import VARIANT_PAIRS
    from .files import save_with
    from .models import load_pair
    from .paths import cache_dir
    from .pipeline.config import PipelineConfig
    from .pipeline.data import build_chunk, draws

    pair = load_pair(dataset, VARIANT_PAIRS[variant], device)
    cfg = PipelineConfig(dataset, n=n, n_per_attack=n_per_attack, seed=seed, data_root=data_root)
    x_train, y_train = load_split_uint8(dataset, "train", data_root)
    from .data import to_float

    out = {}
    for attack in progress(ATTACK_NAMES, desc=f"{dataset} {variant} data", unit="attack") if progress else ATTACK_NAMES:
        path = cache_dir() / "variants" / dataset / f"{variant}-seed{seed}-n{cfg.n_for(attack)}" / f"{attack}.npz"
        if not path.exists():
            d = draws(cfg, attack, len(x_train))
            x = to_float(np.asarray(x_train[d["index"]]))
            y = torch.from_numpy(np.asarray(y_train[d["index"]], np.int64))
            torch.manual_seed(seed * 7919 + 104_729)
            rows = build_chunk(cfg, attack, 0, x, y, d["index"], d["attack"], d["model"], pair)
            save_with(path, lambda p, rows=rows: np.savez(p, **{k: v for k, v in rows.items() if k != "x_adv"}))
        with np.load(path) as z:
            out[attack] = {k: z[k] for k in z.files}
    return out


def harden(dataset: str, variant: str = "robust", n: int = 2000, seed: int = 0, data_root: str | None = None,
           progress: Callable | None = None, device: str = "cpu",
           n_per_attack: tuple[tuple[str, int], ...] = ()) -> dict[str, Any]:
    """Build, calibrate and ship the ``variant`` detector of ``dataset``; write its Table III check."""
    from .calibration import calibrate
    from .detector import Detector, MismatchSVM, check_variant, store
    from .files import write_json
    from .manifest import code_version, register_file
    from .paths import artifacts_dir
    from .pipeline.config import PipelineConfig
    from .pipeline.cv import choose_params, cross_validate, scores
    from .results import detector_data_path

    check_variant(variant)
    if variant == "paper":
        raise ValueError("the paper's detector is made by `python -m core pipeline`")
    cfg = PipelineConfig(dataset, n=n, n_per_attack=n_per_attack, seed=seed, data_root=data_root)
    data = variant_data(dataset, variant, n, seed, data_root, progress, device, n_per_attack)
    f = np.concatenate([data[a]["features"] for a in ATTACK_NAMES]).astype(np.float64)
    y = np.concatenate([data[a]["label"] for a in ATTACK_NAMES])
    params = choose_params(cfg, f, y)
    head = MismatchSVM(C=params["C"], gamma=params["gamma"], cv=3, random_state=seed).fit(f, y)
    command = COMMAND.format(dataset=dataset, variant=variant)
    det = Detector(dataset, "all", head, variant=variant,
                   meta={"params": params, "rows": int(len(y)), "n_per_attack": {a: cfg.n_for(a) for a in ATTACK_NAMES},
                         "seed": seed,
                         "code_version": code_version(), "command": command})
    store(det, command)
    calibrate(dataset, data_root, variant=variant, device=device)
    table3 = {}
    for attack in ATTACK_NAMES:  # the Table III protocol on the variant's rows and on as many of the paper's
        fa, ya = data[attack]["features"].astype(np.float64), data[attack]["label"]
        pa = choose_params(cfg, fa, ya)
        oof, folds = cross_validate(cfg, fa, ya, pa)
        with np.load(detector_data_path(dataset, attack)) as z:
            fp, yp = z["features"][: cfg.n_for(attack)].astype(np.float64), z["label"][: cfg.n_for(attack)]
        oof_p, folds_p = cross_validate(cfg, fp, yp, choose_params(cfg, fp, yp))
        table3[attack] = {"variant": float(np.mean([s["accuracy"] for s in folds])),
                          "paper_same_rows": float(np.mean([s["accuracy"] for s in folds_p])),
                          "variant_pooled": scores(ya, oof), "rows": int(len(ya))}
    doc = {"dataset": dataset, "variant": variant, "command": command, "code_version": code_version(), "seed": seed,
           "n_per_attack": n, "n_attack": dict(n_per_attack), "params": params, "n_support": int(len(head.dual_coef_)),
           "note": "table3: 10-fold CV accuracy per attack (Table III protocol) on the variant's rows and on the first "
                   "n rows of the paper detector's data set", "table3": table3}
    path = artifacts_dir() / "results" / dataset / f"variant_{variant}.json"
    write_json(path, doc)
    register_file(path, command)
    return doc


def format_variant(doc: dict[str, Any]) -> str:
    lines = [f"{doc['dataset']} variant {doc['variant']}: {doc['n_support']} support vectors, (C, γ) = "
             f"({doc['params']['C']}, {doc['params']['gamma']}); Table III protocol, 10-fold CV accuracy "
             f"on {doc['n_per_attack']} rows per attack",
             f"{'attack':<18}{'variant':>9}{'paper':>9}{'Δ':>8}"]
    for a, r in doc["table3"].items():
        lines.append(
            f"{a:<18}{r['variant']:>9.3f}{r['paper_same_rows']:>9.3f}{r['variant'] - r['paper_same_rows']:>+8.3f}"
        )
    return "\n".join(lines)
