"""Scan images for attacks: both models' predictions, their agreement, and every shipped detector's verdict.

``scan(x, m1, m2, detectors, fpr)`` computes the 20 features once and scores them
with each detector (the universal ``all`` and one per attack), so scanning is
cheap.  Every verdict is at an operating point: the detector flags an image when
its P(attack) is above ``detector.threshold(fpr)``, the threshold that gives clean
false-positive rate ``fpr`` on held-out clean test images.  ``rows_to_csv`` gives
the batch table as CSV.  No Streamlit here.
"""
from __future__ import annotations

import csv
import io
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from pandas.io.formats.style import Styler

from core.app.glossary import fpr_words  # noqa: F401  (scan's callers use it)
from core.data import CLASSES
from core.detector import pair_features
from core.detector.thresholds import DEFAULT_FPR, check_fpr


def verdict_column(fpr: float) -> str:
    """The name of the verdict column, which states its operating point (``"verdict at 5 % clean FPR"``)."""
    return f"verdict at {100 * check_fpr(fpr):g} % clean FPR"


def thresholds(detectors: Mapping[str, Any] | None,
               fpr: float = DEFAULT_FPR) -> tuple[dict[str, float], dict[str, str]]:
    """Each detector's P(attack) threshold at ``fpr``; the second dict says why a detector has none.

    A detector shipped before operating points existed raises ``RuntimeError`` from ``threshold``: it keeps
    its scores but gives no verdict, so a scan never crashes on it.
    """
    check_fpr(fpr)
    out, why = {}, {}
    for name, det in (detectors or {}).items():
        try:
            out[name] = float(det.threshold(fpr))
        except RuntimeError as e:
            why[name] = str(e)
    return out, why


def scan(dataset: str, x: torch.Tensor, m1: torch.nn.Module, m2: torch.nn.Module,
         detectors: Mapping[str, Any] | None = None, fpr: float = DEFAULT_FPR) -> list[dict[str, Any]]:
    """One dict per image: ``probs_1``, ``probs_2``, ``pred_1``, ``pred_2``, ``agree``, ``p_attack`` per detector,
    ``flagged`` per detector (``P(attack) > threshold(fpr)``; ``None`` without operating points), ``threshold``
    per detector, ``fpr`` and ``no_operating_point`` (detector → why)."""
    x = torch.as_tensor(x, dtype=torch.float32)
    f = pair_features(m1, m2, x).double().numpy()
    scores = {name: np.asarray(det.predict_proba_features(f)) for name, det in (detectors or {}).items()}
    thr, why = thresholds(detectors, fpr)
    classes = CLASSES[dataset]
    out = []
    for i in range(len(x)):
        p1, p2 = f[i, :10], f[i, 10:]
        a, b = int(p1.argmax()), int(p2.argmax())
        p_attack = {name: float(s[i]) for name, s in scores.items()}
        out.append({"probs_1": p1, "probs_2": p2, "pred_1": a, "pred_2": b, "class_1": classes[a],
                    "class_2": classes[b], "conf_1": float(p1[a]), "conf_2": float(p2[b]), "agree": a == b,
                    "p_attack": p_attack,
                    "flagged": {name: (p > thr[name]) if name in thr else None for name, p in p_attack.items()},
                    "threshold": {name: thr.get(name) for name in p_attack}, "fpr": float(fpr),
                    "no_operating_point": dict(why)})
    return out


def verdict_word(flagged: bool | None) -> str:
    """``ATTACK`` / ``clean``, or ``no operating point`` for a detector that cannot give a verdict."""
    return "no operating point" if flagged is None else "ATTACK" if flagged else "clean"


def table_rows(names: Sequence[str], results: Sequence[dict[str, Any] | None], errors: Sequence[str | None] = (),
               fpr: float = DEFAULT_FPR) -> list[dict[str, Any]]:
    """Flat rows for a table/CSV: one per file, errors included (with empty scores).

    The universal detector's verdict column is named after the operating point (``verdict_column(fpr)``) and
    its threshold is a column of its own, so a saved CSV says at which clean false-positive rate it judged.
    """
    errors = list(errors) or [None] * len(names)
    col = verdict_column(fpr)
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
            thr = r.get("threshold", {}).get("all")
            row["p_attack_all"] = round(r["p_attack"]["all"], 4)
            row["threshold_all"] = None if thr is None else float(f"{thr:.6g}")
            row[col] = verdict_word(r["flagged"]["all"])
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


FLAGGED_STYLE = "background-color: #fde2e1; color: #8b1a1a; font-weight: 600"  # a row the detector flags
ERROR_STYLE = "background-color: #f0f0f0; color: #555555; font-style: italic"  # a file that could not be scanned


def _cell_text(v: Any) -> str:
    """A table cell as text: blank for a missing value, ``0.9998`` for a float."""
    if v is None or v != v:  # None or NaN
        return ""
    return f"{v:g}" if isinstance(v, float) else str(v)


def batch_table(rows: Sequence[dict[str, Any]], verdict_col: str) -> Styler:
    """``table_rows`` output as the Scan page shows it: file, verdict and error first; flagged rows in red, files
    that could not be read in grey with their error in the error column and "not scanned" as verdict; no "None"
    in empty cells."""
    df = pd.DataFrame(list(rows))
    if verdict_col not in df:
        df[verdict_col] = None
    if "error" not in df:
        df["error"] = ""
    failed = df["error"].fillna("").astype(str) != ""
    df.loc[failed, verdict_col] = "not scanned"
    df["error"] = df["error"].fillna("")
    scores = [c for c in df.columns if c not in ("file", verdict_col, "error")]
    if failed.any() and scores:  # blank, not "None" (Styler's na_rep is not used): the scores become text
        df[scores] = df[scores].map(_cell_text)
    first = ["file", verdict_col, "error"]
    df = df[first + [c for c in df.columns if c not in first]]

    def style(row: pd.Series) -> list[str]:
        css = ERROR_STYLE if failed[row.name] else FLAGGED_STYLE if row[verdict_col] == verdict_word(True) else ""
        return [css] * len(row)

    return df.style.apply(style, axis=1).format(na_rep="", precision=4)
