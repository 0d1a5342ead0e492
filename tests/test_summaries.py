"""The dashboard's app services without Streamlit: the Security page's tables and summary (``core.app.summaries``),
the glossary (``core.app.glossary``), the Scan page's batch table (``core.app.scan.batch_table``) and the parsing of a
Plotly selection (``pages.common.selected_customdata``)."""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.app.glossary import GLOSSARY, glossary_markdown, help_for
from core.app.scan import batch_table, table_rows, verdict_column
from core.app.summaries import (
    convergence_rows,
    detection_rows,
    pct,
    security_rows,
    security_summary,
    success_column,
)
from core.results.security import eps_text
from pages.common import selected_customdata
from tests.support import fake_security_doc

REPO = Path(__file__).resolve().parent.parent


def test_security_tables_and_summary_follow_the_numbers() -> None:
    doc = fake_security_doc()
    rows = {r["attack"]: r for r in security_rows(doc)}
    assert success_column(doc) == "success at ε = 0.3"
    assert rows["Joint PGD"]["ε50"] == "0.18" and rows["Selective PGD"]["ε50"] == "> max"
    assert rows["Joint PGD"]["success at ε = 0.3"] == 0.8125 and rows["PGD, no detector"]["success at ε = 0.3"] == 1.0
    assert rows["Joint PGD"]["kind"] == "adaptive" and rows["Joint PGD"]["reference"] == "Carlini & Wagner 2017"
    assert detection_rows(doc)[0] == {
        "attack": "FGSM",
        "detected at 1 % clean FPR": 0.61,
        "detected at 5 % clean FPR": 0.81,
        "detected at 10 % clean FPR": 0.91,
        "AUC": 0.9,
    }
    assert convergence_rows(doc)[2] == {
        "attack": "Feature matching",
        "100 steps": 0.5625,
        "1000 steps": 0.7188,
        "change": 0.1562,
    }
    assert eps_text(8 / 255, "cifar10") == "8/255" and eps_text(None, "mnist") == "> max"

    text = security_summary(doc, 0.05)
    assert "Joint PGD evades it on 81 %" in text and "not as a security guarantee" in text
    assert "100 % of them at ε = 0.3, half of them already by ε = 0.14" in text
    assert "More PGD steps still help (Feature matching: 56 % → 72 %" in text
    assert "the most successful, Salt & pepper, gets past it on 9 % of the images at ε = 0.3" in text
    assert "sidebar" not in text  # the file's operating point is the sidebar's
    assert "flagged 4.8 %" in text and "64 test images" in text
    assert "1 % clean false positives" in security_summary(doc, 0.01) and "61 %–67 %" in security_summary(doc, 0.01)
    # the words follow the numbers: a weak best attacker and converged attacks read differently
    doc["headline"]["best_success"] = 0.03
    doc["convergence"]["success"]["feature_matching"] = [0.5625, 0.5625]
    doc["convergence"]["success"]["joint_pgd"] = [0.8125, 0.8125]
    doc["convergence"]["success"]["o_pgd"] = [0.0625, 0.0625]
    text = security_summary(doc, 0.05)
    assert "evades it on 3 %" in text and "rarely get past it" in text
    assert "1000 PGD steps instead of 100 make no attack more successful: the attacks have converged" in text


def test_summary_never_says_at_most_or_more_than_zero() -> None:
    """Issue 19: "get past it on at most 0 %" and "by more than 0 %" read as nonsense; zero is said as none."""
    doc = fake_security_doc("cifar10")
    for name, kind in ((a, i["kind"]) for a, i in doc["attacks"].items()):
        if kind == "paper":
            doc["curves"][name]["success"] = [0.0] * len(doc["curves"][name]["success"])
    doc["convergence"]["success"] = {a: [r[0], r[0]] for a, r in doc["convergence"]["success"].items()}
    text = security_summary(doc, 0.05)
    assert "None of the paper's 7 attacks, which ignore the detector, gets past it at ε = 8/255" in text
    assert "make no attack more successful" in text
    assert not re.search(r"(at most|more than) 0 %", text)
    assert re.search(r"ε = \d+/255", text) and not re.search(r"ε = 0\.\d", text)  # CIFAR-10 budgets as k/255
    doc["convergence"]["success"]["joint_pgd"] = [0.8125, 0.8250]  # a small gain is named, never rounded to 0 %
    assert "add at most 1.2 % to any attack's success (Joint PGD)" in security_summary(doc, 0.05)


@pytest.mark.parametrize("share, words", [(0, "0 %"), (0.0004, "< 0.1 %"), (0.004, "0.4 %"), (0.048, "4.8 %"),
                                          (0.05, "5 %"), (0.8125, "81 %"), (1, "100 %")])
def test_pct_never_rounds_a_small_share_to_zero(share: float, words: str) -> None:
    assert pct(share) == words


def test_glossary_explains_every_term_the_pages_ask_for() -> None:
    """Every ``help_for("term")`` in the app names a glossary term (a typo would raise only when the page runs)."""
    used = set()
    for path in [REPO / "app.py", *(REPO / "pages").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "help_for":
                used |= {a.value for a in node.args if isinstance(a, ast.Constant)}
    assert used and used <= set(GLOSSARY), used - set(GLOSSARY)
    assert {"ε50", "L∞", "AUC", "KDE + BU", "PCA-50"} <= set(GLOSSARY)  # the jargon issue 19 names
    assert all(len(v) > 20 and v.endswith((".", ")")) for v in GLOSSARY.values())
    assert help_for("AUC", "ROC").count("**") == 4
    assert glossary_markdown().count("\n- ") == len(GLOSSARY) - 1
    with pytest.raises(KeyError):
        help_for("no such term")


def test_batch_table_shows_errors_and_flags_instead_of_none() -> None:
    probs = np.full(10, 0.1)
    ok = {"probs_1": probs, "probs_2": probs, "class_1": "1", "class_2": "1", "conf_1": 0.9, "conf_2": 0.8,
          "agree": True, "p_attack": {"all": 0.9, "fgsm": 0.2}, "flagged": {"all": True, "fgsm": False},
          "threshold": {"all": 0.5, "fgsm": 0.5}}
    clean = {**ok, "p_attack": {"all": 0.1, "fgsm": 0.1}, "flagged": {"all": False, "fgsm": False}}
    rows = table_rows(["a.png", "bad.png", "c.png"], [ok, None, clean], [None, "not a recognised image", None],
                      fpr=0.05)
    styled = batch_table(rows, verdict_column(0.05))
    df = styled.data
    assert list(df.columns[:3]) == ["file", "verdict at 5 % clean FPR", "error"]
    assert list(df["verdict at 5 % clean FPR"]) == ["ATTACK", "not scanned", "clean"]
    assert df.loc[1, "error"] == "not a recognised image" and df.loc[0, "error"] == ""
    html = styled.to_html()
    assert "None" not in html and "nan" not in html
    assert "#fde2e1" in html and "#f0f0f0" in html  # flagged row red, the unreadable file grey


def test_selected_customdata_reads_every_shape_plotly_sends() -> None:
    assert selected_customdata(None) == [] and selected_customdata({"selection": {"points": []}}) == []
    event = {"selection": {"points": [{"customdata": [2, 4]}, {"customdata": {"1": 5, "0": 3}}, {"customdata": 7},
                                      {"x": 1}]}}
    assert selected_customdata(event) == [[2, 4], [3, 5], [7]]


def test_the_entry_point_imports_no_torch_and_no_sklearn() -> None:
    """Issue 19's cold start: everything ``app.py`` imports loads without torch or scikit-learn, so the sidebar and
    the page title reach the browser before a page loads the engine."""
    mods = sorted({n.module for n in ast.walk(ast.parse((REPO / "app.py").read_text()))
                   if isinstance(n, ast.ImportFrom) and n.module and n.level == 0})
    assert "pages" in mods and "core.app.glossary" in mods
    code = ("import importlib, sys\n"
            f"for m in {mods!r}: importlib.import_module(m)\n"
            "heavy = sorted(m for m in ('torch', 'sklearn', 'scipy') if m in sys.modules)\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "", f"app.py's imports load {out.stdout.strip()}"
