"""Adversarial retraining of the detector (variant ``retrained``, ``python -m core harden --variant retrained``).

Carlini & Wagner (2017, "Adversarial examples are not easily detected", Sec. 4) retrained detectors on the
adaptive attacker's own examples and attacked them again.  Here, over the adversarially trained ``robust`` pair:
round 0 is the shipped ``robust`` detector and its rows (the same seeded rows ``harden`` built it from); each round
attacks the current detector at its 5 % operating point with the detector-aware attacks of ``RETRAIN_ATTACKS`` on
fresh seeded train images, adds every undetected success as a positive row and as many fresh clean train images as
negatives, and refits the SVM on all rows so far with ``harden``'s procedure ((C, γ) by inner CV, Platt).  One more
attack on fresh images after the last round measures what the shipped detector lets through.

The attacks run at one fixed budget each, the ``robust`` variant's ε50 of that attack (``security_robust.json``),
not the security evaluation's budget search: at its ε50 an attack evades the round-0 detector on about half of the
images, so each round has many positives, and the same budget every round makes the rounds' evasion rates directly
comparable; one PGD run costs at most ``steps`` steps an image where the budget search spent 1,600–2,100 (measured
in ``security_robust.json``), which is what lets three rounds run in minutes.  The security evaluation
(``python -m core security --variant retrained``) then searches every budget as for the other variants.
Each round (its attacks' rows and the detector fitted on them) is cached: a killed run resumes at the next round.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from core import ATTACK_NAMES
from core.io.paths import make_command

RETRAIN_ATTACKS = ("joint_pgd", "feature_matching", "s_pgd")  # the detector-aware attacks whose evasions are added
BASE = "robust"  # the variant retrained from: its pair, rows and detector (round 0)
VARIANT = "retrained"
STEPS = 100  # PGD steps, as the security evaluation's


def retrain_command(dataset: str, rounds: int, per_round: int) -> str:
    """The command that makes the ``retrained`` variant (stored with the detector and its results)."""
    return make_command("variant", dataset, variant=VARIANT) + f" --rounds {rounds} --per-round {per_round}"


def attack_budgets(dataset: str) -> dict[str, float]:
    """Per attack of ``RETRAIN_ATTACKS``: the ``robust`` variant's ε50 (the grid's largest budget if above it)."""
    from core.experiments.security import EXTENDED_GRIDS, read_security

    e50 = read_security(dataset, BASE)["eps50"]
    return {a: float(e50[a]) if e50.get(a) is not None else EXTENDED_GRIDS[dataset][-1] for a in RETRAIN_ATTACKS}


def fresh_images(x_train: np.ndarray, y_train: np.ndarray, used: np.ndarray, pair: tuple, seed: int,
                 rounds: int, per_round: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Train indices never used by the base rows, in a seeded order: ``rounds`` chunks of ``per_round`` images both
    models classify right (the ones attacked), and the rest of the order (clean negatives, taken as needed)."""
    from core.data import to_float
    from core.models import predict_logits

    left = np.setdiff1d(np.arange(len(x_train)), used)
    order = left[np.random.default_rng([seed, 61]).permutation(len(left))]
    pool, clean = order[: len(order) // 2], order[len(order) // 2 :]
    need = rounds * per_round
    picked: list[np.ndarray] = []
    for i in range(0, len(pool), 4 * need):  # classify in slices until enough images are both right
        idx = pool[i : i + 4 * need]
        x = to_float(np.asarray(x_train[idx]))
        y = torch.from_numpy(np.asarray(y_train[idx], np.int64))
        ok = np.ones(len(idx), bool)
        for m in pair:
            ok &= (predict_logits(m, x).argmax(1) == y).numpy()
        picked.append(idx[ok])
        if sum(map(len, picked)) >= need:
            break
    right = np.concatenate(picked)[:need]
    if len(right) < need:
        raise ValueError(f"only {len(right)} fresh train images are right for both models; {need} needed")
    return [right[r * per_round : (r + 1) * per_round] for r in range(rounds)], clean


def attack_round(det: Any, x: torch.Tensor, y: torch.Tensor, budgets: dict[str, float], seed: int,
                 device: str = "cpu") -> dict[str, dict[str, np.ndarray]]:
    """Each attack of ``RETRAIN_ATTACKS`` against ``det`` at its 5 % point, at its fixed budget: per attack the
    images that evade on a fresh pass (model 1 wrong, not flagged) and their features (its models' softmax)."""
    from core.attacks.adaptive import budget_search, get_adaptive
    from core.detector import watched_features
    from core.experiments.security import judge_for

    judge = judge_for(det, 0.05, device)
    out = {}
    for k, name in enumerate(RETRAIN_ATTACKS):
        t0 = time.time()
        curve = budget_search(get_adaptive(name), judge, x, y, [budgets[name]], STEPS, seed * 1_000 + k)
        wrong, flagged = judge.verdict(curve.x_adv, y)  # a fresh pass: what the row will claim
        evaded = (wrong & ~flagged).numpy()
        x_ev = curve.x_adv[torch.from_numpy(evaded)]
        out[name] = {"evaded": evaded, "features": watched_features(det.models(), x_ev).numpy(),
                     "seconds": np.array(time.time() - t0)}
    return out


def round_dir(dataset: str, seed: int, n: int, per_round: int) -> Path:
    """Where each round's rows and detector are cached (resume after a kill)."""
    from core.io.paths import cache_dir

    return cache_dir() / "retrain" / dataset / f"seed{seed}-n{n}-per{per_round}"


def read_round_detector(dataset: str, seed: int, n: int, per_round: int, r: int) -> Any:
    """The detector fitted in round ``r`` (calibrated; round 0: the shipped ``robust`` detector)."""
    from core.detector import Detector, load

    if r == 0:
        return load(dataset, "all", variant=BASE)
    stem = round_dir(dataset, seed, n, per_round) / f"round_{r}"
    return Detector.read(stem.with_suffix(".npz"), stem.with_suffix(".json"))


def read_round_rows(dataset: str, seed: int, n: int, per_round: int, r: int) -> dict[str, np.ndarray]:
    """Round ``r``'s attack results: ``features``/``label``/``true_class``/``attack`` of the rows it added."""
    with np.load(round_dir(dataset, seed, n, per_round) / f"round_{r}_rows.npz") as z:
        return {k: z[k] for k in z.files}


def retrain(dataset: str, rounds: int = 3, n: int | None = None, per_round: int = 400, seed: int = 0,
            data_root: str | None = None, progress: Callable | None = None, device: str = "cpu") -> dict[str, Any]:
    """Build, calibrate and ship the ``retrained`` variant of ``dataset``; write ``variant_retrained.json``.

    ``n`` (rows per attack of the base data set) and the base seed default to the shipped ``robust`` variant's
    (``variant_robust.json``); ``seed`` also draws each round's fresh images.  Per round the record gives how many
    images each attack evaded against the previous round's detector (the round's key number), the rows added, the
    support vectors and the refit detector's held-out clean FPR at 5 %; ``final_check`` attacks the shipped one."""
    from core.experiments.calibration import calibrate
    from core.data import test_halves
    from core.data import load_split, load_split_uint8, to_float
    from core.detector import store, watched_features
    from core.io.files import save_with, write_json
    from core.io.manifest import code_version, register_file
    from core.io.paths import artifacts_dir
    from core.experiments.pipeline.config import PipelineConfig
    from core.hardening.variants import fit_detector, read_variant, table3_beside_paper, variant_data, variant_relpath

    t_start = time.time()
    base = read_variant(dataset, BASE)
    n = base["n_per_attack"] if n is None else n
    n_attack = tuple(base.get("n_attack", {}).items())
    cfg = PipelineConfig(dataset, n=n, n_per_attack=n_attack, seed=base["seed"], data_root=data_root)
    data = variant_data(dataset, BASE, n, base["seed"], data_root, progress, device, n_attack)
    f_all = np.concatenate([data[a]["features"] for a in ATTACK_NAMES]).astype(np.float64)
    y_all = np.concatenate([data[a]["label"] for a in ATTACK_NAMES])
    used = np.unique(np.concatenate([data[a]["source_index"] for a in ATTACK_NAMES]))
    budgets = attack_budgets(dataset)
    command = retrain_command(dataset, rounds, per_round)

    det = read_round_detector(dataset, seed, n, per_round, 0)
    pair, watched = det.pair(device), det.models(device)
    x_train, y_train = load_split_uint8(dataset, "train", data_root)
    chunks, clean_pool = fresh_images(x_train, y_train, used, pair, seed, rounds + 1, per_round)
    x_test, _ = load_split(dataset, "test", data_root)
    cal, held = test_halves(len(x_test))
    f_test = watched_features(watched, x_test).numpy()
    cache = round_dir(dataset, seed, n, per_round)
    records: list[dict[str, Any]] = []
    taken = 0  # clean negatives used so far
    steps = range(1, rounds + 2)
    for r in progress(steps, desc=f"{dataset} retrain", unit="round") if progress else steps:
        last = r == rounds + 1  # the final check: attack the last detector, refit nothing
        idx = chunks[r - 1]
        x = to_float(np.asarray(x_train[idx]))
        y = torch.from_numpy(np.asarray(y_train[idx], np.int64))
        rows_path = cache / f"round_{r}_rows.npz"
        if not rows_path.exists():
            res = attack_round(det, x, y, budgets, seed * 100 + r, device)
            pos = np.concatenate([res[a]["features"] for a in RETRAIN_ATTACKS])
            neg_idx = clean_pool[taken : taken + len(pos)]
            neg = watched_features(watched, to_float(np.asarray(x_train[neg_idx]))).numpy()
            rows = {"features": np.concatenate([pos, neg]).astype(np.float32),
                    "label": np.r_[np.ones(len(pos), np.int64), np.zeros(len(neg), np.int64)],
                    "true_class": np.r_[np.concatenate([y.numpy()[res[a]["evaded"]] for a in RETRAIN_ATTACKS]),
                                        np.asarray(y_train[neg_idx], np.int64)],
                    "source_index": np.r_[np.concatenate([idx[res[a]["evaded"]] for a in RETRAIN_ATTACKS]), neg_idx],
                    "attack": np.r_[np.concatenate([np.full(int(res[a]["evaded"].sum()), k)
                                                    for k, a in enumerate(RETRAIN_ATTACKS)]),
                                    np.full(len(neg), -1)],
                    "seconds": np.array([float(res[a]["seconds"]) for a in RETRAIN_ATTACKS])}
            save_with(rows_path, lambda p, rows=rows: np.savez(p, **rows))
        rows = read_round_rows(dataset, seed, n, per_round, r)
        taken += int((rows["label"] == 0).sum())
        evaded = {a: int(((rows["attack"] == k) & (rows["label"] == 1)).sum()) for k, a in enumerate(RETRAIN_ATTACKS)}
        rec: dict[str, Any] = {"round": r, "attacked_detector": f"round {r - 1}" + (" (robust)" if r == 1 else ""),
                               "images": int(len(idx)), "evaded": evaded,
                               "evasion_rate": {a: v / len(idx) for a, v in evaded.items()},
                               "evasion_rate_mean": sum(evaded.values()) / (len(idx) * len(RETRAIN_ATTACKS)),
                               "attack_seconds": dict(zip(RETRAIN_ATTACKS, map(float, rows["seconds"])))}
        if last:
            records.append({**rec, "final_check": True})
            break
        f_all = np.concatenate([f_all, rows["features"].astype(np.float64)])
        y_all = np.concatenate([y_all, rows["label"]])
        stem = cache / f"round_{r}"
        if not stem.with_suffix(".npz").exists():
            t0 = time.time()
            new = fit_detector(cfg, f_all, y_all, seed, VARIANT, {"round": r, "command": command})
            new.calibrate(new.predict_proba_features(f_test[cal]))
            new.meta["fit_seconds"] = time.time() - t0
            new.save(stem)
        det = read_round_detector(dataset, seed, n, per_round, r)
        held_fpr = float((det.predict_proba_features(f_test[held]) > det.threshold(0.05)).mean())
        records.append({**rec, "rows_added": int(len(rows["label"])), "positives_added": int(rows["label"].sum()),
                        "rows": int(len(y_all)), "n_support": int(len(det.head.dual_coef_)),
                        "params": det.meta["params"], "fit_seconds": float(det.meta["fit_seconds"]),
                        "clean_fpr_held_out_0.05": held_fpr})

    det.meta = {"params": det.meta["params"], "rows": int(len(y_all)), "rounds": rounds, "per_round": per_round,
                "budgets": budgets, "base": BASE, "seed": seed, "code_version": code_version(), "command": command}
    store(det, command)
    calibrate(dataset, data_root, variant=VARIANT, device=device)
    table3 = table3_beside_paper(cfg, data)
    doc = {"dataset": dataset, "variant": VARIANT, "command": command, "code_version": code_version(), "seed": seed,
           "n_per_attack": n, "n_attack": dict(n_attack), "params": det.meta["params"],
           "n_support": int(len(det.head.dual_coef_)),
           "note": "table3: 10-fold CV accuracy per attack (Table III protocol) on the base (robust) rows and on the "
                   "first n rows of the paper detector's data set; the retrained detector's own rows add the "
                   "rounds' evasions and clean images.  rounds: per round, the images each attack evaded (model 1 "
                   "wrong, not flagged at 5 %) against the previous round's detector at the fixed budgets, the rows "
                   "that added and the refit detector; the last entry (final_check) attacks the shipped detector",
           "table3": table3, "base": BASE, "base_seed": base["seed"], "per_round": per_round,
           "attacks": list(RETRAIN_ATTACKS), "budgets": budgets, "steps": STEPS, "rounds": records,
           "seconds": round(time.time() - t_start, 1)}
    path = artifacts_dir() / variant_relpath(dataset, VARIANT)
    write_json(path, doc)
    register_file(path, command)
    return doc


def format_retrained(doc: dict[str, Any]) -> str:
    """The per-round table ``python -m core harden --variant retrained`` prints."""
    from core.hardening.variants import format_variant

    lines = [format_variant(doc), f"rounds (fixed budgets {doc['budgets']}, {doc['per_round']} fresh train images "
             "each; evaded = model 1 wrong and not flagged at 5 % by the previous round's detector)",
             f"{'round':<7}" + "".join(f"{a:>18}" for a in doc["attacks"]) + f"{'mean':>8}{'rows':>8}{'SVs':>7}"
             f"{'FPR@5%':>8}"]
    for rec in doc["rounds"]:
        lines.append(f"{'final' if rec.get('final_check') else rec['round']:<7}"
                     + "".join(f"{rec['evasion_rate'][a]:>18.3f}" for a in doc["attacks"])
                     + f"{rec['evasion_rate_mean']:>8.3f}{rec.get('rows', ''):>8}{rec.get('n_support', ''):>7}"
                     + (f"{rec['clean_fpr_held_out_0.05']:>8.3f}" if "clean_fpr_held_out_0.05" in rec else ""))
    return "\n".join(lines)
