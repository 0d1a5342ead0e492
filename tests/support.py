"""Helpers shared by the browser test, the AppTest fixtures and the dashboard benchmark (`tests/bench_app.py`)."""
from __future__ import annotations

import io
import json
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

import core.data.datasets
from core import ATTACK_NAMES
from core.attacks.adaptive import ADAPTIVE_SPECS
from core.attacks.adaptive.grids import GRIDS, HEADLINE_EPS

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def chromium_path() -> str | None:
    """Debian's Chromium (or ``$CHROMIUM``); browser downloads do not work here."""
    for p in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium")):
        if p and Path(p).exists():
            return p
    return None


def streamlit_run(app: str | Path, port: int) -> list[str]:
    """The command line that serves ``app`` headless on ``port`` (the browser test and the benchmark)."""

    return [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true", "--server.port",
            str(port), "--browser.gatherUsageStats", "false"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def steady_state_init(original: Callable) -> Callable:
    """A ``PagesManager.__init__`` that leaves Streamlit's v1 ``pages/`` mode, so AppTest runs as a
    long-running server does (AppTest resets the mode before every run; the one rerun that leaves it would
    drop a clicked button's trigger)."""

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    return init


def fake_security_doc(dataset: str = "mnist") -> dict:
    """A ``security.json`` in the schema ``python -m core security`` writes, with made-up but consistent numbers
    (curves rise with ε, success + detected ≤ fooled), for the Security page and its figures."""


    grid = [round(e, 6) for e in GRIDS[dataset]]
    ramp = np.linspace(0, 1, len(grid))
    adaptive = ("joint_pgd", "feature_matching", "s_pgd", "o_pgd", "transfer")
    top = {"joint_pgd": 0.8125, "feature_matching": 0.6875, "s_pgd": 0.4375, "o_pgd": 0.0625, "transfer": 0.1875}
    e50 = {"no_detector": grid[6], "joint_pgd": grid[8], "feature_matching": grid[10], "s_pgd": None, "o_pgd": None,
           "transfer": None}
    curves, attacks = {}, {}
    for k, name in enumerate(("no_detector",) + ATTACK_NAMES + adaptive):
        fooled = np.minimum(1.0, ramp * 1.6)
        if name == "no_detector":
            success, detected = np.zeros_like(ramp), np.zeros_like(ramp)
        elif name in ATTACK_NAMES:
            success = ramp * (0.02 + 0.01 * k)
            detected = fooled * 0.9
        else:
            success = ramp * top[name]
            detected = np.maximum(fooled - success, 0) * 0.5
        curves[name] = {"eps": grid, "success": success.round(4).tolist(), "detected": detected.round(4).tolist(),
                        "fooled": fooled.round(4).tolist()}
        spec = ADAPTIVE_SPECS.get(name)
        kind = ("reference" if name == "no_detector" else "paper" if name in ATTACK_NAMES else
                "transfer" if name == "transfer" else "adaptive")
        attacks[name] = {"kind": kind, "label": spec.label if spec else name,
                         "reference": spec.reference if spec else "the paper's attack, blind to the detector",
                         "objective": spec.objective if spec else "the paper's budget search on model 1",
                         "seconds": 12.5 + k, "verified": 1.0, "mean_steps": 40.0 + k}
        e50.setdefault(name, None)
    head = HEADLINE_EPS[dataset]
    j = int(np.argmin(np.abs(np.asarray(grid) - head)))
    success = {a: curves[a]["success"][j] for a in curves}
    fpr_grid = np.linspace(0, 1, 101)
    roc = {a: {"fpr": fpr_grid.round(4).tolist(), "tpr": np.sqrt(fpr_grid).round(4).tolist(), "auc": 0.9 + 0.01 * i}
           for i, a in enumerate(ATTACK_NAMES)}
    return {
        "dataset": dataset, "variant": "paper", "fpr": 0.05, "threshold": 0.0123, "logit_threshold": -4.3867,
        "n": 64, "seed": 0, "steps": 100, "step_size": "eps/10", "restarts": 1,
        "command": f"python -m core security --dataset {dataset}", "code_version": "test",
        "images": {"split": "test", "half": "held_out", "indices": list(range(64))},
        "curves": curves, "eps50": e50, "attacks": attacks,
        "headline": {"eps": grid[j], "success": success, "best_adaptive": "joint_pgd",
                     "best_success": success["joint_pgd"], "joint_pgd_success": success["joint_pgd"]},
        "convergence": {"eps": grid[j], "n": 32, "steps": [100, 1000],
                        "success": {"no_detector": [1.0, 1.0], "joint_pgd": [0.8125, 0.84375],
                                    "feature_matching": [0.5625, 0.71875], "s_pgd": [0.4375, 0.4375],
                                    "o_pgd": [0.0625, 0.09375], "transfer": [0.1875, 0.1875]}},
        "operating_points": {
            "thresholds": {"0.01": 0.4321, "0.05": 0.0123, "0.1": 0.0045},
            "clean_fpr_held_out": {"0.01": 0.0096, "0.05": 0.0478, "0.1": 0.1012}, "clean_images": 5000,
            "detection": {a: {"0.01": round(0.61 + 0.01 * i, 4), "0.05": round(0.81 + 0.01 * i, 4),
                              "0.1": round(0.91 + 0.01 * i, 4)} for i, a in enumerate(ATTACK_NAMES)},
            "roc": roc},
        "note": "success: model 1 wrong and not flagged at the stated fpr",
    }


def write_fake_security(art: Path, dataset: str = "mnist") -> dict:
    """Write ``fake_security_doc`` where ``core.results.security.read_security`` looks under the artifacts folder
    ``art``."""

    doc = fake_security_doc(dataset)
    path = art / "results" / dataset / "security.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return doc


# ----------------------------------------------------------------------------- AppTest helpers shared by test_app*.py

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def app(timeout: int = 60):
    """A fresh ``AppTest`` of the dashboard's entry point."""

    return AppTest.from_file(APP, default_timeout=timeout)


def no_exception(at) -> None:
    assert not at.exception, [e.message for e in at.exception]


def messages(at) -> str:
    """Every info, warning, error and success message of a run, one a line."""
    return "\n".join(str(e.value) for kind in (at.info, at.warning, at.error, at.success) for e in kind)


def markdown(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def figures(at) -> list[dict]:
    """The Plotly figures of a run, as the JSON specs Streamlit sends."""

    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def png(arr) -> bytes:
    """PNG bytes of a uint8 image array (an upload)."""


    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def patch_data(monkeypatch: pytest.MonkeyPatch, name: str, value) -> None:
    """Replace ``core.data.<name>`` in every loaded ``core`` module that bound it (imports sit at the top of modules,
    so patching ``core.data`` alone would reach none of its users)."""
    original = getattr(core.data.datasets, name)
    for mod in list(sys.modules.values()):
        if getattr(mod, "__name__", "").startswith("core") and getattr(mod, name, None) is original:
            monkeypatch.setattr(mod, name, value)
