"""Mismatch Lab dashboard: ``streamlit run app.py`` (or ``make app``).

The entry point sets up navigation, the shared sidebar (the dataset, the detectors' operating point, the clean
false-positive rate every verdict in the app is given at, and the glossary) and the current page's title; each
page lives in ``pages/`` (the product's fixed layout) and calls the engine in ``core``.  It imports nothing
heavy (``pages/__init__.py``): the sidebar and the title are on screen while the page loads torch and the
models.  Icons are Streamlit's Material icons, drawn from the font Streamlit serves itself; the favicon is a
local file, so the app needs nothing from outside the machine.  Streamlit's v1 ``pages/`` mode is left by
``pages.leave_v1_multipage_mode`` (its docstring says why).
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from core import DEFAULT_FPR, FPRS
from core.app.glossary import fpr_words, glossary_markdown, help_for
from core.io.labs import dataset_label
from pages import DATASET_KEY, FPR_KEY, PAGES, dataset_choices, leave_v1_multipage_mode

ROOT = Path(__file__).resolve().parent

FAVICON = ROOT / "static" / "favicon.png"  # a Material icon as favicon would be fetched from fonts.gstatic.com

leave_v1_multipage_mode()  # see its docstring

st.set_page_config(page_title="Mismatch Lab", page_icon=str(FAVICON), layout="wide")

# URL paths equal the file stems, so AppTest.switch_page("pages/<stem>.py") resolves to these pages.
NAVIGATION = {p.stem: st.Page(str(ROOT / "pages" / f"{p.stem}.py"), title=p.title, icon=p.icon, url_path=p.stem,
                              default=p is PAGES[0]) for p in PAGES}

with st.sidebar:
    st.markdown("### :material/shield: Mismatch Lab")
    st.caption("Detecting adversarial examples from the disagreement of two independently trained models "
               "(Monteiro et al., *Bi-model Decision Mismatch*).")
    st.selectbox("Dataset", dataset_choices(), key=DATASET_KEY, format_func=dataset_label,
                 help="MNIST and CIFAR-10 with the project's own pairs, and every lab: a pair of your own "
                      "classifiers on your images (`python -m core lab create`, docs/labs.md).")
    st.selectbox("Operating point", FPRS, index=FPRS.index(DEFAULT_FPR), key=FPR_KEY, format_func=fpr_words,
                 help="The detectors flag an image when P(attack) is above the threshold that flags this share of "
                      "clean test images they never saw.  Fewer false alarms means more attacks let through.  \n"
                      + help_for("clean FPR"))
    with st.expander(":material/menu_book: Glossary"):
        st.markdown(glossary_markdown())

page = st.navigation(list(NAVIGATION.values()))
st.title(f"{page.icon} {page.title}")  # on screen before the page imports the engine
page.run()
