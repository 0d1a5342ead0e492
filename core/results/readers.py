"""Read-only access to the shipped result files, for the dashboard and ``python -m core report``.

One loader per file, strict about the one schema its writer uses (``core.experiments.table2`` writes
``table2.json``; the pipeline's stages ``cv``, ``transfer``, ``baselines``, ``data`` and ``embeddings`` the
others).  A missing file raises ``FileNotFoundError`` naming the command that makes it, so a page can show it
as is.  ``versus_paper`` is the one place where ours and the paper's numbers are set side by side.
"""
from __future__ import annotations

from pathlib import Path
from string import Formatter
from typing import Any

import numpy as np

from core import ATTACK_NAMES
from core.detector import load
from core.io.files import read_json
from core.io.manifest import read_manifest
from core.io.paper import paper_results, paper_table1
from core.io.paths import (
    MAKE_COMMANDS,
    adversarial_path,
    artifacts_dir,
    check_dataset,
    detector_data_path,
    embedding_path,
    make_command,
    result_path,
    results_dir,
)
from core.models import model_key
from core.results.metrics import separability

__all__ = [
    "table1_rows",
    "adversarial",
    "adversarial_attacks",
    "adversarial_path",
    "command_of",
    "commands",
    "confusion",
    "detector_data_path",
    "detector_data_summary",
    "embedding",
    "embedding_attacks",
    "embedding_coords",
    "embedding_images",
    "embedding_path",
    "embedding_separability",
    "load_json_result",
    "loao",
    "paper_transfer",
    "results_dir",
    "table2",
    "table2_rows",
    "table3",
    "table3_rows",
    "table4",
    "transfer",
    "versus_paper",
]

TABLE3_MARGIN = 0.02  # Table III's target: every metric at least the paper's minus this


def commands(dataset: str) -> dict[str, str]:
    """The command that (re)makes each result; a file's own recorded ``command`` wins when present."""


    def per_dataset(cmd: str) -> bool:  # templates with other fields (a variant, a size) need more than a dataset
        return {f for _, f, _, _ in Formatter().parse(cmd) if f} <= {"dataset"}

    return {what: make_command(what, dataset) for what, cmd in MAKE_COMMANDS.items() if per_dataset(cmd)}


def _missing(path: Path, dataset: str, what: str) -> FileNotFoundError:
    root = artifacts_dir().parent
    shown = path.relative_to(root) if path.is_relative_to(root) else path
    return FileNotFoundError(f"{shown} is not there yet: make it with `{make_command(what, dataset)}`")


def load_json_result(dataset: str, name: str) -> dict[str, Any]:
    """``artifacts/results/<dataset>/<name>.json`` as a dict (``name``: table2, table3, transfer, loao, table4)."""
    path = result_path(dataset, name)
    if not path.exists():
        raise _missing(path, dataset, name)
    return read_json(path)


def command_of(result: dict[str, Any], dataset: str, name: str) -> str:
    """The command recorded in a result file, else the one that makes it."""
    return result.get("command") or make_command(name, dataset)


def _num(v: Any) -> float | None:
    """A metric value; NaN and None → None."""
    return None if v is None or np.isnan(float(v)) else float(v)


def table2(dataset: str) -> dict[str, Any]:
    """Attack quality: ``{"rows": {attack: {"mse", "success_rate_percent", ...}}, "command", "raw"}``."""
    raw = load_json_result(dataset, "table2")
    return {
        "rows": {a: raw["attacks"][a] for a in ATTACK_NAMES if a in raw["attacks"]},
        "command": command_of(raw, dataset, "table2"),
        "raw": raw,
    }


def table3(dataset: str) -> dict[str, Any]:
    """10-fold CV: ``{"rows": {attack: {"accuracy", "f1", "auc", "auc_hard", "<metric>_std", "C", "gamma", "rows",
    "attacks", "folds"}}, "command", "raw"}``."""
    raw = load_json_result(dataset, "table3")
    rows = {}
    for a in ATTACK_NAMES:
        if a not in raw["table3"]:
            continue
        r = raw["table3"][a]
        rows[a] = {
            **{m: _num(r[m]) for m in ("accuracy", "f1", "auc", "auc_hard")},
            **{f"{m}_std": _num(v) for m, v in r["std"].items()},
            "C": r["params"]["C"],
            "gamma": r["params"]["gamma"],
            "rows": r["rows"],
            "attacks": r["attacks"],
            "folds": r["folds"],
        }
    return {"rows": rows, "command": command_of(raw, dataset, "table3"), "raw": raw}


def _full_matrix(m: list[list[float | None]], attacks: list[str]) -> np.ndarray:
    """A matrix over ``attacks`` placed in the 7×7 of ``ATTACK_NAMES`` (NaN where not measured)."""
    out = np.full((len(ATTACK_NAMES), len(ATTACK_NAMES)), np.nan)
    idx = [ATTACK_NAMES.index(a) for a in attacks]
    for i, row in zip(idx, m):
        for j, v in zip(idx, row):
            out[i, j] = np.nan if v is None else v
    return out


def transfer(dataset: str) -> dict[str, Any]:
    """Train-on-one/test-on-another: ``{"accuracy", "auc", "f1": [7, 7] arrays, "attacks", "command", "raw"}``.

    Rows are the attack the detector was trained on, columns the attack it is tested on (``ATTACK_NAMES`` order).
    """
    raw = load_json_result(dataset, "transfer")
    out: dict[str, Any] = {"attacks": list(ATTACK_NAMES), "command": command_of(raw, dataset, "transfer"), "raw": raw}
    for metric in ("accuracy", "auc", "f1"):
        out[metric] = _full_matrix(raw[metric], raw["attacks"])
    return out


def paper_transfer(dataset: str) -> np.ndarray:
    """The paper's Figure 5 (MNIST) / 6 (CIFAR-10) accuracy matrix, NaN on the diagonal."""

    return _full_matrix(
        paper_results()["transfer_accuracy_rows_train_cols_test"][check_dataset(dataset)], list(ATTACK_NAMES)
    )


def loao(dataset: str) -> dict[str, Any]:
    """Leave-one-attack-out: ``{"rows": {held_out_attack: {"accuracy", "f1", "auc", "detection_rate", "fpr"}},
    "command", "raw"}``."""
    raw = load_json_result(dataset, "loao")
    rows = {
        a: {m: _num(raw["loao"][a][m]) for m in ("accuracy", "f1", "auc", "detection_rate", "fpr")}
        for a in ATTACK_NAMES
        if a in raw["loao"]
    }
    return {"rows": rows, "command": command_of(raw, dataset, "loao"), "raw": raw}


def detector_data_summary(dataset: str) -> dict[str, Any]:
    """Stage ``data``'s summary: ``{"rows": {attack: {"success_rate", "mse_mean", "n", "attacks", ...}}, "command",
    "raw"}`` (success among attempted images, MSE over successful attacks, in the detector data sets)."""
    raw = load_json_result(dataset, "detector_data")
    return {
        "rows": {r["attack"]: r for r in raw["attacks"]},
        "command": command_of(raw, dataset, "adversarial"),
        "raw": raw,
    }


TABLE4_METHODS = ("feature_squeezing", "feinman", "ours")


def table4(dataset: str) -> dict[str, Any]:
    """Detection rate and FPR per method and attack: ``{"methods": {method: {attack: rate}}, "fpr": {...},
    "command", "raw"}``."""
    raw = load_json_result(dataset, "table4")
    per = {a: raw["table4"][a] for a in ATTACK_NAMES if a in raw["table4"]}
    return {
        "methods": {m: {a: _num(r[m]["detection_rate"]) for a, r in per.items()} for m in TABLE4_METHODS},
        "fpr": {m: {a: _num(r[m]["fpr"]) for a, r in per.items()} for m in TABLE4_METHODS},
        "command": command_of(raw, dataset, "table4"),
        "raw": raw,
    }


# -- ours beside the paper's -----------------------------------------------------------------------------------


def versus_paper(ours: float | None, paper: float | None) -> dict[str, float | None]:
    """Ours, the paper's, the difference (ours − paper) and the ratio (ours / paper); None where either is missing."""
    both = ours is not None and paper is not None
    return {
        "ours": ours,
        "paper": paper,
        "delta": round(ours - paper, 4) if both else None,
        "ratio": ours / paper if both and paper else None,
    }


def table2_rows(dataset: str, rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, float | None]]]:
    """Per attack: success rate (%) and MSE, ours beside the paper's (``rows``: ``table2(dataset)["rows"]``)."""

    paper = paper_results()["table2_attack_quality_500_images"]
    return {
        a: {
            "success": versus_paper(
                rows.get(a, {}).get("success_rate_percent"), paper["success_rate_percent"][dataset].get(a)
            ),
            "mse": versus_paper(rows.get(a, {}).get("mse"), paper["mse"][dataset].get(a)),
        }
        for a in ATTACK_NAMES
    }


def table3_rows(dataset: str, rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per attack: accuracy, F1 and AUC beside the paper's, and ``hit``: each at least the paper's − 0.02."""

    paper = paper_results()["table3_svm_10fold_cv"][dataset]
    out = {}
    for a in ATTACK_NAMES:
        o, p = rows.get(a, {}), paper.get(a, {})
        cells = {m: versus_paper(o.get(m), p.get(m)) for m in ("accuracy", "f1", "auc")}
        out[a] = {**cells, "hit": all(o[m] >= p[m] - TABLE3_MARGIN for m in cells if m in p and o.get(m) is not None)}
    return out


# -- arrays: embeddings, adversarial examples, detector data ----------------------------------------------------


def _npz(path: Path, dataset: str, kind: str) -> dict[str, np.ndarray]:
    """Every array of a shipped ``.npz`` (never unpickled); a missing file names the command that makes it."""
    if not path.exists():
        raise _missing(path, dataset, kind)
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def embedding_attacks(dataset: str) -> list[str]:
    """Attacks with an embeddings file, in the canonical order."""
    return [a for a in ATTACK_NAMES if embedding_path(dataset, a).exists()]


def embedding(dataset: str, attack: str) -> dict[str, np.ndarray]:
    """All arrays of ``embeddings/<attack>.npz`` (coordinates per method × space, labels, model, indices)."""
    return _npz(embedding_path(dataset, attack), dataset, "embeddings")


def embedding_separability(dataset: str, attack: str) -> dict[str, float]:
    """10-NN 3-fold CV accuracy, attack vs clean, in each 2-D map of the attack's embeddings (0.5 = mixed)."""

    path = embedding_path(dataset, attack)
    if not path.exists():
        raise _missing(path, dataset, "embeddings")
    return separability(path)


def embedding_coords(emb: dict[str, np.ndarray], method: str, space: str) -> np.ndarray:
    """The ``[N, 2]`` coordinates of ``method`` (tsne/umap) on ``space`` (pixels/features)."""
    return np.asarray(emb[f"{method}_{space}"], np.float32)


def adversarial_attacks(dataset: str) -> list[str]:
    return [a for a in ATTACK_NAMES if adversarial_path(dataset, a).exists()]


def adversarial(dataset: str, attack: str) -> dict[str, np.ndarray]:
    """Shipped adversarial examples: ``x`` float32 ``[N,C,H,W]`` in [0,1] (stored float16 or float32) and the rest."""
    d = _npz(adversarial_path(dataset, attack), dataset, "adversarial")
    d["x"] = d["x"].astype(np.float32)
    return d


def embedding_images(dataset: str, attack: str, emb: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """The images behind embedding points ``rows``: float32 ``[k,C,H,W]``.

    Attack points (label 1) index the shipped adversarial examples, clean points the ``clean_x`` stored
    in the embeddings file itself (``image_index`` in both cases).
    """
    rows = np.asarray(rows, np.int64)
    idx, lab = emb["image_index"][rows], emb["label"][rows]
    adv = adversarial(dataset, attack)["x"] if (lab == 1).any() else None
    clean = emb["clean_x"]
    out = [adv[i] if k == 1 else clean[i].astype(np.float32) / 255.0 for i, k in zip(idx, lab)]
    return np.stack(out).astype(np.float32) if out else np.zeros((0,), np.float32)


def confusion(dataset: str, trained_on: str, tested_on: str) -> dict[str, Any]:
    """Confusion matrix of the shipped detector trained on ``trained_on`` applied to every row of ``tested_on``.

    ``{"matrix": [[tn, fp], [fn, tp]], "accuracy", "rows", "note"}``; uses the stored 20 features, so it is fast.
    The shipped detectors are fitted on the held-out protocol's rows, so none of these rows trained them.
    """

    path = detector_data_path(dataset, tested_on)
    if not path.exists():
        raise _missing(path, dataset, "adversarial")
    det = load(dataset, trained_on)
    with np.load(path, allow_pickle=False) as z:
        f, y = z["features"].astype(np.float64), z["label"].astype(np.int64)
    pred = det.head.predict(f)  # the paper's protocol, as in the transfer matrix: SVM decision > 0
    m = np.zeros((2, 2), np.int64)
    np.add.at(m, (y, pred), 1)
    note = ("the shipped detector (held-out protocol: fitted on test images) on the paper protocol's rows, "
            "train-split images the classifiers were fitted on" + (
                "" if trained_on == tested_on else "; it never saw this attack in training"))
    return {
        "matrix": m,
        "accuracy": float((pred == y).mean()) if len(y) else float("nan"),
        "rows": int(len(y)),
        "rule": "SVM decision > 0 (the paper's protocol)",
        "note": note,
    }


def table1_rows(dataset: str) -> list[dict[str, Any]]:
    """Table I from the manifest alone (no data needed): what the app and the report show."""
    models = read_manifest().get("models", {})
    rows = []
    for which, paper_acc in zip((1, 2), paper_table1(dataset)):
        entry = models.get(model_key(dataset, which))
        ours = entry.get("test_accuracy") if entry else None
        rows.append({"dataset": dataset, "model": which, "arch": entry["arch"] if entry else "—",
                     "options": entry.get("options", {}) if entry else {}, "ours": ours, "paper": paper_acc,
                     "delta": None if ours is None else round(ours - paper_acc, 2)})
    return rows
