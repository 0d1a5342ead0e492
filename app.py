"""Mismatch Lab dashboard: ``streamlit run app.py`` (or ``make app``).

The entry point only sets up navigation and the shared sidebar (the dataset and the detectors' operating point,
the clean false-positive rate every verdict in the app is given at);
each page lives in ``pages/`` (the product's fixed layout) and calls the engine in ``core``.  Icons are
Streamlit's Material icons (``:material/...:``), which need no emoji font in the browser.

A ``pages/`` folder beside the main script makes Streamlit 1.67 run the *first* script run in its v1
multipage mode (``script_runner._mpa_v1``), which would wrap this script's ``st.navigation`` in a second
navigation (sidebar lost under ``AppTest.switch_page``, Plotly selection broken in the browser).
``pages.common.leave_v1_multipage_mode`` (called here and by every page) switches that mode off and
reruns at once, so every run the user sees is a plain ``st.navigation`` app.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # pages import ``core`` and ``pages.common``
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from core import DATASET_LABELS, DATASETS  # noqa: E402
from core.detector.thresholds import DEFAULT_FPR, FPRS  # noqa: E402
from pages.common import FPR_KEY, fpr_label, leave_v1_multipage_mode  # noqa: E402

leave_v1_multipage_mode()  # see the docstring

st.set_page_config(page_title="Mismatch Lab", page_icon=":material/shield:", layout="wide")

# URL paths equal the file stems, so AppTest.switch_page("pages/<stem>.py") resolves to these pages.
PAGES = [
    st.Page(str(ROOT / "pages" / f"{stem}.py"), title=title, icon=icon, url_path=stem, default=stem == "attack_lab")
    for stem, title, icon in (
        ("attack_lab", "Attack lab", ":material/bolt:"),
        ("scan", "Scan images", ":material/search:"),
        ("transfer", "Transfer matrices", ":material/grid_on:"),
        ("embeddings", "Embeddings", ":material/scatter_plot:"),
        ("results", "Results vs paper", ":material/bar_chart:"),
        ("security", "Security", ":material/security:"),
    )
]

with st.sidebar:
    st.markdown("### :material/shield: Mismatch Lab")
    st.caption("Detecting adversarial examples from the disagreement of two independently trained models "
               "(Monteiro et al., *Bi-model Decision Mismatch*).")
    st.selectbox("Dataset", DATASETS, key="dataset", format_func=DATASET_LABELS.get)
    st.selectbox("Operating point", FPRS, index=FPRS.index(DEFAULT_FPR), key=FPR_KEY, format_func=fpr_label,
                 help="The detectors flag an image when P(attack) is above the threshold that flags this share of "
                      "clean test images they never saw.  Fewer false alarms means more attacks let through.")

st.navigation(PAGES).run()
