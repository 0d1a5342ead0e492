"""The dashboard on a lab (AppTest): the sidebar lists the shipped lab, every page works on it and says what a lab
lacks.  In a ``test_app*`` module, so conftest empties Streamlit's caches and restores ``__main__`` around each."""
from __future__ import annotations

import shutil
from pathlib import Path

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



@pytest.mark.parametrize("page", ["pages/attack_lab.py", "pages/scan.py", "pages/security.py", "pages/results.py"])
def test_a_lab_without_its_model_files_names_the_command(page: str, tmp_path, monkeypatch) -> None:
    """The CIFAR-10 demo lab ships without its 45 MB models: the pages say so and name the command that remakes
    them, and the result pages still work."""
    src = Path(__file__).parents[1] / "artifacts" / "labs" / "cifar10-torchvision"
    shutil.copytree(src, tmp_path / "cifar10-torchvision", ignore=shutil.ignore_patterns("models", "*.lock"))
    monkeypatch.setenv("ADV_LABS_DIR", str(tmp_path))
    at = app().run()
    at.selectbox(key="dataset").set_value("lab:cifar10-torchvision").run()
    at.switch_page(page).run()
    no_exception(at)
    if page in ("pages/attack_lab.py", "pages/scan.py"):
        assert "python -m core lab demo cifar10-torchvision" in messages(at)
