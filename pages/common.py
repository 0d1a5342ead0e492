"""Shared dashboard helpers: cached loaders around the engine, the "missing artifact" message, the sidebar's
operating point, and the Security page's tables and plain-language summary (pure functions of the file).

Every computation on images and models is in ``core``.
"""
from __future__ import annotations

import zipfile
from typing import Any, Callable

import numpy as np
import streamlit as st

from core import ATTACK_LABELS, ATTACK_NAMES, DATASETS
from core.detector.thresholds import DEFAULT_FPR, FPRS, fpr_key
from core.app.scan import fpr_words

DETECTOR_NAMES = ("all",) + ATTACK_NAMES
FPR_KEY = "fpr"  # session-state key of the sidebar's operating point (app.py)


def leave_v1_multipage_mode() -> None:
    """Rerun through ``app.py``'s ``st.navigation`` if Streamlit started this run in v1 ``pages/`` mode.

    A ``pages/`` folder beside the main script makes Streamlit run the first script run of a process
    (and every ``AppTest.run``) in its v1 multipage mode: either ``app.py`` wrapped in a second
    navigation, or, for a page's URL, that page alone without the sidebar.  ``st.navigation`` turns the
    mode off; turning it off here and rerunning gives a plain ``st.navigation`` run at once.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def dataset() -> str:
    """The dataset chosen in the sidebar (app.py).  Every page starts here, so it also leaves v1 mode."""
    leave_v1_multipage_mode()
    d = st.session_state.get("dataset", DATASETS[0])
    return d if d in DATASETS else DATASETS[0]


def fpr_label(f: float) -> str:
    """How the sidebar lists an operating point: "5 % clean false positives"."""
    return fpr_words(f)


def fpr() -> float:
    """The operating point chosen in the sidebar (app.py): the clean false-positive rate every verdict uses."""
    f = st.session_state.get(FPR_KEY, DEFAULT_FPR)
    return float(f) if f in FPRS else DEFAULT_FPR


def at_fpr(f: float | None = None) -> str:
    """``"at 5 % clean false positives"`` for ``f`` (default: the sidebar's), to append to a verdict."""
    return f"at {fpr_words(fpr() if f is None else f)}"


def attack_label(a: str) -> str:
    return ATTACK_LABELS.get(a, a)


def missing(e: BaseException, what: str = "") -> None:
    """Show why something is not available, naming the command that makes it."""
    st.info(f"{what + ': ' if what else ''}{e}", icon="ℹ️")


@st.cache_resource(show_spinner="Loading the two classifiers…")
def models(ds: str, role: str = "model"):
    from core.app.attack_run import interactive_threads, warm_up
    from core.data import SHAPES
    from core.models import load_pair

    interactive_threads()
    pair = load_pair(ds, role)
    warm_up(*pair, shape=(1, *SHAPES[ds]))
    return pair


def shipped_variants(ds: str) -> list[str]:
    """Detector variants of ``ds`` whose universal detector ships (the paper's first)."""
    from core.detector import VARIANTS
    from core.io.paths import detector_relpath
    from core.io.paths import artifacts_dir

    return [v for v in VARIANTS if (artifacts_dir() / (detector_relpath(ds, "all", v) + ".npz")).exists()]


def variant_help(variants: list[str]) -> str:
    """The help of a detector-variant switch: what each offered variant is."""
    from core.detector import VARIANT_DESCRIPTIONS

    return "; ".join(f"{v}: {VARIANT_DESCRIPTIONS[v]}" for v in variants) + " (python -m core harden)"


@st.cache_resource(show_spinner=False)
def detector(ds: str, trained_on: str = "all", variant: str = "paper"):
    from core.detector import load

    return load(ds, trained_on, variant)


def detectors_or_none(ds: str) -> dict[str, Any]:
    """Every shipped detector of ``ds`` that exists (universal first); missing ones are skipped."""
    out = {}
    for name in DETECTOR_NAMES:
        try:
            out[name] = detector(ds, name)
        except (FileNotFoundError, ValueError):
            continue
        except RuntimeError as e:  # IntegrityError: a file that no longer matches the manifest (e.g. being rewritten)
            st.warning(f"Detector `{name}` skipped: {e}", icon="⚠️")
    return out


def try_call(fn: Callable, *args, what: str = "", **kw):
    """``fn(*args)`` or ``None`` after showing a clear message for a missing, changed or malformed artifact."""
    try:
        return fn(*args, **kw)
    except FileNotFoundError as e:
        missing(e, what)
    except (ValueError, RuntimeError, OSError, zipfile.BadZipFile) as e:  # IntegrityError (sha256), malformed file
        st.error(f"{what + ': ' if what else ''}{e}", icon="🚫")
    return None


@st.cache_data(show_spinner=False)
def samples(ds: str) -> tuple[np.ndarray, np.ndarray]:
    from core.data import samples as load

    x, y = load(ds)
    return x.numpy(), y.numpy()


def result(ds: str, name: str) -> dict[str, Any]:
    """``core.results.readers.<name>(ds)`` (table2, table3, transfer, loao, table4), cached and keyed by the file's mtime
    so a rerun of the pipeline shows up without restarting the app.  Raises FileNotFoundError with the command."""
    from core.io.paths import result_path

    path = result_path(ds, name)
    return _result_at(ds, name, path.stat().st_mtime if path.exists() else 0.0)


@st.cache_data(show_spinner=False)
def _result_at(ds: str, name: str, mtime: float) -> dict[str, Any]:
    import core.results.readers as R

    return getattr(R, name)(ds)


@st.cache_resource(show_spinner="Loading the attacker's surrogate models…")
def surrogate(ds: str, variant: str = "paper"):
    """The transfer attacker's own models against ``variant``, one per watched model (``FileNotFoundError`` with
    the training command)."""
    from core.detector import load_surrogates

    return load_surrogates(ds, variant)


def command_box(cmd: str, label: str = "Regenerate with") -> None:
    st.caption(label)
    st.code(cmd, language="bash")


# ------------------------------------------------------------------------ Security page (pure functions of the file)


def security(ds: str, variant: str = "paper") -> dict[str, Any]:
    """``core.experiments.security.read_security``, cached and keyed by the file's mtime (a rerun shows up without a restart).
    Raises FileNotFoundError with the command when the file is missing."""
    from core.io.paths import security_path

    path = security_path(ds, variant)
    return _security_at(ds, variant, path.stat().st_mtime if path.exists() else 0.0)


def security_variants(ds: str) -> list[str]:
    """The detector variants of ``ds`` with security results (the paper's first)."""
    from core.detector import VARIANTS
    from core.io.paths import security_path

    return [v for v in VARIANTS if security_path(ds, v).exists()]


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


@st.cache_data(show_spinner=False)
def _security_at(ds: str, variant: str, mtime: float) -> dict[str, Any]:
    from core.results.security import read_security

    return read_security(ds, variant)


def eps_text(eps: float | None, dataset: str) -> str:
    """An L∞ budget as the pages print it (``core.experiments.security.eps_text``)."""
    from core.results.security import eps_text as text

    return text(eps, dataset)


def headline_index(doc: dict[str, Any]) -> int:
    """Position of the headline budget on the curves' ε grid (the nearest grid point)."""
    eps = np.asarray(next(iter(doc["curves"].values()))["eps"], float)
    return int(np.argmin(np.abs(eps - float(doc["headline"]["eps"]))))


def security_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The ε50 table: one row per attack, in the file's order.

    ε50 is the median smallest budget at which the attack succeeded (for ``no_detector``: fooled model 1);
    success and detected are the shares of images at the headline budget.
    """
    from core.app.figures import security_labels

    labels = security_labels(doc)
    ds, j = doc["dataset"], headline_index(doc)
    e = eps_text(doc["headline"]["eps"], ds)
    rows = []
    for name, c in doc["curves"].items():
        a = doc["attacks"].get(name, {})
        ref = a.get("kind") == "reference"
        rows.append({"attack": labels.get(name, name), "kind": a.get("kind", ""),
                     "ε50": eps_text(doc["eps50"].get(name), ds),
                     f"success at ε={e}": round(float(c["fooled" if ref else "success"][j]), 4),
                     f"detected at ε={e}": round(float(c["detected"][j]), 4),
                     "seconds": a.get("seconds"), "verified": a.get("verified"), "reference": a.get("reference", "")})
    return rows


def detection_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Per paper attack: the detection rate at each operating point and the ROC's AUC."""
    from core.app.figures import security_labels

    labels = security_labels(doc)
    op = doc["operating_points"]
    rows = []
    for name, rates in op.get("detection", {}).items():
        row: dict[str, Any] = {"attack": labels.get(name, name)}
        for key in op.get("thresholds", {}):
            row[f"detected at {100 * float(key):g} % FPR"] = rates.get(key)
        row["AUC"] = op.get("roc", {}).get(name, {}).get("auc")
        rows.append(row)
    return rows


def convergence_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The convergence check: success at the headline budget after the short and the long PGD run."""
    from core.app.figures import security_labels

    labels = security_labels(doc)
    conv = doc["convergence"]
    short, long = conv["steps"]
    return [{"attack": labels.get(name, name), f"{short} steps": round(r[0], 4), f"{long} steps": round(r[1], 4),
             "change": round(r[1] - r[0], 4)} for name, r in conv["success"].items()]


def _pct(v: float, digits: int = 0) -> str:
    return f"{100 * v:.{digits}f} %"


def security_summary(doc: dict[str, Any], selected_fpr: float | None = None) -> str:
    """What the file means for a user, in plain words, computed from its numbers (nothing hard-coded)."""
    from core.app.figures import security_labels

    labels = security_labels(doc)
    ds, j = doc["dataset"], headline_index(doc)
    e = eps_text(doc["headline"]["eps"], ds)
    kinds = {a: doc["attacks"].get(a, {}).get("kind") for a in doc["curves"]}
    op = doc.get("operating_points", {})
    held = op.get("clean_fpr_held_out", {})
    key = fpr_key(doc["fpr"])
    out = [f"The detector here flags an image at {fpr_words(doc['fpr'])}"
           + (f" (on {op.get('clean_images', 0):,} held-out clean test images it flagged {_pct(held[key], 1)})"
              if key in held else "")
           + f"; the attacks ran on {doc['n']} test images both models classify correctly, with L∞ budgets up to "
             f"{eps_text(max(next(iter(doc['curves'].values()))['eps']), ds)}."]
    ref = [a for a, k in kinds.items() if k == "reference"]
    if ref:
        r = ref[0]
        e50 = doc["eps50"].get(r)
        by = f", half of them already by ε = {eps_text(e50, ds)}" if e50 is not None else ""
        c = doc["curves"][r]
        flagged = (f" (with the detector on, {_pct(c['detected'][j])} of the images would be caught)"
                   if c["detected"][j] > 0 else "")
        out.append(f"Without any detector, plain PGD fools model 1 on {_pct(c['fooled'][j])} of them "
                   f"at ε = {e}{by}{flagged}.")
    paper = [a for a, k in kinds.items() if k == "paper"]
    best_paper = max((doc["curves"][a]["success"][j] for a in paper), default=None)
    if paper:
        top = max(paper, key=lambda a: doc["curves"][a]["success"][j])
        who = (f"The paper's {labels.get(top, top)} attack, which ignores the detector, gets" if len(paper) == 1 else
               f"The paper's {len(paper)} attacks, which ignore the detector, get")
        out.append(f"{who} past it on {'' if len(paper) == 1 else 'at most '}{_pct(best_paper)} of the images at "
                   f"ε = {e}" + ("" if len(paper) == 1 else f" ({labels.get(top, top)})") + ".")
    best, best_s = doc["headline"].get("best_adaptive"), doc["headline"].get("best_success")
    if best is not None and best_s is not None:
        e50 = doc["eps50"].get(best)
        much = "far " if best_paper is not None and best_s - best_paper >= 0.3 else ""
        out.append(f"An attacker who knows the detector does {much}better: {labels.get(best, best)} evades it on "
                   f"{_pct(best_s)} of the images at ε = {e}"
                   + (f" (half of them by ε = {eps_text(e50, ds)})" if e50 is not None else "") + ".")
        if best_s >= 0.5:
            out.append("So the detector stops attacks that ignore it, but not an attacker who targets it: treat its "
                       "verdict as a filter against blind attacks, not as a security guarantee.")
        elif best_s >= 0.1:
            out.append("So an attacker who targets the detector gets through on a minority of images: the detector "
                       "raises the cost of an attack without ruling it out.")
        else:
            out.append("Even attackers who target the detector rarely get past it within these budgets.")
    conv = doc.get("convergence", {})
    gains = {a: r[1] - r[0] for a, r in conv.get("success", {}).items() if kinds.get(a) != "reference"}
    if gains:
        a = max(gains, key=gains.get)
        r = conv["success"][a]
        short, long = conv["steps"]
        if gains[a] > 0.05:
            out.append(f"More PGD steps still help ({labels.get(a, a)}: {_pct(r[0])} → {_pct(r[1])} from {short} to "
                       f"{long} steps on {conv['n']} images), so these success rates are lower bounds.")
        else:
            out.append(f"{long} PGD steps instead of {short} change no attack's success by more than "
                       f"{_pct(max(gains[a], 0.0))}: the attacks have converged.")
    unverified = [a for a, info in doc["attacks"].items() if info.get("verified", 1.0) < 0.999]
    if unverified:
        out.append("Re-checked on a fresh forward pass, some claimed successes do not hold ("
                   + ", ".join(f"{labels.get(a, a)} {_pct(doc['attacks'][a]['verified'])}" for a in unverified) + ").")
    if selected_fpr is not None and fpr_key(selected_fpr) != key:
        sk = fpr_key(selected_fpr)
        det = [v.get(sk) for v in op.get("detection", {}).values() if v.get(sk) is not None]
        out.append(f"The sidebar's operating point ({fpr_words(selected_fpr)}) is not the one these curves were "
                   f"measured at" + (f"; at it the detector flags {_pct(held[sk], 1)} of held-out clean images"
                                     if sk in held else "")
                   + (f" and catches {_pct(min(det))}–{_pct(max(det))} of the paper's attacks" if det else "")
                   + f" (rerun `{doc['command']}` with `--fpr {selected_fpr:g}` for curves at it)" + ".")
    return " ".join(out)
