"""Hardened detector variants: the mismatch detector over another pair of models (``python -m core harden``).

``robust``: the same detector (RBF-SVM over the feature map of both models' softmax, Platt, operating points on
the clean calibration role of the test split) over a PGD-trained pair (``python -m core train --robust``).  Its
data set is built as the shipped ``all`` detector's is (held-out protocol): per attack, ``n`` seeded images of the
test split's detector role, a fair coin for
clean/attacked and one for the attacked model, the attack's budget search on that model; the seven pooled.
``robust_pgd`` (MNIST) is the same over a pair trained with multi-step PGD (``train --robust --pgd``).
Each attack's chunk is cached (resume after a kill).  Also written: ``artifacts/results/<D>/variant_<name>.json``
with the Table III check (10-fold CV accuracy per attack, beside the paper detector's on as many of its rows).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

from core import ATTACK_NAMES
from core.attacks.adaptive import ADAPTIVE_SPECS
from core.data import load_split_uint8, to_float
from core.detector import (
    VARIANT_PAIRS,
    VARIANTS,
    check_variant,
    store,
)
from core.experiments.calibration import calibrate
from core.experiments.pipeline.config import PipelineConfig
from core.experiments.pipeline.cv import choose_params, cross_validate, scores
from core.experiments.pipeline.detector_data import build_chunk, draws
from core.experiments.pipeline.detectors import fit_detector
from core.io.files import read_json, save_with, write_json
from core.io.manifest import code_version, read_manifest, register_file, verified_path
from core.io.paths import (
    MAKE_COMMANDS,
    artifacts_dir,
    cache_dir,
    make_command,
    result_path,
    security_path,
    variant_relpath,
)
from core.models import load_pair, model_key
from core.results.readers import detector_data_path
from core.results.security import eps_text, read_security

COMMAND = MAKE_COMMANDS["variant"]


def pair_data(dataset: str, role: str, n: int, seed: int, data_root: str | None,
              progress: Callable | None = None, device: str = "cpu",
              n_per_attack: tuple[tuple[str, int], ...] = (), protocol: str = "paper"
              ) -> dict[str, dict[str, np.ndarray]]:
    """Per attack: the rows (features, label, ...) of a detector data set over the pair of ``role``
    (``core.models.ROLE_FLAGS``), drawn as the paper detector's are, cached per attack.  ``n_per_attack``
    overrides ``n`` for single attacks (the draws are prefix-stable, as the pipeline's)."""
    pair = load_pair(dataset, role, device)
    cfg = PipelineConfig(dataset, n=n, n_per_attack=n_per_attack, seed=seed, data_root=data_root, protocol=protocol)
    x_train, y_train = load_split_uint8(dataset, cfg.source_split(), data_root)

    out = {}
    for attack in progress(ATTACK_NAMES, desc=f"{dataset} {role} data", unit="attack") if progress else ATTACK_NAMES:
        folder = ("" if protocol == "paper" else f"{protocol}-") + f"{role}-seed{seed}-n{cfg.n_for(attack)}"
        path = cache_dir() / "variants" / dataset / folder / f"{attack}.npz"
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


def variant_data(dataset: str, variant: str, n: int, seed: int, data_root: str | None,
                 progress: Callable | None = None, device: str = "cpu",
                 n_per_attack: tuple[tuple[str, int], ...] = ()) -> dict[str, dict[str, np.ndarray]]:
    """The ``variant`` detector's rows (``pair_data``, held-out protocol: the test split's detector role) over the
    pair it watches (``VARIANT_PAIRS``)."""
    return pair_data(dataset, VARIANT_PAIRS[variant], n, seed, data_root, progress, device, n_per_attack, "heldout")


def table3_beside_paper(cfg: Any, data: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, Any]]:
    """The Table III protocol (10-fold CV accuracy per attack) on ``data``'s rows and on as many rows of the
    paper detector's data set of the same protocol (the same seeded draws: the same images, coins and attacked
    model)."""

    table3 = {}
    for attack in ATTACK_NAMES:
        fa, ya = data[attack]["features"].astype(np.float64), data[attack]["label"]
        oof, folds = cross_validate(cfg, fa, ya, choose_params(cfg, fa, ya))
        with np.load(detector_data_path(cfg.dataset, attack, cfg.protocol)) as z:
            fp, yp = z["features"][: cfg.n_for(attack)].astype(np.float64), z["label"][: cfg.n_for(attack)]
        _, folds_p = cross_validate(cfg, fp, yp, choose_params(cfg, fp, yp))
        table3[attack] = {"variant": float(np.mean([s["accuracy"] for s in folds])),
                          "paper_same_rows": float(np.mean([s["accuracy"] for s in folds_p])),
                          "variant_pooled": scores(ya, oof), "rows": int(len(ya))}
    return table3


def harden(dataset: str, variant: str = "robust", n: int = 2000, seed: int = 0, data_root: str | None = None,
           progress: Callable | None = None, device: str = "cpu",
           n_per_attack: tuple[tuple[str, int], ...] = (), recheck: bool = False) -> dict[str, Any]:
    """Build, calibrate and ship the ``variant`` detector of ``dataset``; write its Table III check.

    ``recheck``: only redo the Table III check (e.g. after the paper detector's data set was remade), with the
    shipped variant detector, its operating points and every result made with them left as they are."""

    check_variant(variant)
    if variant == "paper":
        raise ValueError("the paper's detector is made by `python -m core pipeline`")
    cfg = PipelineConfig(dataset, n=n, n_per_attack=n_per_attack, seed=seed, data_root=data_root, protocol="heldout")
    data = variant_data(dataset, variant, n, seed, data_root, progress, device, n_per_attack)
    command = COMMAND.format(dataset=dataset, variant=variant) + rows_options(n, seed, dict(n_per_attack))
    path = artifacts_dir() / variant_relpath(dataset, variant)
    if recheck:
        shipped = read_variant(dataset, variant)
        if (shipped["n_per_attack"], shipped["n_attack"], shipped["seed"]) != (n, dict(n_per_attack), seed):
            raise ValueError("--recheck needs the shipped variant's rows:"
                             + rows_options(shipped["n_per_attack"], shipped["seed"], shipped["n_attack"]))
        doc = {**shipped, "table3": table3_beside_paper(cfg, data), "table3_code_version": code_version()}
        write_json(path, doc)
        register_file(path, f"{command} --recheck")
        return doc
    f = np.concatenate([data[a]["features"] for a in ATTACK_NAMES]).astype(np.float64)
    y = np.concatenate([data[a]["label"] for a in ATTACK_NAMES])
    src = np.concatenate([data[a]["source_index"] for a in ATTACK_NAMES])
    det = fit_detector(cfg, "all", f, y, src)  # as the shipped detectors are: feature map, params, Platt, roles
    det.variant = variant
    det.meta |= {"n_per_attack": {a: cfg.n_for(a) for a in ATTACK_NAMES}, "command": command}
    params, head = det.meta["params"], det.head
    store(det, command)
    calibrate(dataset, data_root, variant=variant, device=device)
    table3 = table3_beside_paper(cfg, data)
    doc = {"dataset": dataset, "variant": variant, "command": command, "code_version": code_version(), "seed": seed,
           "n_per_attack": n, "n_attack": dict(n_per_attack), "params": params, "n_support": int(len(head.dual_coef)),
           "protocol": "heldout", "roles": det.meta["roles"],
           "note": "table3: 10-fold CV accuracy per attack (Table III protocol) on the variant's rows and on the first "
                   "n rows of the default detector's data set (held-out protocol: the test split's detector role)",
           "table3": table3}
    write_json(path, doc)
    register_file(path, command)
    return doc


def rows_options(n: int, seed: int, n_attack: dict[str, int]) -> str:
    """The options of ``harden`` that draw a variant's rows, exactly (recorded in its command)."""
    return f" --n {n} --seed {seed}" + "".join(f" --n-attack {a}={k}" for a, k in n_attack.items())


def read_variant(dataset: str, variant: str) -> dict[str, Any]:
    """The shipped ``variant_<variant>.json`` of ``dataset`` (hash-checked)."""

    return read_json(verified_path(variant_relpath(dataset, variant)))


def format_variant(doc: dict[str, Any]) -> str:
    lines = [f"{doc['dataset']} variant {doc['variant']}: {doc['n_support']} support vectors, (C, γ) = "
             f"({doc['params']['C']}, {doc['params']['gamma']}); Table III protocol, 10-fold CV accuracy "
             f"on {doc['n_per_attack']} rows per attack",
             *table3_rows(doc["table3"], "variant", "paper")]
    return "\n".join(lines)


def table3_rows(table3: dict[str, dict[str, Any]], ours: str, theirs: str) -> list[str]:
    """A header and one line per attack: the two accuracies on the same rows and their difference."""
    return [f"{'attack':<18}{ours:>10}{theirs:>10}{'Δ':>8}"] + [
        f"{a:<18}{r['variant']:>10.3f}{r['paper_same_rows']:>10.3f}{r['variant'] - r['paper_same_rows']:>+8.3f}"
        for a, r in table3.items()]


def compare_pair(dataset: str, role: str, n: int = 600, seed: int = 0, data_root: str | None = None,
                 progress: Callable | None = None, device: str = "cpu",
                 n_per_attack: tuple[tuple[str, int], ...] = ()) -> dict[str, Any]:
    """Which pair to ship, by measurement: the Table III protocol on the same seeded rows for the pair of
    ``role`` (a candidate, e.g. ``surrogate``: weights adopted from a GPU run) and for the shipped pair, beside
    both pairs' test accuracy and parameters; writes ``artifacts/results/<D>/pair_<role>.json``."""

    if role == "model":
        raise ValueError("compare another role's pair with the shipped one (e.g. --role surrogate)")
    cfg = PipelineConfig(dataset, n=n, n_per_attack=n_per_attack, seed=seed, data_root=data_root)
    table3 = table3_beside_paper(cfg, pair_data(dataset, role, n, seed, data_root, progress, device, n_per_attack))
    models = read_manifest()["models"]
    pairs = {r: [{k: models[model_key(dataset, w, r)].get(k) for k in ("arch", "options", "parameters",
                                                                       "test_accuracy", "epochs", "provenance")}
                 for w in (1, 2)] for r in ("model", role)}
    command = make_command("pair", dataset, role=role)
    doc = {"dataset": dataset, "role": role, "command": command, "code_version": code_version(), "seed": seed,
           "n_per_attack": {a: cfg.n_for(a) for a in ATTACK_NAMES}, "pairs": pairs,
           "note": "table3: 10-fold CV accuracy per attack (Table III protocol) over the candidate pair ('variant') "
                   "and over the shipped pair ('paper_same_rows'), on the same seeded draws", "table3": table3}
    path = result_path(dataset, f"pair_{role}")
    write_json(path, doc)
    register_file(path, command)
    return doc


def format_pair(doc: dict[str, Any]) -> str:
    lines = [f"{doc['dataset']}: the {doc['role']} pair against the shipped pair, Table III protocol on the same rows",
             f"{'pair':<10}{'model 1':>10}{'model 2':>10}  (test accuracy %)"]
    for r, p in doc["pairs"].items():
        lines.append(f"{r:<10}{p[0]['test_accuracy']:>10}{p[1]['test_accuracy']:>10}")
    return "\n".join(lines + table3_rows(doc["table3"], doc["role"], "shipped"))


ADAPTIVE_COLUMNS = ("no_detector", "joint_pgd", "feature_matching", "s_pgd", "o_pgd", "transfer")


def variants_table(datasets: Sequence[str]) -> str:
    """Every detector variant of ``datasets`` with committed security results, side by side (the README's table),
    from the files alone: the answering model's clean accuracy, the held-out clean FPR at the 5 % point, the worst
    Table III cell against the paper detector on the same rows, each detector-aware attacker's ε50 with its ratio
    to the paper detector's, and the lowest such ratio (the 2× target is on it)."""

    models = read_manifest()["models"]
    labels = ["plain PGD, no detector" if a == "no_detector" else ADAPTIVE_SPECS[a].label for a in ADAPTIVE_COLUMNS]
    lines = ["| dataset | variant | images | model 1 clean acc. | held-out FPR at 5 % | Table III worst Δ | "
             + " | ".join(f"ε50 {t}" for t in labels) + " | lowest adaptive ratio |",
             "|---" * (7 + len(labels)) + "|"]
    for d in datasets:
        paper = read_security(d)["eps50"]
        for v in (v for v in VARIANTS if security_path(d, v).exists()):
            sec = read_security(d, v)
            cells, ratios = [], []
            for a in ADAPTIVE_COLUMNS:
                e = sec["eps50"][a]
                r = e / paper[a] if v != "paper" and e is not None and paper[a] else None
                cells.append(eps_text(e, d) + ("" if r is None else f" ({r:.2f}×)"))
                if r is not None and a != "no_detector":
                    ratios.append(r)
            worst = "" if v == "paper" else "{:+.3f} ({})".format(*min(
                (r["variant"] - r["paper_same_rows"], a) for a, r in read_variant(d, v)["table3"].items()))
            acc = models[model_key(d, 1, VARIANT_PAIRS[v])]["test_accuracy"]
            fpr = sec["operating_points"]["clean_fpr_held_out"]["0.05"]
            lowest = f"{min(ratios):.2f}×" if ratios else ""
            lines.append(f"| {d} | {v} | {len(sec['images']['indices'])} | {acc:.2f} % | {fpr:.3f} | "
                         f"{worst} | " + " | ".join(cells) + f" | {lowest} |")
    return "\n".join(lines)
