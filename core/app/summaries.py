"""The Security page's tables and plain-language summary, as pure functions of a ``security.json`` document.

The page (``pages/security.py``) only lays them out; the command line and the tests can build the same rows and
sentences.  Shares are fractions in [0, 1] (the page formats them as percentages); budgets are printed by
``core.security.eps_text`` (CIFAR-10 as k/255).  No Streamlit here.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from core import ATTACK_LABELS, ATTACK_NAMES, UNSEEN_LABELS
from core.app.figures import security_labels
from core.app.glossary import fpr_words
from core.detector.thresholds import fpr_key
from core.results.security import eps_text


def pct(v: float) -> str:
    """A share as a sentence says it: ``0`` → ``"0 %"``, ``0.048`` → ``"4.8 %"``, ``0.8125`` → ``"81 %"``: one
    decimal below 10 %, so that a small non-zero share never reads as 0 %."""
    p = 100 * float(v)
    if p == 0 or p >= 10:
        return f"{p:.0f} %"
    return f"{round(p, 1):g} %" if round(p, 1) > 0 else "< 0.1 %"


def headline_index(doc: dict[str, Any]) -> int:
    """Position of the headline budget on the curves' ε grid (the nearest grid point)."""
    eps = np.asarray(next(iter(doc["curves"].values()))["eps"], float)
    return int(np.argmin(np.abs(eps - float(doc["headline"]["eps"]))))


def headline_eps(doc: dict[str, Any]) -> str:
    """The headline budget as the page prints it (``"0.1"``, ``"4/255"``)."""
    return eps_text(doc["headline"]["eps"], doc["dataset"])


def success_column(doc: dict[str, Any]) -> str:
    """The ε50 table's column of successes at the headline budget."""
    return f"success at ε = {headline_eps(doc)}"


def detected_column(doc: dict[str, Any]) -> str:
    """The ε50 table's column of detections at the headline budget."""
    return f"detected at ε = {headline_eps(doc)}"


def security_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The ε50 table: one row per attack, in the file's order.

    ε50 is the median smallest budget at which the attack succeeded (for ``no_detector``: fooled model 1);
    success and detected are the shares of images at the headline budget.
    """
    labels = security_labels(doc)
    ds, j = doc["dataset"], headline_index(doc)
    rows = []
    for name, c in doc["curves"].items():
        a = doc["attacks"].get(name, {})
        ref = a.get("kind") == "reference"
        rows.append({"attack": labels.get(name, name), "kind": a.get("kind", ""),
                     "ε50": eps_text(doc["eps50"].get(name), ds),
                     success_column(doc): round(float(c["fooled" if ref else "success"][j]), 4),
                     detected_column(doc): round(float(c["detected"][j]), 4),
                     "seconds": a.get("seconds"), "verified": a.get("verified"), "reference": a.get("reference", "")})
    return rows


def baseline_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Feature Squeezing and Feinman et al. under the same attacks: the ε50 table of each, one row per attack,
    plus a row per attack it was not run against (with why)."""
    rows = []
    for name, b in doc.get("baselines", {}).items():
        for r in security_rows({**b, "dataset": doc["dataset"]}):
            rows.append({"defence": name, **r})
        for a, why in b.get("not_run", {}).items():
            rows.append({"defence": name, "attack": a, "kind": "not run", "reference": why})
    return rows


def detection_column(fpr: str | float) -> str:
    """The detection table's column at one operating point (``"detected at 5 % clean FPR"``)."""
    return f"detected at {100 * float(fpr):g} % clean FPR"


def detection_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Per paper attack: the detection rate at each operating point and the ROC's AUC."""
    labels = security_labels(doc)
    op = doc["operating_points"]
    rows = []
    for name, rates in op.get("detection", {}).items():
        row: dict[str, Any] = {"attack": labels.get(name, name)}
        for key in op.get("thresholds", {}):
            row[detection_column(key)] = rates.get(key)
        row["AUC"] = op.get("roc", {}).get(name, {}).get("auc")
        rows.append(row)
    return rows


def convergence_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The convergence check: success at the headline budget after the short and the long PGD run."""
    labels = security_labels(doc)
    conv = doc["convergence"]
    short, long = conv["steps"]
    return [{"attack": labels.get(name, name), f"{short} steps": round(r[0], 4), f"{long} steps": round(r[1], 4),
             "change": round(r[1] - r[0], 4)} for name, r in conv["success"].items()]


def _paper_sentence(doc: dict[str, Any], paper: list[str], labels: dict[str, str], j: int, e: str) -> str:
    """How far the paper's attacks (blind to the detector) get past it at the headline budget."""
    success = {a: float(doc["curves"][a]["success"][j]) for a in paper}
    top = max(paper, key=success.get)
    if len(paper) == 1:
        return (f"The paper's {labels.get(top, top)} attack, which ignores the detector, gets past it on "
                f"{pct(success[top])} of the images at ε = {e}.")
    if success[top] == 0:
        return f"None of the paper's {len(paper)} attacks, which ignore the detector, gets past it at ε = {e}."
    return (f"The paper's {len(paper)} attacks ignore the detector; the most successful, {labels.get(top, top)}, "
            f"gets past it on {pct(success[top])} of the images at ε = {e}.")


def _convergence_sentence(doc: dict[str, Any], kinds: dict[str, Any], labels: dict[str, str]) -> str | None:
    """Whether more PGD steps would have helped the attackers (None when the file has no check)."""
    conv = doc.get("convergence", {})
    gains = {a: r[1] - r[0] for a, r in conv.get("success", {}).items() if kinds.get(a) != "reference"}
    if not gains:
        return None
    a = max(gains, key=gains.get)
    r = conv["success"][a]
    short, long = conv["steps"]
    if gains[a] > 0.05:
        return (f"More PGD steps still help ({labels.get(a, a)}: {pct(r[0])} → {pct(r[1])} from {short} to "
                f"{long} steps on {conv['n']} images), so these success rates are lower bounds.")
    if gains[a] <= 0:
        return f"{long} PGD steps instead of {short} make no attack more successful: the attacks have converged."
    return (f"{long} PGD steps instead of {short} add at most {pct(gains[a])} to any attack's success "
            f"({labels.get(a, a)}): the attacks have converged.")


def security_summary(doc: dict[str, Any], selected_fpr: float | None = None) -> str:
    """What the file means for a user, in plain words, computed from its numbers (nothing hard-coded)."""
    labels = security_labels(doc)
    ds, j = doc["dataset"], headline_index(doc)
    e = headline_eps(doc)
    kinds = {a: doc["attacks"].get(a, {}).get("kind") for a in doc["curves"]}
    op = doc.get("operating_points", {})
    held = op.get("clean_fpr_held_out", {})
    key = fpr_key(doc["fpr"])
    out = [f"The detector here flags an image at {fpr_words(doc['fpr'])}"
           + (f" (on {op.get('clean_images', 0):,} held-out clean test images it flagged {pct(held[key])})"
              if key in held else "")
           + f"; the attacks ran on {doc['n']} test images both models classify correctly, changing each pixel by "
             f"at most ε, up to ε = {eps_text(max(next(iter(doc['curves'].values()))['eps']), ds)}."]
    ref = [a for a, k in kinds.items() if k == "reference"]
    if ref:
        r = ref[0]
        e50 = doc["eps50"].get(r)
        by = f", half of them already by ε = {eps_text(e50, ds)}" if e50 is not None else ""
        c = doc["curves"][r]
        flagged = (f" (with the detector on, {pct(c['detected'][j])} of the images would be caught)"
                   if c["detected"][j] > 0 else "")
        out.append(f"Without any detector, plain PGD fools model 1 on {pct(c['fooled'][j])} of them "
                   f"at ε = {e}{by}{flagged}.")
    paper = [a for a, k in kinds.items() if k == "paper"]
    best_paper = max((doc["curves"][a]["success"][j] for a in paper), default=None)
    if paper:
        out.append(_paper_sentence(doc, paper, labels, j, e))
    best, best_s = doc["headline"].get("best_adaptive"), doc["headline"].get("best_success")
    if best is not None and best_s is not None:
        e50 = doc["eps50"].get(best)
        much = "far " if best_paper is not None and best_s - best_paper >= 0.3 else ""
        out.append(f"An attacker who knows the detector does {much}better: {labels.get(best, best)} evades it on "
                   f"{pct(best_s)} of the images at ε = {e}"
                   + (f" (half of them by ε = {eps_text(e50, ds)})" if e50 is not None else "") + ".")
        if best_s >= 0.5:
            out.append("So the detector stops attacks that ignore it, but not an attacker who targets it: treat its "
                       "verdict as a filter against blind attacks, not as a security guarantee.")
        elif best_s >= 0.1:
            out.append("So an attacker who targets the detector gets through on a minority of images: the detector "
                       "raises the cost of an attack without ruling it out.")
        else:
            out.append("Even attackers who target the detector rarely get past it within these budgets.")
    conv = _convergence_sentence(doc, kinds, labels)
    if conv:
        out.append(conv)
    unverified = [a for a, info in doc["attacks"].items() if info.get("verified", 1.0) < 0.999]
    if unverified:
        out.append("Re-checked on a fresh forward pass, some claimed successes do not hold ("
                   + ", ".join(f"{labels.get(a, a)} {pct(doc['attacks'][a]['verified'])}" for a in unverified)
                   + " of them do).")
    if selected_fpr is not None and fpr_key(selected_fpr) != key:
        sk = fpr_key(selected_fpr)
        det = [v.get(sk) for v in op.get("detection", {}).values() if v.get(sk) is not None]
        out.append(f"The sidebar's operating point ({fpr_words(selected_fpr)}) is not the one these curves were "
                   f"measured at" + (f"; at it the detector flags {pct(held[sk])} of held-out clean images"
                                     if sk in held else "")
                   + (f" and catches {pct(min(det))}–{pct(max(det))} of the paper's attacks" if det else "")
                   + f" (rerun `{doc['command']}` with `--fpr {selected_fpr:g}` for curves at it)" + ".")
    return " ".join(out)


def heldout_rows(doc: dict[str, Any], fpr: float) -> list[dict[str, Any]]:
    """The Results page's held-out table: per attack (both target models pooled), its kind, the images it fooled,
    the share the universal detector flags at ``fpr`` (nearest stored point) and at 1/5/10 %, and the ROC AUC."""
    key = fpr_key(fpr)
    rows = []
    for a, v in doc["by_attack"].items():
        rows.append({"attack": ATTACK_LABELS.get(a) or UNSEEN_LABELS.get(a, a),
                     "kind": "paper's seven" if a in ATTACK_NAMES else "never trained on",
                     "fooled images": v["fooled"],
                     **{detection_column(k): v["detection"].get(k) for k in (key, *v["detection"]) if k},
                     "AUC": v["auc"]})
    return rows


def heldout_summary(doc: dict[str, Any], fpr: float) -> str:
    """One paragraph: how often the shipped detector catches attacks on images nothing trained on, at ``fpr``."""
    key = fpr_key(fpr)
    det = {a: v["detection"].get(key) for a, v in doc["by_attack"].items() if v["detection"].get(key) is not None}
    if not det:
        return "No attack fooled a model on the evaluation images."
    paper = {a: d for a, d in det.items() if a in ATTACK_NAMES}
    other = {a: d for a, d in det.items() if a not in paper}
    parts = [f"On {doc['clean']['images']:,} test images that no classifier, detector or threshold was fitted on, "
             f"the detector flags {pct(doc['clean']['fpr'].get(key, float('nan')))} of the clean ones at "
             f"{fpr_words(fpr)}"]
    if paper:
        parts.append(f"and catches {pct(min(paper.values()))}–{pct(max(paper.values()))} of the images the paper's "
                     f"attacks fooled a model with")
    if other:
        parts.append(f"({pct(min(other.values()))}–{pct(max(other.values()))} for attacks it never trained on)")
    return " ".join(parts) + "."
