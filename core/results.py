"""Read-only access to the result files the dashboard shows, as plain dicts and numpy arrays.

Every loader raises ``FileNotFoundError`` whose message names the command that
makes the missing file, so a page can show it as is.  The loaders are lenient
about the exact layout of the files written by the pipeline (``core.pipeline``)
and the attack-quality run: they look for the documented keys and fall back
to a few sensible alternatives, normalising everything to the attack order of
``core.ATTACK_NAMES``.  Nothing here imports Streamlit.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import ATTACK_NAMES
from .io import read_json
from .paths import artifacts_dir, check_dataset

ATTACK_LABELS = {
    "fgsm": "FGSM", "igsm": "IGSM", "jsma": "JSMA", "deepfool": "DeepFool",
    "gaussian_blur": "Gaussian blur", "gaussian_noise": "Gaussian noise", "salt_and_pepper": "Salt & pepper",
}


def pipeline_command(dataset: str, stage: str | None = None) -> str:
    return f"python -m core pipeline --dataset {dataset}" + (f" --stage {stage}" if stage else "")


def commands(dataset: str) -> dict[str, str]:
    """The command that (re)makes each result; a file's own recorded ``command`` wins when present."""
    return {
        "table1": f"python -m core evaluate-models --dataset {dataset}",
        "table2": f"python -m core attack-quality --dataset {dataset}",
        "table3": pipeline_command(dataset, "cv"),
        "transfer": pipeline_command(dataset, "transfer"),
        "loao": pipeline_command(dataset, "transfer"),
        "table4": pipeline_command(dataset, "baselines"),
        "embeddings": pipeline_command(dataset, "embeddings"),
        "adversarial": pipeline_command(dataset, "data"),
        "detectors": pipeline_command(dataset, "detectors"),
    }


def results_dir(dataset: str) -> Path:
    return artifacts_dir() / "results" / check_dataset(dataset)


def _missing(path: Path, dataset: str, what: str) -> FileNotFoundError:
    return FileNotFoundError(f"{path.relative_to(artifacts_dir().parent) if path.is_relative_to(artifacts_dir().parent) else path} "
                             f"is not there yet: make it with `{commands(dataset)[what]}`")


def load_json_result(dataset: str, name: str) -> dict[str, Any]:
    """``artifacts/results/<dataset>/<name>.json`` as a dict (``name``: table2, table3, transfer, loao, table4)."""
    path = results_dir(dataset) / f"{name}.json"
    if not path.exists():
        raise _missing(path, dataset, name)
    return read_json(path)


def command_of(result: dict[str, Any], dataset: str, name: str) -> str:
    """The command recorded in a result file, else the default one."""
    for k in ("command",):
        if isinstance(result.get(k), str) and result[k]:
            return result[k]
    meta = result.get("meta") or result.get("provenance") or {}
    if isinstance(meta, dict) and isinstance(meta.get("command"), str):
        return meta["command"]
    return commands(dataset)[name]


def _per_attack(d: dict[str, Any]) -> dict[str, Any]:
    """Find the ``{attack: ...}`` mapping inside a result (top level, or under rows/attacks/results)."""
    if any(a in d for a in ATTACK_NAMES):
        return {a: d[a] for a in ATTACK_NAMES if a in d}
    for k in ("table2", "table3", "table4", "loao", "rows", "attacks", "results", "per_attack", "table"):
        v = d.get(k)
        if isinstance(v, dict) and any(a in v for a in ATTACK_NAMES):
            return {a: v[a] for a in ATTACK_NAMES if a in v}
        if isinstance(v, list) and v and isinstance(v[0], dict) and "attack" in v[0]:
            return {r["attack"]: r for r in v if r.get("attack") in ATTACK_NAMES}
    return {}


def _num(v: Any) -> float | None:
    """A metric value: plain number, or the mean of ``{"mean": .., "std": ..}``; NaN and None → None."""
    if isinstance(v, dict):
        v = v.get("mean", v.get("value"))
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(f) else f


def _std(v: Any) -> float | None:
    return _num(v.get("std")) if isinstance(v, dict) else None


def table2(dataset: str) -> dict[str, Any]:
    """Attack quality: ``{"rows": {attack: {"mse", "success_rate_percent", ...}}, "command", "raw"}``."""
    raw = load_json_result(dataset, "table2")
    rows = {}
    for a, r in _per_attack(raw).items():
        rate = _num(r.get("success_rate_percent", r.get("success_rate")))
        if rate is not None and "success_rate_percent" not in r and rate <= 1.0:
            rate *= 100.0
        rows[a] = {"mse": _num(r.get("mse", r.get("mse_mean"))), "success_rate_percent": rate,
                   **{k: _num(v) for k, v in r.items() if k not in ("mse", "mse_mean", "success_rate", "success_rate_percent",
                                                                     "attack") and _num(v) is not None}}
    return {"rows": rows, "command": command_of(raw, dataset, "table2"), "raw": raw}


def table3(dataset: str) -> dict[str, Any]:
    """10-fold CV: ``{"rows": {attack: {"accuracy", "f1", "auc", "<metric>_std"...}}, "command", "raw"}``."""
    raw = load_json_result(dataset, "table3")
    rows = {}
    for a, r in _per_attack(raw).items():
        scores = r.get("scores", r.get("cv", r)) if isinstance(r, dict) else {}
        row = {}
        std = scores.get("std", {}) if isinstance(scores.get("std"), dict) else {}
        for m in ("accuracy", "f1", "auc", "auc_hard", "detection_rate", "fpr"):
            if m in scores:
                row[m], row[m + "_std"] = _num(scores[m]), _std(scores[m]) if _std(scores[m]) is not None else _num(std.get(m))
        params = r.get("params", {}) if isinstance(r.get("params"), dict) else {}
        for k in ("C", "gamma"):
            if k in params or k in r:
                row[k] = params.get(k, r.get(k))
        for k in ("rows", "attacks", "folds"):
            if k in r:
                row[k] = r[k]
        rows[a] = row
    return {"rows": rows, "command": command_of(raw, dataset, "table3"), "raw": raw}


def _matrix(v: Any) -> np.ndarray | None:
    if v is None:
        return None
    if isinstance(v, dict) and any(a in v for a in ATTACK_NAMES):  # {train: {test: value}}
        return np.array([[_nan(v.get(tr, {}).get(te)) for te in ATTACK_NAMES] for tr in ATTACK_NAMES], float)
    arr = np.array([[_nan(c) for c in row] for row in v], float)
    return arr if arr.shape == (7, 7) else None


def _nan(v: Any) -> float:
    f = _num(v)
    return np.nan if f is None else f


def transfer(dataset: str) -> dict[str, Any]:
    """Train-on-one/test-on-another: ``{"accuracy": [7,7], "auc": [7,7] or None, "confusion": {(tr,te): [[tn,fp],[fn,tp]]}, ...}``.

    Rows are the attack the detector was trained on, columns the attack it is tested on (``ATTACK_NAMES`` order).
    """
    raw = load_json_result(dataset, "transfer")
    src = raw.get("matrices", raw)
    out: dict[str, Any] = {"attacks": list(ATTACK_NAMES), "command": command_of(raw, dataset, "transfer"), "raw": raw}
    for metric in ("accuracy", "auc", "f1", "detection_rate", "fpr", "auc_hard"):
        out[metric] = _matrix(src.get(metric))
    conf = raw.get("confusion") or raw.get("confusion_matrices") or {}
    pairs: dict[tuple[str, str], np.ndarray] = {}
    if isinstance(conf, dict):
        for tr, inner in conf.items():
            if isinstance(inner, dict):
                for te, m in inner.items():
                    pairs[(tr, te)] = np.asarray(m)
            elif isinstance(conf, dict) and "|" in tr:
                a, b = tr.split("|", 1)
                pairs[(a, b)] = np.asarray(inner)
    elif isinstance(conf, list) and len(conf) == 7:
        for i, row in enumerate(conf):
            for j, m in enumerate(row):
                if m is not None:
                    pairs[(ATTACK_NAMES[i], ATTACK_NAMES[j])] = np.asarray(m)
    out["confusion"] = pairs
    return out


def paper_transfer(dataset: str) -> np.ndarray:
    """The paper's Figure 5 (MNIST) / 6 (CIFAR-10) accuracy matrix, NaN on the diagonal."""
    from .paper import paper_results

    return _matrix(paper_results()["transfer_accuracy_rows_train_cols_test"][check_dataset(dataset)])


def loao(dataset: str) -> dict[str, Any]:
    """Leave-one-attack-out: ``{"rows": {held_out_attack: {"accuracy", "auc", ...}}, "command", "raw"}``."""
    raw = load_json_result(dataset, "loao")
    rows = {}
    for a, r in _per_attack(raw).items():
        scores = r.get("scores", r) if isinstance(r, dict) else {"accuracy": r}
        rows[a] = {m: _num(scores[m]) for m in ("accuracy", "f1", "auc", "detection_rate", "fpr") if m in scores}
    return {"rows": rows, "command": command_of(raw, dataset, "loao"), "raw": raw}


def table4(dataset: str) -> dict[str, Any]:
    """Detection rate per method and attack: ``{"methods": {method: {attack: rate or None}}, "command", "raw"}``."""
    raw = load_json_result(dataset, "table4")
    methods: dict[str, dict[str, float | None]] = {}
    fpr: dict[str, dict[str, float | None]] = {}
    per_attack = _per_attack(raw)
    if per_attack:  # {attack: {method: {detection_rate, fpr, ...}}} (core.pipeline.baselines)
        for a, per in per_attack.items():
            for method, r in per.items():
                if isinstance(r, dict) and "detection_rate" in r:
                    methods.setdefault(method, {})[a] = _num(r["detection_rate"])
                    fpr.setdefault(method, {})[a] = _num(r.get("fpr"))
    else:  # {method: {attack: rate}}
        src = raw.get("methods", raw.get("detection_rate", raw))
        for method, per in src.items():
            if isinstance(per, dict) and any(a in per for a in ATTACK_NAMES):
                methods[method] = {a: _num(per[a].get("detection_rate") if isinstance(per[a], dict) else per[a])
                                   for a in ATTACK_NAMES if a in per}
    return {"methods": methods, "fpr": fpr, "command": command_of(raw, dataset, "table4"), "raw": raw}


def _npz(path: Path, dataset: str, kind: str) -> dict[str, np.ndarray]:
    """Every array of a shipped ``.npz`` (never unpickled); a missing file names the command that makes it."""
    if not path.exists():
        raise _missing(path, dataset, kind)
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def embedding_path(dataset: str, attack: str) -> Path:
    return results_dir(dataset) / "embeddings" / f"{attack}.npz"


def embedding_attacks(dataset: str) -> list[str]:
    """Attacks with an embeddings file, in the canonical order."""
    return [a for a in ATTACK_NAMES if embedding_path(dataset, a).exists()]


def embedding(dataset: str, attack: str) -> dict[str, np.ndarray]:
    """All arrays of ``embeddings/<attack>.npz`` (coordinates per method × space, labels, model, indices)."""
    return _npz(embedding_path(dataset, attack), dataset, "embeddings")


def embedding_separability(dataset: str, attack: str) -> dict[str, float]:
    """10-NN 3-fold CV accuracy, attack vs clean, in each 2-D map of the attack's embeddings (0.5 = mixed)."""
    from .pipeline.embeddings import separability

    path = embedding_path(dataset, attack)
    if not path.exists():
        raise FileNotFoundError(f"no embeddings for {dataset}/{attack} at {path}")
    return separability(path)


def embedding_coords(emb: dict[str, np.ndarray], method: str, space: str) -> np.ndarray | None:
    """The ``[N, 2]`` coordinates of ``method`` (tsne/umap) on ``space`` (pixels/features), whatever the key spelling."""
    for key in (f"{method}_{space}", f"{space}_{method}", f"{method}/{space}", f"{space}/{method}"):
        if key in emb:
            return np.asarray(emb[key], np.float32)
    return None


def adversarial_path(dataset: str, attack: str) -> Path:
    return artifacts_dir() / "adversarial" / check_dataset(dataset) / f"{attack}.npz"


def adversarial_attacks(dataset: str) -> list[str]:
    return [a for a in ATTACK_NAMES if adversarial_path(dataset, a).exists()]


def adversarial(dataset: str, attack: str) -> dict[str, np.ndarray]:
    """Shipped adversarial examples: ``x`` float32 ``[N,C,H,W]`` in [0,1] plus every other array in the file."""
    path = adversarial_path(dataset, attack)
    d = _npz(path, dataset, "adversarial")
    key = next((k for k in ("x_adv", "x", "images", "adversarial") if k in d), None)
    if key is None:
        raise ValueError(f"{path} holds no image array (keys: {', '.join(d)})")
    x = d[key]
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    d["x"] = x
    return d


def status(dataset: str) -> dict[str, bool]:
    """Which result files exist (for an overview)."""
    r = results_dir(dataset)
    return {**{n: (r / f"{n}.json").exists() for n in ("table2", "table3", "transfer", "loao", "table4")},
            "embeddings": bool(embedding_attacks(dataset)), "adversarial": bool(adversarial_attacks(dataset))}


def embedding_images(dataset: str, attack: str, emb: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """The images behind embedding points ``rows``: float32 ``[k,C,H,W]``.

    Attack points (label 1) index the shipped adversarial examples, clean points the ``clean_x`` stored
    in the embeddings file itself (``image_index`` in both cases).
    """
    rows = np.asarray(rows, np.int64)
    idx, lab = emb["image_index"][rows], emb["label"][rows]
    adv = adversarial(dataset, attack)["x"] if (lab == 1).any() else None
    clean = emb["clean_x"]
    out = [adv[i] if l == 1 else clean[i].astype(np.float32) / 255.0 for i, l in zip(idx, lab)]
    return np.stack(out).astype(np.float32) if out else np.zeros((0,), np.float32)


def detector_data_path(dataset: str, attack: str) -> Path:
    return results_dir(dataset) / "detector_data" / f"{attack}.npz"


def confusion(dataset: str, trained_on: str, tested_on: str) -> dict[str, Any]:
    """Confusion matrix of the shipped detector trained on ``trained_on`` applied to every row of ``tested_on``.

    ``{"matrix": [[tn, fp], [fn, tp]], "accuracy", "rows", "note"}``; uses the stored 20 features, so it is fast.
    On the diagonal the detector has seen these rows in training (in-sample), unlike the 10-fold CV in the matrix.
    """
    from .detector import load

    path = detector_data_path(dataset, tested_on)
    if not path.exists():
        raise _missing(path, dataset, "adversarial")
    det = load(dataset, trained_on)
    with np.load(path, allow_pickle=False) as z:
        f, y = z["features"].astype(np.float64), z["label"].astype(np.int64)
    pred = det.head.predict(f)  # the paper's protocol, as in the transfer matrix: SVM decision > 0
    m = np.zeros((2, 2), np.int64)
    np.add.at(m, (y, pred), 1)
    note = ("in-sample: this detector was trained on these rows (the matrix cell is 10-fold CV)"
            if trained_on == tested_on else "the detector never saw this attack in training")
    return {"matrix": m, "accuracy": float((pred == y).mean()) if len(y) else float("nan"), "rows": int(len(y)),
            "rule": "SVM decision > 0 (the paper's protocol)", "note": note}
