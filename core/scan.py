"""Scan images for attacks: both models' predictions, their agreement, and every shipped detector's verdict.

``scan(x, m1, m2, detectors)`` computes the 20 features once and scores them
with each detector (the universal ``all`` and one per attack), so scanning is
cheap.  ``rows_to_csv`` gives the batch table as CSV.  No Streamlit here.
"""
from __future__ import annotations

import csv
import io
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from .data import CLASSES
from .detector import pair_features


def scan(dataset: str, x: torch.Tensor, m1: torch.nn.Module, m2: torch.nn.Module,
         detectors: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """One dict per image: ``probs_1``, ``probs_2``, ``pred_1``, ``pred_2``, ``agree``, ``p_attack`` per detector, ``flagged``."""
    x = torch.as_tensor(x, dtype=torch.float32)
    f = pair_features(m1, m2, x).double().numpy()
    scores = {name: np.asarray(det.predict_proba_features(f)) for name, det in (detectors or {}).items()}
    thresholds = {name: float(getattr(det, "threshold", 0.5)) for name, det in (detectors or {}).items()}
    classes = CLASSES[dataset]
    out = []
    for i in range(len(x)):
        p1, p2 = f[i, :10], f[i, 10:]
        a, b = int(p1.argmax()), int(p2.argmax())
        p_attack = {name: float(s[i]) for name, s in scores.items()}
        out.append({"probs_1": p1, "probs_2": p2, "pred_1": a, "pred_2": b, "class_1": classes[a], "class_2": classes[b],
                    "conf_1": float(p1[a]), "conf_2": float(p2[b]), "agree": a == b, "p_attack": p_attack,
                    "flagged": {name: p >= thresholds[name] for name, p in p_attack.items()}})
    return out


def table_rows(names: Sequence[str], results: Sequence[dict[str, Any] | None], errors: Sequence[str | None] = ()) -> list[dict[str, Any]]:
    """Flat rows for a table/CSV: one per file, errors included (with empty scores)."""
    errors = list(errors) or [None] * len(names)
    rows = []
    for name, r, err in zip(names, results, errors):
        row: dict[str, Any] = {"file": name}
        if r is None:
            row["error"] = err or "not scanned"
            rows.append(row)
            continue
        row.update({"model_1": r["class_1"], "conf_1": round(r["conf_1"], 4), "model_2": r["class_2"],
                    "conf_2": round(r["conf_2"], 4), "agree": r["agree"]})
        if "all" in r["p_attack"]:
            row["p_attack_all"] = round(r["p_attack"]["all"], 4)
            row["verdict"] = "ATTACK" if r["flagged"]["all"] else "clean"
        for det, p in r["p_attack"].items():
            if det != "all":
                row[f"p_{det}"] = round(p, 4)
        row["error"] = ""
        rows.append(row)
    return rows


def rows_to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """CSV text of ``table_rows`` output (union of columns, first-seen order)."""
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()
