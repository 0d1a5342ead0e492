"""``python -m core``'s error paths: a clear one-line message on stderr and exit status 2."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core import cli
from core.experiments.benchmarks import attacks, executors, missed
from core.models.classifiers import _load_weights


def test_unknown_attack_names(isolated: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["pipeline", "--dataset", "mnist", "--attacks", "fgsm,pgd"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown attack(s) pgd: choose from fgsm, igsm")
    assert cli.main(["pipeline", "--dataset", "mnist", "--n-attack", "cw=10"]) == 2
    assert "unknown attack(s) cw" in capsys.readouterr().err


def test_zero_workers(isolated: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["pipeline", "--dataset", "mnist", "--stage", "data", "--workers", "0"]) == 2
    assert capsys.readouterr().err == "error: workers must be >= 1, got 0\n"


def test_report_without_results(isolated: Path, capsys: pytest.CaptureFixture) -> None:
    shutil.rmtree(isolated / "results")
    assert cli.main(["report", "--dataset", "mnist"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and "no results to report" in out.err
    assert "`python -m core pipeline --dataset mnist`" in out.err


def test_report_prints_the_committed_results(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["report", "--dataset", "mnist"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("==== mnist ====") and "Table III" in out and "no results yet" not in out


def test_tampered_model_is_refused(isolated: Path, capsys: pytest.CaptureFixture) -> None:
    weights = isolated / "models" / "mnist" / "model_1.pt"
    weights.write_bytes(weights.read_bytes() + b"\0")
    _load_weights.cache_clear()
    assert cli.main(["attack-quality", "--dataset", "mnist", "--n", "4"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "model_1.pt" in err and "changed or corrupted" in err
    shipped = Path(__file__).resolve().parent.parent / "artifacts" / "results" / "mnist" / "table2.json"
    assert (isolated / "results" / "mnist" / "table2.json").read_bytes() == shipped.read_bytes()  # nothing written


def test_bench_targets_exit_nonzero_when_missed(monkeypatch, capsys) -> None:
    """A benchmark exits 1 when a figure misses its target (``--target`` replaces a bound), 0 when all are hit, 2 for
    a figure it does not measure."""
    assert missed({"a_budgets_disagreeing": 1.0}, {"a_budgets_disagreeing": ("<=", 0.0)})
    assert not missed({"x": 3.0}, {"x": (">=", 2.0), "not_measured": (">=", 1.0)})
    one_off = {f"{a}_budgets_disagreeing": 0.0 for a in attacks.LOOP_N} | {"igsm_budgets_disagreeing": 1.0}
    assert missed(one_off | {"step_ms_max": 5.0}, attacks.TARGETS) == ["MISSED igsm_budgets_disagreeing = 1 "
                                                                        "(target <= 0)"]
    measured = {"overhead": 0.04, "overhead_without_start_stop": 0.01, "ray_start_stop": 2.0, "identical": True,
                "n": 10, "attacks": 7, "workers": 2, "runs": [], "mean": {"process": 10.0, "ray": 10.4},
                "load_after": "0"}
    monkeypatch.setattr(executors, "measure", lambda n, root: dict(measured))
    assert cli.main(["bench", "executors"]) == 0
    assert cli.main(["bench", "executors", "--target", "overhead=0.01"]) == 1
    assert "MISSED overhead" in capsys.readouterr().out
    monkeypatch.setattr(executors, "measure", lambda n, root: {**measured, "identical": False})
    assert cli.main(["bench", "executors"]) == 1
    assert cli.main(["bench", "executors", "--target", "speed=3"]) == 2
    assert "no figure 'speed'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["bench", "executors", "--target", "overhead"])
