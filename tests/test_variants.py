"""Hardened detector variants: built, calibrated, shipped and loaded like the paper's detector, over their own pair."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core import detector
from core.io.paths import operating_points_path


@pytest.fixture
def robust_alias(isolated, monkeypatch):
    """The shipped MNIST pair registered under the "robust" role too (a stand-in for `train --robust`)."""
    from core.data import samples
    from core.io.manifest import read_manifest, update_manifest

    models = read_manifest()["models"]
    for which in (1, 2):
        update_manifest("models", f"mnist/robust_{which}", models[f"mnist/model_{which}"])
        update_manifest("models", f"mnist/robust-surrogate_{which}", models[f"mnist/surrogate_{which}"])
    x, y = samples("mnist")
    monkeypatch.setattr("core.data.load_split", lambda *a, **k: (x, y))  # test split: the shipped samples
    train = (np.asarray(x * 255).round().astype(np.uint8), np.asarray(y))
    monkeypatch.setattr("core.data.load_split_uint8", lambda *a, **k: train)
    return isolated


def test_harden_ships_a_calibrated_variant_over_its_own_pair(robust_alias) -> None:
    from core.hardening.variants import harden
    from core.models import load_pair
    from core.results.operating_points import read_operating_points

    doc = harden("mnist", "robust", n=24, seed=0)
    assert set(doc["table3"]) == set(detector.ATTACK_NAMES)
    assert all(0.0 <= r["variant"] <= 1.0 and 0.0 <= r["paper_same_rows"] <= 1.0 for r in doc["table3"].values())
    det = detector.load("mnist", "all", variant="robust")
    assert det.variant == "robust" and det.pair() == load_pair("mnist", "robust")
    op = read_operating_points("mnist", "robust")
    assert set(op["detectors"]) == {"all"} and det.threshold(0.05) == pytest.approx(
        op["detectors"]["all"]["0.05"]["threshold"]
    )
    x = torch.rand(5, 1, 28, 28)
    np.testing.assert_allclose(torch.sigmoid(det.module()(x).double()).numpy(), det.predict_proba(x), atol=1e-5)
    with pytest.raises(ValueError, match="one detector"):
        detector.load("mnist", "fgsm", variant="robust")

    # --recheck: the Table III check again, on the same rows, with the shipped detector and its points untouched
    
    from core.hardening.variants import read_variant
    from core.io.paths import artifacts_dir

    files = [*(artifacts_dir() / "detectors" / "mnist").glob("all-robust.*"), operating_points_path("mnist", "robust")]
    shipped = {p: p.read_bytes() for p in files}
    again = harden("mnist", "robust", n=24, seed=0, recheck=True)
    assert again["table3"] == doc["table3"] and read_variant("mnist", "robust")["table3"] == doc["table3"]
    assert all(p.read_bytes() == b for p, b in shipped.items())
    with pytest.raises(ValueError, match="--n 24"):
        harden("mnist", "robust", n=30, seed=0, recheck=True)


def test_missing_variant_names_the_command(isolated) -> None:
    for suffix in (".npz", ".json"):
        (isolated / (detector.detector_relpath("mnist", "all", "robust") + suffix)).unlink()
    with pytest.raises(FileNotFoundError, match="python -m core harden --dataset mnist --variant robust"):
        detector.load("mnist", "all", variant="robust")


def test_compare_pair_writes_the_table3_of_both_pairs_and_refuses_the_shipped_role(robust_alias) -> None:
    from core.hardening.variants import compare_pair, format_pair
    from core.io.files import read_json
    from core.io.manifest import read_manifest
    from core.io.paths import result_path

    doc = compare_pair("mnist", "robust", n=24, seed=0)
    saved = read_json(result_path("mnist", "pair_robust"))
    assert saved["table3"] == doc["table3"] and set(doc["table3"]) == set(detector.ATTACK_NAMES)
    assert all(r["rows"] == 24 and 0.0 <= r["variant"] <= 1.0 for r in doc["table3"].values())
    shipped = read_manifest()["models"]["mnist/model_1"]["test_accuracy"]
    assert doc["pairs"]["model"][0]["test_accuracy"] == doc["pairs"]["robust"][0]["test_accuracy"] == shipped
    assert read_manifest()["files"]["results/mnist/pair_robust.json"]["command"] == (
        "python -m core compare-pair --dataset mnist --role robust")
    assert "salt_and_pepper" in format_pair(doc)
    with pytest.raises(ValueError, match="shipped one"):
        compare_pair("mnist", "model", n=24)


def test_retrain_adds_the_previous_detectors_evasions_and_ships_a_calibrated_variant(robust_alias, monkeypatch) -> None:
    """Round r's positives are images the round r-1 detector lets through (model 1 wrong, not flagged at 5 %);
    the variant is stored, calibrated, loadable over the robust pair; a rerun resumes from the cached rounds."""
    from core.hardening.retraining import RETRAIN_ATTACKS, read_round_detector, read_round_rows, retrain

    from core.hardening.variants import read_variant
    from core.models import load_pair
    from core.results.operating_points import read_operating_points

    doc = retrain("mnist", rounds=2, n=24, per_round=6, seed=0)
    assert [r["round"] for r in doc["rounds"]] == [1, 2, 3] and doc["rounds"][-1]["final_check"]
    assert set(doc["table3"]) == set(detector.ATTACK_NAMES) and doc["n_support"] > 0
    det = detector.load("mnist", "all", variant="retrained")
    assert det.variant == "retrained" and det.pair() == load_pair("mnist", "robust")
    assert det.meta["rounds"] == 2 and read_variant("mnist", "retrained")["rounds"] == doc["rounds"]
    op = read_operating_points("mnist", "retrained")
    assert det.threshold(0.05) == pytest.approx(op["detectors"]["all"]["0.05"]["threshold"])
    rows = 7 * 24
    for rec in doc["rounds"]:
        r = rec["round"]
        added = read_round_rows("mnist", 0, 24, 6, r)
        pos = added["label"] == 1
        assert int(pos.sum()) == sum(rec["evaded"].values()) and set(rec["evaded"]) == set(RETRAIN_ATTACKS)
        prev = read_round_detector("mnist", 0, 24, 6, r - 1)
        assert prev.variant == ("robust" if r == 1 else "retrained")
        f = added["features"][pos]
        assert not prev.predict_features(f, 0.05).any()  # not flagged by the detector it was made against
        assert (f[:, :10].argmax(1) != added["true_class"][pos]).all()  # and model 1 is wrong
        if not rec.get("final_check"):
            rows += len(added["label"])
            assert rec["rows"] == rows and rec["rows_added"] == 2 * int(pos.sum())
    assert sum(sum(r["evaded"].values()) for r in doc["rounds"]) > 0  # the alias pair is easy: rows were added
    monkeypatch.setattr("core.hardening.retraining.attack_round", lambda *a, **k: pytest.fail("a cached round was redone"))
    assert retrain("mnist", rounds=2, n=24, per_round=6, seed=0)["rounds"] == doc["rounds"]


def test_pool_watches_both_pairs_on_the_paper_rows(robust_alias) -> None:
    """The ``pool`` variant: 40 features (shipped pair, then robust pair) on rows whose attacks target the shipped
    pair; its module, its verdicts and the adaptive attacks see all four models; the user's answer is model 1's."""
    from core.attacks.adaptive import get_adaptive
    from core.attacks.adaptive.base import budget_search, watched_logits
    from core.detector.judges import judge_for
    from core.hardening.variants import harden, pair_data
    from core.models import load_pair

    doc = harden("mnist", "pool", n=24, seed=0)
    assert set(doc["table3"]) == set(detector.ATTACK_NAMES)
    det = detector.load("mnist", "all", variant="pool")
    assert det.pair() == load_pair("mnist") and det.models() == load_pair("mnist") + load_pair("mnist", "robust")
    assert det.head.n_features_in_ == 40
    paper_rows = pair_data("mnist", "model", 24, 0, None)
    pool_rows = pair_data("mnist", "model", 24, 0, None, features=("model", "robust"))
    for a in detector.ATTACK_NAMES:  # same draws, same attacks; the robust pair's softmax appended
        np.testing.assert_array_equal(pool_rows[a]["label"], paper_rows[a]["label"])
        np.testing.assert_allclose(pool_rows[a]["features"][:, :20], paper_rows[a]["features"], atol=1e-6)
        assert pool_rows[a]["features"].shape[1] == 40
    x = torch.rand(5, 1, 28, 28)
    np.testing.assert_allclose(torch.sigmoid(det.module()(x).double()).numpy(), det.predict_proba(x), atol=1e-5)
    outs = det.module().outputs(x)
    assert len(watched_logits(outs)) == 4
    # an adaptive attack adapted to four models, and the transfer attacker with a surrogate of each
    judge = judge_for(det, 0.05)
    y = outs[0].argmax(1)
    curve = budget_search(get_adaptive("joint_pgd"), judge, x, y, np.array([0.1, 0.3]), 5, 0)
    assert curve.outcome.shape == (2, 5)
    assert len(detector.load_surrogates("mnist", "pool")) == 4
    with pytest.raises(ValueError, match="40 features"):
        detector.DetectorModule(*load_pair("mnist"), det.head)

    # robust_pool: the same rows and models, the robust pair first (its model 1 answers)
    harden("mnist", "robust_pool", n=24, seed=0)
    rp = detector.load("mnist", "all", variant="robust_pool")
    robust = load_pair("mnist", "robust")
    assert rp.pair() == robust and rp.models() == robust + load_pair("mnist")
    swapped = pair_data("mnist", "model", 24, 0, None, features=("robust", "model"))
    for a in detector.ATTACK_NAMES:
        np.testing.assert_array_equal(swapped[a]["features"], pool_rows[a]["features"][:, np.r_[20:40, 0:20]])


def test_every_variant_has_roles_and_a_description() -> None:
    assert set(detector.VARIANT_ROLES) == set(detector.VARIANT_DESCRIPTIONS) == set(detector.VARIANTS)
    assert detector.VARIANT_PAIRS == {v: r[0] for v, r in detector.VARIANT_ROLES.items()}
