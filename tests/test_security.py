"""``python -m core security``: the schema of security.json, the committed results' honesty checks, resume."""
from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch

import core.experiments.security as S
from core import ATTACK_NAMES, detector
from core.attacks import budget_search as paper_search
from core.attacks.adaptive import ADAPTIVE_ATTACKS, get_adaptive
from core.attacks.adaptive import budget_search as adaptive_search
from core.attacks.adaptive.grids import EXTENDED_GRIDS, GRIDS, HEADLINE_EPS
from core.cli import main
from core.data import samples
from core.data import test_roles as split_roles  # aliased: pytest would collect test_roles as a test
from core.detector.judges import judge_for
from core.detector.thresholds import FPRS, fpr_key
from core.experiments.security import ATTACK_ORDER, DEFAULT_N
from core.hardening.variants import read_variant
from core.io.paths import security_path
from core.results.metrics import eps50, outcomes_from_linf
from core.results.security import read_security
from tests.support import patch_data

TOP_KEYS = {"dataset", "variant", "fpr", "threshold", "n", "curves", "eps50", "attacks", "headline", "convergence",
            "operating_points", "command", "code_version", "seed", "steps", "images"}


# a claimed success the fresh pass did not confirm, by float rounding on the GPU that ran the attack (1 of 200
# images stopped on model 1's decision boundary: in the fresh pass, another batch, model 1 is right; docs/security.md):
# the claim stays counted, so the file's figure flatters the attacker, not the defence
GPU_ROUNDING: set[tuple[str, str, str]] = set()  # (dataset, variant, attack) claims a GPU batch rounds back


def eps50_matches_curve(grid: list[float], share: np.ndarray, e50: float | None, on_grid: bool = True) -> bool:
    """Whether ``e50`` can be the median of per-image smallest budgets whose running share on ``grid`` is ``share``.

    The share at budget e counts the images whose budget is ≤ e, so the median (the middle budget, or the mean of
    the two middle ones) lies above the last budget where fewer than half succeeded and at or below the first where
    more than half did; it is null exactly when at most half ever succeed.  The file's grid is rounded to 6
    decimals, hence the 1e-6.  ``on_grid=False`` (the paper's attacks, whose budget is the float32 L∞ size of the
    image found): an IGSM image k/255 away measures k/255 + 3e-8, which the curve counts at the next budget, so
    the median may sit on the last budget below one half."""
    share = np.asarray(share)
    if e50 is None or share[-1] <= 0.5:
        return e50 is None and share[-1] <= 0.5
    j = int(np.argmax(share >= 0.5))  # first budget where at least half succeeded
    k = int(np.argmax(share > 0.5))  # first where more than half did
    above = j == 0 or (e50 > grid[j - 1] + 1e-6 if on_grid else e50 >= grid[j - 1] - 1e-6)
    return above and e50 <= grid[k] + 1e-6


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
        # the median smallest successful budget lies where its curve crosses one half (no_detector: the first
        # fooling budget, so its curve is "fooled")
        on_grid = name not in ATTACK_NAMES
        assert eps50_matches_curve(grid, f if name == "no_detector" else s, doc["eps50"][name], on_grid), name
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
    # the headline is the curves at its budget, and the best detector-aware attacker beats every blind one there
    h, j = doc["headline"], doc["curves"]["joint_pgd"]["eps"].index(round(HEADLINE_EPS[dataset], 6))
    assert h["success"] == {a: c["success"][j] for a, c in doc["curves"].items()}
    adaptive = [a for a in ADAPTIVE_ATTACKS if a != "no_detector"]
    assert h["best_adaptive"] in adaptive and h["best_success"] == max(h["success"][a] for a in adaptive)
    assert h["best_success"] == h["success"][h["best_adaptive"]] and h["joint_pgd_success"] == h["success"]["joint_pgd"]
    assert h["best_success"] > max(h["success"][a] for a in ("no_detector", *ATTACK_NAMES))
    assert doc["convergence"]["steps"] == [100, 1000] and doc["convergence"]["n"] == 100


def test_run_writes_the_schema_and_resumes_without_rerunning(isolated, monkeypatch) -> None:
    x, y = samples("mnist")  # the shipped samples stand in for the test split
    patch_data(monkeypatch, "load_split", lambda *a, **k: (x, y))
    attacks = ("no_detector", "fgsm", "joint_pgd", "s_pgd")
    cfg = S.SecurityConfig("mnist", n=12, steps=5, long_steps=8, long_n=6, attacks=attacks)
    shipped = security_path("mnist").read_bytes()  # the isolated copy of the committed file
    assert S.run(replace(cfg, attacks=attacks[2:]), write=False) == {}  # another process fills part of the cache
    assert security_path("mnist").read_bytes() == shipped
    assert sorted(p.name for p in cfg.cache().glob("*.npz")) == ["joint_pgd.npz", "s_pgd.npz"]
    doc = S.run(cfg)
    check_schema(doc, "mnist", attacks)
    assert doc["n"] == 12 and doc["convergence"]["steps"] == [5, 8]
    assert read_security("mnist")["curves"] == doc["curves"]
    assert set(doc["images"]["indices"]) <= set(split_roles(len(x))["evaluation"].tolist())  # the evaluation role

    def boom(*a, **k):
        raise AssertionError("a cached attack was run again")

    monkeypatch.setattr(S, "run_attack", boom)
    again = S.run(cfg)
    assert again["curves"] == doc["curves"]


def test_cli_refuses_bad_options(capsys) -> None:
    assert main(["security", "--dataset", "mnist", "--attacks", "fgsm,cw"]) == 2
    assert "unknown attack" in capsys.readouterr().err
    assert main(["security", "--dataset", "mnist", "--n", "0"]) == 2


def test_committed_robust_pgd_doubles_four_of_five_attackers() -> None:
    """The multi-step PGD-trained MNIST pair on the held-out protocol: what the README and docs/security.md claim of
    its file -- joint PGD, feature matching, selective and orthogonal PGD at ≥ 2× the default detector's ε50 (so the
    cheapest attack too), the transfer attack at ≥ 1.5×, its own operating point held, Table III within 0.02."""

    sec, paper = read_security("mnist", "robust_pgd"), read_security("mnist")
    check_schema(sec, "mnist")
    assert sec["operating_points"]["clean_fpr_held_out"]["0.05"] <= 0.07
    assert sec["images"]["role"] == "evaluation" and detector.load("mnist", variant="robust_pgd").meta["roles"][
        "detector"]["role"] == "detector"
    for a in ("joint_pgd", "feature_matching", "s_pgd", "o_pgd"):
        assert sec["eps50"][a] >= 2 * paper["eps50"][a] - 1e-9, a
    assert sec["eps50"]["transfer"] >= 1.5 * paper["eps50"]["transfer"] - 1e-9
    adaptive = [a for a in ADAPTIVE_ATTACKS if a != "no_detector"]
    assert min(sec["eps50"][a] for a in adaptive) >= 2 * min(paper["eps50"][a] for a in adaptive) - 1e-9
    table3 = read_variant("mnist", "robust_pgd")["table3"]
    assert min(r["variant"] - r["paper_same_rows"] for r in table3.values()) >= -0.02


def test_run_reports_what_its_attacks_did(isolated, monkeypatch) -> None:
    """``security.run`` on a tiny config against an independent recomputation: the images it picks (held-out half,
    both models right), the per-budget outcomes of a paper attack (through the image-level API) and of joint PGD
    (the adaptive search on the same images and seed), their ε50 (median smallest undetected budget), the headline
    and the operating points (the detector's own thresholds and held-out clean false positives)."""

    x_all, y_all = samples("mnist")  # the shipped samples stand in for the test split
    patch_data(monkeypatch, "load_split", lambda *a, **k: (x_all, y_all))
    # 10 PGD steps a budget: at 5 no image evades the shipped detector, and the check below needs one that does
    cfg = S.SecurityConfig("mnist", n=10, steps=10, long_steps=12, long_n=4,
                           attacks=("no_detector", "fgsm", "joint_pgd"))
    doc = S.run(cfg)
    det = detector.load("mnist")
    m1, m2 = det.pair()
    idx = np.array(doc["images"]["indices"])
    held = split_roles(len(x_all))["evaluation"]
    x, y = x_all[idx], y_all[idx]
    with torch.no_grad():
        assert (m1(x).argmax(1) == y).all() and (m2(x).argmax(1) == y).all()
    assert len(idx) == doc["n"] == 10 and np.isin(idx, held).all() and len(set(idx.tolist())) == 10
    grid = np.asarray(GRIDS["mnist"])

    def evaded(x_adv: torch.Tensor) -> np.ndarray:  # model 1 wrong and the detector silent at 5 %
        with torch.no_grad():
            wrong = (m1(x_adv).argmax(1) != y).numpy()
        return wrong & ~det.predict(x_adv, fpr=0.05)

    # the paper's FGSM, blind to the detector: undetected from the first budget covering its image's L∞ size
    r = paper_search("fgsm", m1, x, y, seed=cfg.seed * 1000 + S.ATTACK_ORDER.index("fgsm"))
    linf = (r.x_adv - x).abs().flatten(1).amax(1).numpy()
    ok = r.fooled.numpy() & evaded(r.x_adv)
    expected = [float((ok & (linf <= e + 1e-9)).mean()) for e in grid]
    assert doc["curves"]["fgsm"]["success"] == pytest.approx(expected, abs=1e-4)
    fgsm_budget = np.where(ok, linf, np.inf)
    # joint PGD: its own search on the same images and seed; every image it calls evaded is evaded
    curve = adaptive_search(get_adaptive("joint_pgd"), judge_for(det, 0.05), x, y, grid, cfg.steps,
                            cfg.seed * 1000 + S.ATTACK_ORDER.index("joint_pgd"))
    assert doc["curves"]["joint_pgd"]["success"] == pytest.approx((curve.outcome == S.EVADED).mean(1), abs=1e-4)
    assert doc["curves"]["joint_pgd"]["detected"] == pytest.approx((curve.outcome == S.CAUGHT).mean(1), abs=1e-4)
    claimed = np.isfinite(curve.budget)
    assert claimed.any() and evaded(curve.x_adv)[claimed].all()
    for name, budget in (("fgsm", fgsm_budget), ("joint_pgd", curve.budget)):
        median = np.median(budget)
        assert doc["eps50"][name] == (pytest.approx(median) if np.isfinite(median) else None), name
    j = int(np.argmin(np.abs(grid - HEADLINE_EPS["mnist"])))
    assert doc["headline"]["success"]["joint_pgd"] == doc["curves"]["joint_pgd"]["success"][j]
    op = doc["operating_points"]
    clean = det.predict_proba(x_all[held])
    for a in FPRS:
        assert op["thresholds"][fpr_key(a)] == pytest.approx(det.threshold(a))
        assert op["clean_fpr_held_out"][fpr_key(a)] == pytest.approx(float((clean > det.threshold(a)).mean()),
                                                                      abs=1.0 / len(held))


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_the_schema_check_catches_a_wrong_eps50(dataset: str) -> None:
    """``check_schema`` is what the committed files are held to: one grid step off in any attack's ε50 fails it."""
    doc = read_security(dataset)
    grid = doc["curves"]["joint_pgd"]["eps"]
    i = int(np.argmin(np.abs(np.array(grid) - doc["eps50"]["joint_pgd"])))  # joint PGD's ε50 is a grid budget
    cases = [("joint_pgd", grid[i - 1]), ("joint_pgd", grid[i + 1])]  # one grid step off
    cases += [(name, wrong) for name in ("joint_pgd", "no_detector", "igsm") for wrong in (grid[0], grid[-1], None)]
    for name, wrong in cases:
        if wrong != doc["eps50"][name]:
            bad = copy.deepcopy(doc)
            bad["eps50"][name] = wrong
            with pytest.raises(AssertionError):
                check_schema(bad, dataset)


def test_outcomes_from_linf_count_an_image_from_the_budget_that_covers_it() -> None:
    """A fixed adversarial image per image: right below its L∞ size, then caught or evaded by its verdict; an image
    that never fooled model 1 stays right at every budget."""
    grid = np.array([0.1, 0.2, 0.3])
    linf = np.array([0.2, 0.05, 0.25, 0.1, 0.35])
    fooled = np.array([True, True, True, False, True])
    flagged = np.array([False, True, True, False, False])
    R, C, E = S.RIGHT, S.CAUGHT, S.EVADED
    np.testing.assert_array_equal(outcomes_from_linf(linf, fooled, flagged, grid),
                                  [[R, C, R, R, R], [E, C, R, R, R], [E, C, C, R, R]])
    # a size at a budget (up to float rounding) counts at that budget
    assert outcomes_from_linf(np.array([0.2 + 1e-12]), np.array([True]), np.array([False]), grid)[1, 0] == E


def test_eps50_is_the_median_smallest_budget_or_none() -> None:
    inf = np.inf
    assert eps50(np.array([0.1, 0.3, 0.2])) == pytest.approx(0.2)
    assert eps50(np.array([0.1, 0.2, 0.3, 0.4])) == pytest.approx(0.25)  # the mean of the two middle budgets
    assert eps50(np.array([0.1, 0.2, inf])) == pytest.approx(0.2)  # two of three succeed
    assert eps50(np.array([0.1, 0.2, inf, inf])) is None  # only half succeed: the median is above every budget
    assert eps50(np.array([inf, inf, 0.3])) is None
