"""The dashboard on a lab (AppTest): the sidebar lists the shipped lab, every page works on it and says what a lab
lacks.  In a ``test_app*`` module, so conftest empties Streamlit's caches and restores ``__main__`` around each."""
from __future__ import annotations

import pytest

from tests.support import app, markdown, messages, no_exception

LAB = "lab:mnist-torchscript"


@pytest.mark.parametrize("page,shows", [
    ("pages/attack_lab.py", ""),
    ("pages/scan.py", ""),
    ("pages/transfer.py", "is a lab"),
    ("pages/embeddings.py", ""),
    ("pages/results.py", "is a lab"),
    ("pages/security.py", ""),
])
def test_every_page_works_on_the_shipped_lab(page: str, shows: str) -> None:
    """The sidebar lists the shipped lab; every page renders on it and says what a lab lacks."""
    at = app().run()
    assert "Lab · mnist-torchscript" in at.selectbox(key="dataset").options
    at.selectbox(key="dataset").set_value(LAB).run()
    at.switch_page(page).run()
    no_exception(at)
    assert shows in messages(at)
    assert "Traceback" not in messages(at)


def test_attack_lab_runs_a_budget_search_on_the_lab() -> None:
    at = app().run()
    at.selectbox(key="dataset").set_value(LAB).run()
    at.button(key="lab_run").click().run()
    no_exception(at)
    assert any("detector" in m.value.lower() for m in at.markdown)


def test_results_page_offers_the_labs_report() -> None:
    at = app().run()
    at.selectbox(key="dataset").set_value(LAB).run()
    at.switch_page("pages/results.py").run()
    no_exception(at)
    assert "report --lab mnist-torchscript" in markdown(at) + "".join(c.value for c in at.code)

