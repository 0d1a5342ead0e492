"""What the entry point and every page share without loading the engine: the sidebar's choices, the page table
and the one patch that leaves Streamlit's v1 ``pages/`` mode.

``app.py`` imports only this module (Streamlit, ``core``'s names and the operating points: no torch, no
scikit-learn), so the sidebar and the page's title reach the browser before a page imports the engine.  The
pages' cached loaders live in ``pages/common.py``.  Streamlit's v1 multipage mode never lists ``__init__.py``.
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from core import DATASETS, DEFAULT_FPR, FPRS
from core.io.labs import lab_id, lab_names

DATASET_KEY = "dataset"  # session-state key of the sidebar's dataset (app.py)
FPR_KEY = "fpr"  # session-state key of the sidebar's operating point (app.py)


@dataclass(frozen=True)
class PageInfo:
    """One page of the dashboard: its file stem in ``pages/`` (also its URL path), title and Material icon."""

    stem: str
    title: str
    icon: str


PAGES = (  # the navigation's order; the first is the home page
    PageInfo("attack_lab", "Attack lab", ":material/bolt:"),
    PageInfo("scan", "Scan images", ":material/search:"),
    PageInfo("transfer", "Transfer matrices", ":material/grid_on:"),
    PageInfo("embeddings", "Embeddings", ":material/scatter_plot:"),
    PageInfo("results", "Results vs paper", ":material/bar_chart:"),
    PageInfo("security", "Security", ":material/security:"),
)


def leave_v1_multipage_mode() -> None:
    """Rerun through ``app.py``'s ``st.navigation`` if Streamlit started this run in v1 ``pages/`` mode.

    A ``pages/`` folder beside the main script makes Streamlit 1.67 set ``PagesManager.uses_pages_directory``
    when the first session starts (``Path("pages").exists()``; no config option changes it) and run that
    process's first script run (and every ``AppTest.run``) in its v1 multipage mode: either ``app.py`` wrapped
    in a second navigation (sidebar lost under ``AppTest.switch_page``, Plotly selection broken in the browser),
    or, for a page's URL, that page alone without the sidebar.  ``st.navigation`` clears the flag only after that
    first run, and ``client.showSidebarNavigation`` only hides the v1 menu.  Streamlit's own way out is to
    rename the folder; the product keeps ``pages/``, so this is the one patch of the private flag: clear it and
    rerun, giving a plain ``st.navigation`` run at once.  ``app.py`` and every page (through ``dataset()``)
    call it.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def dataset_choices() -> tuple[str, ...]:
    """The sidebar's datasets: MNIST, CIFAR-10 and every lab found (``lab:NAME``, ``core.io.labs``)."""
    return (*DATASETS, *(lab_id(n) for n in lab_names()))


def dataset() -> str:
    """The dataset chosen in the sidebar (app.py).  Every page starts here, so it also leaves v1 mode."""
    leave_v1_multipage_mode()
    d = st.session_state.get(DATASET_KEY, DATASETS[0])
    return d if d in dataset_choices() else DATASETS[0]


def fpr() -> float:
    """The operating point chosen in the sidebar (app.py): the clean false-positive rate every verdict uses."""
    f = st.session_state.get(FPR_KEY, DEFAULT_FPR)
    return float(f) if f in FPRS else DEFAULT_FPR

