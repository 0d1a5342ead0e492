"""``python -m core security``: the schema of security.json, the committed results' honesty checks, resume."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core import ATTACK_NAMES
from core.attacks.adaptive import ADAPTIVE_ATTACKS
from core.attacks.adaptive.grids import EXTENDED_GRIDS, GRIDS, HEADLINE_EPS
from core.experiments.security import ATTACK_ORDER, DEFAULT_N
from core.results.security import read_security

TOP_KEYS = {"dataset", "variant", "fpr", "threshold", "n", "curves", "eps50", "attacks", "headline", "convergence",
            "operating_points", "command", "code_version", "seed", "steps", "images"}


# a claimed success the fresh pass did not confirm, by float rounding on the GPU that ran the attack (1 of 200
# images stopped on model 1's decision boundary: in the fresh pass, another batch, model 1 is right; docs/security.md):
# the claim stays counted, so the file's figure flatters the attacker, not the defence
GPU_ROUNDING = {("cifar10", "robust_pool", "s_pgd")}


def check_schema(doc: dict, dataset: str, attacks=ATTACK_ORDER) -> None:
    assert TOP_KEYS <= set(doc) and doc["dataset"] == dataset
    grid = list(np.round((GRIDS if doc["variant"] == "paper" else EXTENDED_GRIDS)[dataset], 6))
    assert set(doc["curves"]) == set(attacks) == set(doc["eps50"]) == set(doc["attacks"])
    for name, c in doc["curves"].items():
        assert c["eps"] == grid
        for k in ("success", "detected", "fooled"):
            assert len(c[k]) == len(grid) and all(0.0 <= v <= 1.0 for v in c[k])
        s, f = np.array(c["success"]), np.array(c["fooled"])
        assert (np.diff(s) >= -1e-12).all(), f"{name}: success must not fall as the budget grows"
        assert (s <= f + 1e-12).all()
        e50 = doc["eps50"][name]
        if name != "no_detector":  # the median smallest undetected budget lies where success crosses one half
            reach = [e for e, v in zip(grid, s) if v >= 0.5]
            if e50 is None:
                assert s[-1] <= 0.5
            else:
                assert reach and reach[0] >= e50 - 1e-9 or s[-1] >= 0.5
        floor = 0.99 if (dataset, doc["variant"], name) in GPU_ROUNDING else 1.0
        assert doc["attacks"][name]["verified"] >= floor, f"{name}: a claimed success failed the fresh check"
    op = doc["operating_points"]
    assert set(op["thresholds"]) == {"0.01", "0.05", "0.1"} and op["thresholds"]["0.05"] == pytest.approx(
        doc["threshold"]
    )
    for name in (a for a in ATTACK_NAMES if a in attacks):
        roc = op["roc"][name]
        assert len(roc["fpr"]) == len(roc["tpr"]) and (np.diff(roc["tpr"]) >= -1e-9).all()


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_committed_security_results_meet_the_targets(dataset: str) -> None:
    doc = read_security(dataset)
    check_schema(doc, dataset)
    assert doc["n"] >= DEFAULT_N[dataset] and doc["fpr"] == 0.05 and doc["steps"] >= 100
    assert doc["headline"]["eps"] == pytest.approx(HEADLINE_EPS[dataset])
    assert doc["operating_points"]["clean_fpr_held_out"]["0.05"] <= 0.07
    # the strongest adaptive attack is at least as strong as a plain joint PGD at the headline budget
    h = doc["headline"]["success"]
    assert max(h[a] for a in ADAPTIVE_ATTACKS if a != "no_detector") >= h["joint_pgd"]
    assert doc["convergence"]["steps"] == [100, 1000] and doc["convergence"]["n"] == 100


def test_run_writes_the_schema_and_resumes_without_rerunning(isolated, monkeypatch) -> None:
    import core.experiments.security as S
    from core.data import samples

    x, y = samples("mnist")  # the shipped samples stand in for the test split
    monkeypatch.setattr("core.data.load_split", lambda *a, **k: (x, y))
    attacks = ("no_detector", "fgsm", "joint_pgd", "s_pgd")
    cfg = S.SecurityConfig("mnist", n=12, steps=5, long_steps=8, long_n=6, attacks=attacks)
    shipped = S.results_path("mnist").read_bytes()  # the isolated copy of the committed file
    assert S.run(replace(cfg, attacks=attacks[2:]), write=False) == {}  # another process fills part of the cache
    assert S.results_path("mnist").read_bytes() == shipped
    assert sorted(p.name for p in cfg.cache().glob("*.npz")) == ["joint_pgd.npz", "s_pgd.npz"]
    doc = S.run(cfg)
    check_schema(doc, "mnist", attacks)
    assert doc["n"] == 12 and doc["convergence"]["steps"] == [5, 8]
    assert S.read_security("mnist")["curves"] == doc["curves"]
    from core.data import test_halves

    assert set(doc["images"]["indices"]) <= set(test_halves(len(x))[1].tolist())  # never the calibration half

    def boom(*a, **k):
        raise AssertionError("a cached attack was run again")

    monkeypatch.setattr(S, "run_attack", boom)
    again = S.run(cfg)
    assert again["curves"] == doc["curves"]


def test_cli_refuses_bad_options(capsys) -> None:
    from core.cli import main

    assert main(["security", "--dataset", "mnist", "--attacks", "fgsm,cw"]) == 2
    assert "unknown attack" in capsys.readouterr().err
    assert main(["security", "--dataset", "mnist", "--n", "0"]) == 2


# what the README claims of each committed robust variant: the worst Table III cell against the paper detector's
# on the same rows, and the smallest ε50 ratio (robust / paper) over the detector-aware attacks
ROBUST_CLAIMS = {"mnist": {"table3_worst": -0.02, "eps50_ratio_min": 1.5},
                 "cifar10": {"table3_worst": -0.26, "eps50_ratio_min": 1.7}}


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_committed_robust_variant_makes_every_adaptive_attacker_pay_more(dataset) -> None:
    """The hardened variant: same schema, its own operating point holds, Table III as far from the paper
    detector's (same rows) as the README says, and every adaptive attacker's ε50 at least the claimed multiple."""
    from core.hardening.variants import read_variant

    robust, paper = read_security(dataset, "robust"), read_security(dataset)
    check_schema(robust, dataset)
    assert robust["variant"] == "robust" and robust["operating_points"]["clean_fpr_held_out"]["0.05"] <= 0.07
    table3 = read_variant(dataset, "robust")["table3"]
    claim = ROBUST_CLAIMS[dataset]
    assert min(r["variant"] - r["paper_same_rows"] for r in table3.values()) >= claim["table3_worst"]
    for a in ADAPTIVE_ATTACKS:
        if a != "no_detector":
            above_grid = robust["eps50"][a] is None  # null: no budget of the (extended) grid reached 50 %
            assert above_grid or robust["eps50"][a] >= claim["eps50_ratio_min"] * paper["eps50"][a] - 1e-9, a


def test_committed_retrained_variant_records_its_rounds_and_what_the_readme_claims() -> None:
    """The adversarially retrained MNIST variant: at least 3 rounds recorded (each: what every attack evaded against
    the previous detector, the rows that added), a final check, its own operating point, and every adaptive ε50 at
    least the 1.3× the paper detector's that docs/security.md reports (selective PGD: 0.34 against 0.26)."""
    from core.hardening.retraining import RETRAIN_ATTACKS

    from core.hardening.variants import read_variant

    sec, paper = read_security("mnist", "retrained"), read_security("mnist")
    check_schema(sec, "mnist")
    assert sec["variant"] == "retrained" and sec["operating_points"]["clean_fpr_held_out"]["0.05"] <= 0.07
    doc = read_variant("mnist", "retrained")
    *rounds, final = doc["rounds"]
    assert len(rounds) >= 3 and final["final_check"] and [r["round"] for r in doc["rounds"]] == list(
        range(1, len(rounds) + 2))
    for r in doc["rounds"]:
        assert set(r["evaded"]) == set(RETRAIN_ATTACKS)
        assert all(r["evasion_rate"][a] == pytest.approx(r["evaded"][a] / r["images"]) for a in RETRAIN_ATTACKS)
    assert all(r["rows_added"] == 2 * sum(r["evaded"].values()) for r in rounds)
    assert rounds[-1]["rows"] == 7 * doc["n_per_attack"] + sum(r["rows_added"] for r in rounds)
    for a in ADAPTIVE_ATTACKS:
        if a != "no_detector":
            assert sec["eps50"][a] is None or sec["eps50"][a] >= 1.3 * paper["eps50"][a] - 1e-9, a


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
@pytest.mark.parametrize("variant", ["pool", "robust_pool"])
def test_committed_pools_keep_table3_and_watch_four_models(dataset, variant) -> None:
    """The two pools (core.hardening.variants): one detector over four models learnt from the paper's rows, so Table III
    within 0.02 of the paper detector's on the same rows and its own operating point held; the shipped files say
    what docs/security.md reports: neither made every adaptive attacker pay more than the robust variant does."""
    from core.detector import load
    from core.hardening.variants import read_variant

    sec, robust = read_security(dataset, variant), read_security(dataset, "robust")
    check_schema(sec, dataset)
    assert sec["variant"] == variant and sec["operating_points"]["clean_fpr_held_out"]["0.05"] <= 0.07
    table3 = read_variant(dataset, variant)["table3"]
    assert min(r["variant"] - r["paper_same_rows"] for r in table3.values()) >= -0.02 - 1e-9
    det = load(dataset, "all", variant)
    assert det.head.n_features_in_ == 40 and len(det.models()) == 4
    assert any(sec["eps50"][a] < robust["eps50"][a] for a in ADAPTIVE_ATTACKS if a != "no_detector")


def test_committed_robust_pgd_doubles_the_strongest_attackers() -> None:
    """The multi-step PGD-trained MNIST pair: what the README and docs/security.md claim of its file -- joint PGD
    and feature matching at ≥ 2× the paper detector's ε50 (so the cheapest attack too), its own operating point
    held, and the Table III miss they report (−0.026, not below −0.03)."""
    from core.hardening.variants import read_variant

    sec, paper = read_security("mnist", "robust_pgd"), read_security("mnist")
    check_schema(sec, "mnist")
    assert sec["operating_points"]["clean_fpr_held_out"]["0.05"] <= 0.07
    for a in ("joint_pgd", "feature_matching"):
        assert sec["eps50"][a] >= 2 * paper["eps50"][a] - 1e-9, a
    adaptive = [a for a in ADAPTIVE_ATTACKS if a != "no_detector"]
    assert min(sec["eps50"][a] for a in adaptive) >= 2 * min(paper["eps50"][a] for a in adaptive) - 1e-9
    table3 = read_variant("mnist", "robust_pgd")["table3"]
    assert -0.03 <= min(r["variant"] - r["paper_same_rows"] for r in table3.values()) < -0.02
