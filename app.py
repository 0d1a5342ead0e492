"""Mismatch Lab dashboard: ``streamlit run app.py`` (or ``make app``).

The entry point only sets up navigation and the shared sidebar (the dataset and the detectors' operating point,
the clean false-positive rate every verdict in the app is given at);
each page lives in ``pages/`` (the product's fixed layout) and calls the engine in ``core``.

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

from core import DATASETS  # noqa: E402
from core.operating_point import DEFAULT_FPR, FPRS  # noqa: E402
from pages.common import FPR_KEY, fpr_label, leave_v1_multipage_mode  # noqa: E402

leave_v1_multipage_mode()  # see the docstring

st.set_page_config(page_title="Mismatch Lab", page_icon="🛡️", layout="wide")

# URL paths equal the file stems, so AppTest.switch_page("pages/<stem>.py") resolves to these pages.
PAGES = [
    st.Page(str(ROOT / "pages" / "attack_lab.py"), title="Attack lab", icon="⚔️", url_path="attack_lab", default=True),
    st.Page(str(ROOT / "pages" / "scan.py"), title="Scan images", icon="🔍", url_path="scan"),
    st.Page(str(ROOT / "pages" / "transfer.py"), title="Transfer matrices", icon="🧮", url_path="transfer"),
    st.Page(str(ROOT / "pages" / "embeddings.py"), title="Embeddings", icon="🗺️", url_path="embeddings"),
    st.Page(str(ROOT / "pages" / "results.py"), title="Results vs paper", icon="📊", url_path="results"),
    st.Page(str(ROOT / "pages" / "security.py"), title="Security", icon="🔐", url_path="security"),
]

with st.sidebar:
    st.markdown("### 🛡️ Mismatch Lab")
    st.caption("Detecting adversarial examples from the disagreement of two independently trained models "
               "(Monteiro et al., *Bi-model Decision Mismatch*).")
    st.selectbox("Dataset", DATASETS, key="dataset", format_func={"mnist": "MNIST", "cifar10": "CIFAR-10"}.get)
    st.selectbox("Operating point", FPRS, index=FPRS.index(DEFAULT_FPR), key=FPR_KEY, format_func=fpr_label,
                 help="The detectors flag an image when P(attack) is above the threshold that flags this share of "
                      "clean test images they never saw.  Fewer false alarms means more attacks let through.")

st.navigation(PAGES).run()
