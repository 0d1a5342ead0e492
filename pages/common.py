"""Shared dashboard helpers: cached loaders around the engine and the "missing artifact" message.

Only thin Streamlit glue lives here; every computation is in ``core``.
"""
from __future__ import annotations

import zipfile
from typing import Any, Callable

import numpy as np
import streamlit as st

from core import ATTACK_NAMES, DATASETS
from core.results import ATTACK_LABELS

DATASET_LABELS = {"mnist": "MNIST", "cifar10": "CIFAR-10"}
DETECTOR_NAMES = ("all",) + ATTACK_NAMES


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


def attack_label(a: str) -> str:
    return ATTACK_LABELS.get(a, a)


def missing(e: BaseException, what: str = "") -> None:
    """Show why something is not available, naming the command that makes it."""
    st.info(f"{what + ': ' if what else ''}{e}", icon="ℹ️")


@st.cache_resource(show_spinner="Loading the two classifiers…")
def models(ds: str):
    from core.attack_run import interactive_threads, warm_up
    from core.data import SHAPES
    from core.models import load_pair

    interactive_threads()
    pair = load_pair(ds)
    warm_up(*pair, shape=(1, *SHAPES[ds]))
    return pair


@st.cache_resource(show_spinner=False)
def detector(ds: str, trained_on: str = "all"):
    from core.detector import load

    return load(ds, trained_on)


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
    """``fn(*args)`` or ``None`` after showing a clear message for a missing artifact / module."""
    try:
        return fn(*args, **kw)
    except FileNotFoundError as e:
        missing(e, what)
    except ModuleNotFoundError as e:
        st.warning(f"{what + ': ' if what else ''}the engine module `{e.name}` is not there yet ({e}).", icon="⚠️")
    except (ValueError, RuntimeError, OSError, zipfile.BadZipFile) as e:  # IntegrityError (sha256), malformed file
        st.error(f"{what + ': ' if what else ''}{e}", icon="🚫")
    return None


@st.cache_data(show_spinner=False)
def samples(ds: str) -> tuple[np.ndarray, np.ndarray]:
    from core.data import samples as load

    x, y = load(ds)
    return x.numpy(), y.numpy()


def result(ds: str, name: str) -> dict[str, Any]:
    """``core.results.<name>(ds)`` (table2, table3, transfer, loao, table4), cached and keyed by the file's mtime
    so a rerun of the pipeline shows up without restarting the app.  Raises FileNotFoundError with the command."""
    import core.results as R

    path = R.results_dir(ds) / f"{name}.json"
    return _result_at(ds, name, path.stat().st_mtime if path.exists() else 0.0)


@st.cache_data(show_spinner=False)
def _result_at(ds: str, name: str, mtime: float) -> dict[str, Any]:
    import core.results as R

    return getattr(R, name)(ds)


def attacks_module():
    """``core.attacks`` or ``None`` (with a warning) while it is not there yet."""
    try:
        import core.attacks as A

        A.budget_search_steps  # noqa: B018
        return A
    except (ImportError, AttributeError) as e:
        st.warning(f"The attack engine (`core.attacks`, with `budget_search_steps`) is not available yet: {e}", icon="⚠️")
        return None


def command_box(cmd: str, label: str = "Regenerate with") -> None:
    st.caption(label)
    st.code(cmd, language="bash")
