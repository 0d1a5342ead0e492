"""Hardened detector variants: built, calibrated, shipped and loaded like the paper's detector, over their own pair."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core import ATTACK_NAMES, detector
from core.data import samples
from core.hardening.variants import compare_pair, format_pair, harden, read_variant
from core.io.files import read_json
from core.io.manifest import read_manifest, update_manifest
from core.io.paths import artifacts_dir, detector_relpath, operating_points_path, result_path
from core.models import load_pair
from core.results.operating_points import read_operating_points
from tests.support import patch_data


@pytest.fixture
def robust_alias(isolated, monkeypatch):
    """The shipped MNIST pair registered under the "robust" role too (a stand-in for `train --robust`)."""

    models = read_manifest()["models"]
    for which in (1, 2):
        update_manifest("models", f"mnist/robust_{which}", models[f"mnist/model_{which}"])
        update_manifest("models", f"mnist/robust-surrogate_{which}", models[f"mnist/surrogate_{which}"])
    x, y = samples("mnist")
    patch_data(monkeypatch, "load_split", lambda *a, **k: (x, y))  # test split: the shipped samples
    train = (np.asarray(x * 255).round().astype(np.uint8), np.asarray(y))
    patch_data(monkeypatch, "load_split_uint8", lambda *a, **k: train)
    return isolated


def test_harden_ships_a_calibrated_variant_over_its_own_pair(robust_alias) -> None:
    doc = harden("mnist", "robust", n=24, seed=0)
    assert set(doc["table3"]) == set(ATTACK_NAMES)
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


    files = [*(artifacts_dir() / "detectors" / "mnist").glob("all-robust.*"), operating_points_path("mnist", "robust")]
    shipped = {p: p.read_bytes() for p in files}
    again = harden("mnist", "robust", n=24, seed=0, recheck=True)
    assert again["table3"] == doc["table3"] and read_variant("mnist", "robust")["table3"] == doc["table3"]
    assert all(p.read_bytes() == b for p, b in shipped.items())
    with pytest.raises(ValueError, match="--n 24"):
        harden("mnist", "robust", n=30, seed=0, recheck=True)


def test_missing_variant_names_the_command(isolated) -> None:
    for suffix in (".npz", ".json"):
        (isolated / (detector_relpath("mnist", "all", "robust_pgd") + suffix)).unlink()
    with pytest.raises(FileNotFoundError, match="python -m core harden --dataset mnist --variant robust_pgd"):
        detector.load("mnist", "all", variant="robust_pgd")


def test_compare_pair_writes_the_table3_of_both_pairs_and_refuses_the_shipped_role(robust_alias) -> None:
    doc = compare_pair("mnist", "robust", n=24, seed=0)
    saved = read_json(result_path("mnist", "pair_robust"))
    assert saved["table3"] == doc["table3"] and set(doc["table3"]) == set(ATTACK_NAMES)
    assert all(r["rows"] == 24 and 0.0 <= r["variant"] <= 1.0 for r in doc["table3"].values())
    shipped = read_manifest()["models"]["mnist/model_1"]["test_accuracy"]
    assert doc["pairs"]["model"][0]["test_accuracy"] == doc["pairs"]["robust"][0]["test_accuracy"] == shipped
    assert read_manifest()["files"]["results/mnist/pair_robust.json"]["command"] == (
        "python -m core compare-pair --dataset mnist --role robust")
    assert "salt_and_pepper" in format_pair(doc)
    with pytest.raises(ValueError, match="shipped one"):
        compare_pair("mnist", "model", n=24)






def test_every_variant_has_roles_and_a_description() -> None:
    assert set(detector.VARIANT_ROLES) == set(detector.VARIANT_DESCRIPTIONS) == set(detector.VARIANTS)
    assert detector.VARIANT_PAIRS == {v: r[0] for v, r in detector.VARIANT_ROLES.items()}


def test_a_head_of_the_wrong_width_is_refused() -> None:
    """A detector module over a pair takes a 20-feature head; a 40-feature one (four models) is a clear error."""
    rng = np.random.default_rng(0)
    head = detector.RBFHead(rng.random((5, 40)), rng.standard_normal(5), 0.1, 1.0, (1.0, 0.0))
    with pytest.raises(ValueError, match="40 features"):
        detector.DetectorModule(*load_pair("mnist"), head)
