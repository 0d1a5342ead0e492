"""The pages' shared helpers: cached loaders around the engine, the "missing artifact" message and the parsing of
a Plotly selection.

The sidebar's choices (``dataset()``, ``fpr()``) come from ``pages/__init__.py``, re-exported here so that a
page needs one import; what the Security page computes from its file is ``core.app.summaries``.  Every computation
on images and models is in ``core``.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import streamlit as st

import core.results.readers as R
from core import ATTACK_LABELS, ATTACK_NAMES, UNSEEN_LABELS
from core.app.attack_run import interactive_threads, warm_up
from core.app.glossary import fpr_words
from core.data import SHAPES
from core.data import samples as load_samples
from core.data.uploads import load_images
from core.detector import VARIANT_DESCRIPTIONS, VARIANT_LABELS, VARIANTS, load, load_surrogates
from core.io.paths import artifact_root, detector_relpath, heldout_path, result_path, security_path
from core.models import load_pair
from core.results.heldout import read_heldout
from core.results.security import eps_text, read_security  # noqa: F401  (eps_text: the pages print budgets)
from pages import FPR_KEY, dataset, fpr, leave_v1_multipage_mode  # noqa: F401  (the pages' one import)

DETECTOR_NAMES = ("all",) + ATTACK_NAMES


def at_fpr(f: float | None = None) -> str:
    """``"at 5 % clean false positives"`` for ``f`` (default: the sidebar's), to append to a verdict."""
    return f"at {fpr_words(fpr() if f is None else f)}"


def attack_label(a: str) -> str:
    """An attack's display name (``core.ATTACK_LABELS``, ``core.UNSEEN_LABELS``), or its key when it has none."""
    return ATTACK_LABELS.get(a) or UNSEEN_LABELS.get(a, a)


def missing(e: BaseException, what: str = "") -> None:
    """Show why something is not available, naming the command that makes it."""
    st.info(f"{what + ': ' if what else ''}{e}", icon=":material/info:")


@st.cache_resource(show_spinner="Loading the two classifiers…")
def models(ds: str, role: str = "model"):
    """The classifier pair of ``ds`` (one torch thread, warmed up), once per process."""
    interactive_threads()
    pair = load_pair(ds, role)
    warm_up(*pair, shape=(1, *SHAPES[ds]))
    return pair


def shipped_variants(ds: str) -> list[str]:
    """Detector variants of ``ds`` whose universal detector ships (the paper's first)."""
    return [v for v in VARIANTS if (artifact_root(ds) / (detector_relpath(ds, "all", v) + ".npz")).exists()]


def variant_switch(variants: list[str], key: str) -> str:
    """The detector-variant switch of the Attack lab and the Security page: plain names, each explained in a line
    of its help; the paper's detector alone needs no switch."""
    if len(variants) <= 1:
        return variants[0] if variants else "paper"
    return st.radio("Detector", variants, horizontal=True, key=key, format_func=VARIANT_LABELS.get,
                    help="\n\n".join(f"**{VARIANT_LABELS[v]}**: {VARIANT_DESCRIPTIONS[v]}" for v in variants))


@st.cache_resource(show_spinner=False)
def detector(ds: str, trained_on: str = "all", variant: str = "paper"):
    """A shipped detector, loaded once per process."""
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
            st.warning(f"Detector `{name}` skipped: {e}", icon=":material/warning:")
    return out


def try_call(fn: Callable, *args, what: str = "", **kw):
    """``fn(*args)`` or ``None`` after showing a clear message for a missing, changed or malformed artifact."""
    try:
        return fn(*args, **kw)
    except FileNotFoundError as e:
        missing(e, what)
    except (ValueError, RuntimeError, OSError, zipfile.BadZipFile) as e:  # IntegrityError (sha256), malformed file
        st.error(f"{what + ': ' if what else ''}{e}", icon=":material/block:")
    return None


@st.cache_data(show_spinner=False)
def samples(ds: str) -> tuple[np.ndarray, np.ndarray]:
    """The shipped test samples of ``ds`` as arrays (images, labels)."""
    x, y = load_samples(ds)
    return x.numpy(), y.numpy()


@st.cache_data(show_spinner=False, max_entries=64)
def decoded(name: str, data: bytes, ds: str) -> dict[str, Any]:
    """One upload through ``core.data.uploads.load_images`` (``{name, x, notes, error}``), once per file content: a
    rerun of the page (another widget touched) does not decode a large photo again."""
    return load_images([(name, data)], ds)[0]


def result(ds: str, name: str) -> dict[str, Any]:
    """``core.results.readers.<name>(ds)`` (table2, table3, transfer, loao, table4), cached (``cached``)."""
    return cached("result", result_path(ds, name), ds, name)


def cached(what: str, path: Path, *args: str) -> dict[str, Any]:
    """``READERS[what](*args)``, cached and keyed by ``path``'s mtime, so a rerun of the command that writes it shows
    up without restarting the app.  Raises FileNotFoundError with the command when the file is missing."""
    return _read_at(what, args, path.stat().st_mtime if path.exists() else 0.0)


READERS: dict[str, Callable[..., dict[str, Any]]] = {
    "result": lambda ds, name: getattr(R, name)(ds), "security": read_security, "heldout": read_heldout}


@st.cache_data(show_spinner=False)
def _read_at(what: str, args: tuple[str, ...], mtime: float) -> dict[str, Any]:
    return READERS[what](*args)


@st.cache_resource(show_spinner="Loading the attacker's surrogate models…")
def surrogate(ds: str, variant: str = "paper"):
    """The transfer attacker's own models against ``variant``, one per watched model (``FileNotFoundError`` with
    the training command)."""
    return load_surrogates(ds, variant)


def command_box(cmd: str, label: str = "Regenerate with") -> None:
    """The command that (re)makes what the page shows."""
    st.caption(label)
    st.code(cmd, language="bash")


def selected_customdata(event: Any) -> list[list[Any]]:
    """The ``customdata`` of each point of a Plotly selection (``st.plotly_chart(on_select="rerun")``), each as a
    list; points without any are skipped.  A numpy row can arrive as JSON ``{"0": i, "1": j}``."""
    pts = ((event or {}).get("selection") or {}).get("points") or []
    out = []
    for p in pts:
        c = p.get("customdata")
        if c is None:
            continue
        if isinstance(c, dict):
            c = [c[k] for k in sorted(c, key=int)]
        out.append(list(c) if isinstance(c, (list, tuple)) else [c])
    return out


def security(ds: str, variant: str = "paper") -> dict[str, Any]:
    """``core.results.security.read_security``, cached (``cached``)."""
    return cached("security", security_path(ds, variant), ds, variant)


def heldout(ds: str) -> dict[str, Any]:
    """``core.results.heldout.read_heldout``, cached (``cached``)."""
    return cached("heldout", heldout_path(ds), ds)


def security_variants(ds: str) -> list[str]:
    """The detector variants of ``ds`` with security results (the paper's first)."""
    return [v for v in VARIANTS if security_path(ds, v).exists()]
