"""Mismatch Lab dashboard: ``streamlit run app.py`` (or ``make app``).

The entry point only sets up navigation and the shared sidebar (the dataset);
each page lives in ``views/`` and calls the engine in ``core``.

The page folder is deliberately *not* called ``pages/``: when a ``pages/`` folder sits next to the main
script, Streamlit 1.67 switches to its v1 multipage mode and wraps this script in a navigation of its own
(``script_runner._mpa_v1``); nested inside it, our ``st.navigation`` loses the sidebar in
``AppTest.switch_page`` and Plotly hover/click selection stops working in the browser.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # pages import ``core`` and ``views.common``
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from core import DATASETS  # noqa: E402

st.set_page_config(page_title="Mismatch Lab", page_icon="🛡️", layout="wide")

PAGES = [
    st.Page(str(ROOT / "views" / "attack_lab.py"), title="Attack lab", icon="⚔️", url_path="lab", default=True),
    st.Page(str(ROOT / "views" / "scan.py"), title="Scan images", icon="🔍", url_path="scanner"),
    st.Page(str(ROOT / "views" / "transfer.py"), title="Transfer matrices", icon="🧮", url_path="transfer-matrices"),
    st.Page(str(ROOT / "views" / "embeddings.py"), title="Embeddings", icon="🗺️", url_path="maps"),
    st.Page(str(ROOT / "views" / "results.py"), title="Results vs paper", icon="📊", url_path="paper"),
]

with st.sidebar:
    st.markdown("### 🛡️ Mismatch Lab")
    st.caption("Detecting adversarial examples from the disagreement of two independently trained models "
               "(Monteiro et al., *Bi-model Decision Mismatch*).")
    st.selectbox("Dataset", DATASETS, key="dataset", format_func={"mnist": "MNIST", "cifar10": "CIFAR-10"}.get)

st.navigation(PAGES).run()
