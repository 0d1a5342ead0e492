"""The held-out protocol end to end on a tiny MNIST (the 200 shipped samples as the test split), and the attacks
no detector trained on."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from core import detector
from core.attacks.adaptive.grids import GRIDS
from core.attacks.unseen import UNSEEN_ATTACKS, unseen_attack
from core.data import samples
from core.data import test_roles as split_roles  # aliased: pytest would collect test_roles as a test
from core.experiments import heldout as H
from core.experiments.pipeline import PipelineConfig, run
from core.io.files import read_json
from core.models import load_pair
from core.results.heldout import format_heldout, read_heldout
from tests.conftest import sample_mnist_root

ATTACKS = ("fgsm", "gaussian_blur")


@pytest.fixture
def tiny(isolated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PipelineConfig:
    """Isolated artifacts, a data root whose MNIST test split is the 200 shipped sample images."""
    monkeypatch.setenv("ADV_DATA_ROOT", str(sample_mnist_root(isolated, tmp_path)))
    return PipelineConfig("mnist", n=100, chunk=50, attacks=ATTACKS, inner_subsample=60, grid_c=(1.0, 10.0),
                          detector_grid_gamma=(1.0, 10.0), pooled_per_attack=60, command="test", protocol="heldout")


def test_heldout_protocol_trains_on_the_detector_role_and_records_it(tiny: PipelineConfig, isolated: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    run(tiny, log=lambda s: None)
    roles = split_roles(200)
    with np.load(isolated / "results" / "mnist" / "heldout" / "detector_data" / "fgsm.npz") as z:
        src = z["source_index"]
    assert len(src) == 100 == len(roles["detector"]) and set(src) == set(roles["detector"])  # the whole role
    assert read_json(isolated / "results" / "mnist" / "heldout" / "detector_data.json")["protocol"] == "heldout"
    assert not (isolated / "adversarial" / "mnist" / "heldout").exists()
    for name in ATTACKS + ("all",):
        det = detector.load("mnist", name)
        trained = det.meta["roles"]["detector"]
        assert trained == {"split": "test", "role": "detector", "seed": 0, "images": trained["images"]}
        assert trained["images"] == 100 if name != "all" else 50 <= trained["images"] <= 100  # 'all': a subsample
        assert det.meta["calibration"]["role"] == "calibration" and det.meta["calibration"]["calibration_images"] == 40
        assert len(det.clean_scores_) == 40
    with pytest.raises(ValueError, match="roles do not match"):  # 200 test images here, 10,000 in MNIST
        detector.unseen_test_indices("mnist")
    with pytest.raises(ValueError, match="not part of the heldout protocol"):
        run(tiny, stages=["cv"], log=lambda s: None)
    with pytest.raises(ValueError, match="not part of the paper protocol"):
        run(replace(tiny, protocol="paper"), stages=["detectors"], log=lambda s: None)

    cfg = H.HeldoutConfig("mnist", n=30, n_unseen=8, attacks=ATTACKS + ("pgd_min",), command="test")
    doc = H.run(cfg)
    assert read_heldout("mnist") == doc and "held-out protocol" in format_heldout(doc)
    assert [(r["attack"], r["target"]) for r in doc["rows"]] == [(a, t) for a in cfg.attacks for t in (1, 2)]
    assert doc["clean"]["images"] == len(roles["evaluation"]) == 60
    for r in doc["rows"]:
        assert r["images"] == cfg.images(r["attack"]) and 0 <= r["fooled"] <= r["attacked"] <= r["images"]
        assert all(v is None or 0 <= v <= 1 for v in r["detection"].values())
    assert set(doc["loao"]) == set(ATTACKS) and {t["what"][:5] for t in doc["targets"]} == {"clean", "lowes"}
    m1, _ = load_pair("mnist")
    x, y = samples("mnist")
    order = H.evaluation_order(cfg, 200)
    assert set(order) == set(roles["evaluation"])
    with np.load(cfg.rows_path("fgsm", 1)) as z:  # the cached rows are the evaluation images model 1 gets right
        assert np.array_equal(z["right"], (m1(x[order[:30]]).argmax(1) == y[order[:30]]).numpy())

    def boom(*a, **k):
        raise AssertionError("a cached attack was run again")

    monkeypatch.setattr(H, "attack_rows", boom)
    assert H.run(cfg)["rows"] == doc["rows"]  # resumed from the cache


@pytest.mark.parametrize("name", UNSEEN_ATTACKS)
def test_unseen_attacks_keep_their_contract(name: str) -> None:
    x, y = samples("mnist")
    m1, _ = load_pair("mnist")
    ok = m1(x).argmax(1) == y
    x, y = x[ok][:12], y[ok][:12]
    attack = unseen_attack(name, "mnist")
    r = attack(m1, x, y, seed=0)
    assert r.x_adv.shape == x.shape and r.x_adv.dtype == torch.float32 and 0 <= r.x_adv.min() and r.x_adv.max() <= 1
    with torch.no_grad():
        assert torch.equal(r.fooled, m1(r.x_adv).argmax(1) != y)
    assert r.fooled.float().mean() >= 0.5  # a real attack on an undefended MNIST model
    assert torch.isinf(r.budget[~r.fooled]).all()
    if name == "pgd_min":
        assert torch.equal(r.budget[r.fooled], r.linf[r.fooled]) and (r.linf <= max(GRIDS["mnist"]) + 1e-6).all()
        # the smallest grid ε that fools: on each image, PGD at the ε below did not (checked on one image)
        i = int(r.fooled.nonzero()[0, 0])
        below = [e for e in GRIDS["mnist"] if e < float(r.budget[i]) - 0.01]
        if below:
            assert not bool(type(attack)(tuple(below))(m1, x[i:i + 1], y[i:i + 1], seed=0).fooled[0])
    elif name == "square":
        assert (r.linf <= attack.eps + 1e-6).all()
    else:
        assert torch.allclose(r.budget[r.fooled], r.l2[r.fooled])
    with pytest.raises(ValueError, match="images must"):
        attack(m1, x[0], y, seed=0)
    with pytest.raises(ValueError, match="unknown attack"):
        unseen_attack("nope", "mnist")
