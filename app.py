"""Mismatch Lab dashboard: ``streamlit run app.py`` (or ``make app``).

The entry point only sets up navigation and the shared sidebar (the dataset);
each page lives in ``pages/`` and calls the engine in ``core``.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # pages import ``core`` and ``pages.common``
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from core import DATASETS  # noqa: E402

st.set_page_config(page_title="Mismatch Lab", page_icon="🛡️", layout="wide")

# url_path must differ from the file stem: otherwise AppTest.switch_page (streamlit 1.67) skips the
# entry point and the sidebar disappears.
PAGES = [
    st.Page(str(ROOT / "pages" / "attack_lab.py"), title="Attack lab", icon="⚔️", url_path="lab", default=True),
    st.Page(str(ROOT / "pages" / "scan.py"), title="Scan images", icon="🔍", url_path="scanner"),
    st.Page(str(ROOT / "pages" / "transfer.py"), title="Transfer matrices", icon="🧮", url_path="transfer-matrices"),
    st.Page(str(ROOT / "pages" / "embeddings.py"), title="Embeddings", icon="🗺️", url_path="maps"),
    st.Page(str(ROOT / "pages" / "results.py"), title="Results vs paper", icon="📊", url_path="paper"),
]

with st.sidebar:
    st.markdown("### 🛡️ Mismatch Lab")
    st.caption("Detecting adversarial examples from the disagreement of two independently trained models "
               "(Monteiro et al., *Bi-model Decision Mismatch*).")
    st.selectbox("Dataset", DATASETS, key="dataset", format_func={"mnist": "MNIST", "cifar10": "CIFAR-10"}.get)

st.navigation(PAGES).run()
