"""The detection pipeline end to end on a tiny MNIST config (shipped samples as the train split)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from core import detector
from core.data import samples
from core.detector import baselines as detector_baselines
from core.experiments.pipeline import PipelineConfig, run, run_stage
from core.io.files import exclusive_lock, read_json
from core.models import load_pair
from core.results.metrics import separability
from core.results.report import report
from tests.conftest import sample_mnist_root

ATTACKS = ("fgsm", "gaussian_blur")


@pytest.fixture
def tiny(isolated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PipelineConfig:
    """Isolated artifacts, a data root whose MNIST train split is the 200 shipped sample images."""

    monkeypatch.setenv("ADV_DATA_ROOT", str(sample_mnist_root(isolated, tmp_path)))
    return PipelineConfig("mnist", n=60, chunk=20, attacks=ATTACKS, cv_folds=3, inner_subsample=60, grid_c=(1.0, 10.0),
                          grid_gamma=("scale",), pooled_per_attack=60, shipped_per_attack=10, baseline_eval=30,
                          kde_reference=100, mc_samples=4, embed_points=40, embed_methods=("tsne",), command="test")


def test_end_to_end(tiny: PipelineConfig, isolated: Path) -> None:
    run(tiny, log=lambda s: None)
    res = isolated / "results" / "mnist"
    t3 = read_json(res / "table3.json")
    assert set(t3["table3"]) == set(ATTACKS) and t3["seed"] == 0 and t3["command"] == "test" and t3["code_version"]
    for a in ATTACKS:
        assert 0 <= t3["table3"][a]["accuracy"] <= 1
    tr = read_json(res / "transfer.json")
    assert np.array(tr["accuracy"]).shape == (2, 2) and np.array(tr["auc"]).shape == (2, 2)
    assert set(read_json(res / "loao.json")["loao"]) == set(ATTACKS)
    t4 = read_json(res / "table4.json")["table4"]
    assert {"feature_squeezing", "feinman", "ours"} <= set(t4["fgsm"])
    with np.load(res / "detector_data" / "fgsm.npz") as z:
        assert z["features"].shape == (60, 20) and set(np.unique(z["label"])) <= {0, 1}
        assert ((z["label"] == 1) == (z["attacked_model"] > 0)).all()
    m = load_pair("mnist")
    with np.load(isolated / "adversarial" / "mnist" / "fgsm.npz") as z:  # shipped examples still fool when reloaded
        x = torch.from_numpy(z["x"].astype(np.float32))
        for t in (1, 2):
            s = z["attacked_model"] == t
            if s.any():
                assert (m[t - 1](x[s]).argmax(1).numpy() != z["y"][s]).all()
    with np.load(res / "embeddings" / "fgsm.npz") as z:
        assert z["tsne_pixels"].shape == z["tsne_features"].shape == (len(z["label"]), 2)
    for name in ATTACKS + ("all",):
        det = detector.load("mnist", name)
        p = det.predict_proba(samples("mnist")[0][:5])
        assert p.shape == (5,) and np.isfinite(p).all()
    assert "Table III" in report(["mnist"]) and "Figure 4" in report(["mnist"])


def test_resume_after_interrupt_is_identical(tiny: PipelineConfig, isolated: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = replace(tiny, attacks=("fgsm",))

    class Stop(Exception):
        pass

    def stop_after_first(k: int) -> None:
        if k == 0:
            raise Stop

    with pytest.raises(Stop):
        run_stage(cfg, "data", after_chunk=stop_after_first)
    assert cfg.chunk_path("fgsm", 0).exists() and not cfg.chunk_path("fgsm", 1).exists()
    ran: list[int] = []
    run_stage(cfg, "data", after_chunk=ran.append)
    assert ran == [1, 2]  # the resume builds only the chunks the interrupted run had not written
    with np.load(cfg.detector_data("fgsm")) as z:
        resumed = {k: z[k] for k in z.files if k != "meta"}
    monkeypatch.setenv("ADV_CACHE_DIR", str(tmp_path / "fresh-cache"))
    ran.clear()
    run_stage(cfg, "data", after_chunk=ran.append)
    assert ran == [0, 1, 2]
    with np.load(cfg.detector_data("fgsm")) as z:
        for k, v in resumed.items():
            np.testing.assert_array_equal(z[k], v, err_msg=k)


def test_worker_processes_give_identical_results(tiny: PipelineConfig, isolated: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Stages data and embeddings in 2 spawned processes (one thread each) write bit for bit what one process with
    one thread writes (the CLI's default ``--threads 1``).  With another thread count float kernels may round
    differently (seen: features off by 2.7e-7 on a 2-core x86-64 machine): then every label, outcome, budget and
    index is still identical and every float within 1e-5."""

    def outputs() -> dict[str, np.ndarray]:
        got = {}
        for a in ATTACKS:
            for kind, path in (("data", tiny.detector_data(a)), ("emb", tiny.results() / "embeddings" / f"{a}.npz")):
                with np.load(path) as z:
                    got.update({f"{kind}/{a}/{k}": z[k] for k in z.files if k != "meta"})
        return got

    def fresh_run(cache: str, **kw) -> dict[str, np.ndarray]:
        monkeypatch.setenv("ADV_CACHE_DIR", str(tmp_path / cache))
        run(tiny, ["data", "embeddings"], log=lambda s: None, **kw)
        return outputs()

    threads = torch.get_num_threads()
    try:
        with threadpool_limits(1):
            torch.set_num_threads(1)
            single = fresh_run("single")
    finally:
        torch.set_num_threads(threads)
    parallel = fresh_run("parallel", workers=2)
    many = fresh_run("many-threads")  # this process's default thread count
    assert single.keys() == parallel.keys() == many.keys()
    for k, v in single.items():
        np.testing.assert_array_equal(parallel[k], v, err_msg=k)
        if not k.startswith("data/"):  # t-SNE/UMAP maps of features that differ in the last bit may differ more
            continue
        if np.issubdtype(v.dtype, np.floating):
            np.testing.assert_allclose(many[k], v, rtol=0, atol=1e-5, err_msg=k)
        else:
            np.testing.assert_array_equal(many[k], v, err_msg=k)
    with pytest.raises(ValueError, match="workers"):
        run(tiny, ["data"], workers=0)


def test_lock_refuses_second_run(tiny: PipelineConfig) -> None:
    with exclusive_lock(tiny.lock()):
        with pytest.raises(RuntimeError, match="another run"):
            run(tiny, ["cv"], log=lambda s: None)


def test_unknown_stage(tiny: PipelineConfig) -> None:
    with pytest.raises(ValueError, match="unknown stage"):
        run(tiny, ["nope"])


def test_mc_dropout_head_only_equals_full_passes() -> None:
    """Feinman's MC dropout reruns only the head where all dropout lives: same masks, same numbers."""

    m1, _ = load_pair("mnist")
    x, _ = samples("mnist")
    assert detector_baselines.dropout_head(m1) is not None
    fast = detector_baselines.mc_uncertainty(m1, x[:64], samples=20, seed=3)
    full = detector_baselines.mc_uncertainty(m1, x[:64], samples=20, seed=3, head_only=False)
    assert np.array_equal(fast, full) and fast.std() > 0


def test_embedding_separability_tells_apart_from_mixed(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    label = np.r_[np.zeros(100, np.int64), np.ones(100, np.int64)]
    apart = rng.normal(size=(200, 2)) + label[:, None] * 10
    mixed = rng.normal(size=(200, 2))
    np.savez(tmp_path / "e.npz", label=label, tsne_features=apart, tsne_pixels=mixed, clean_x=np.zeros((100, 1, 2, 2)))
    sep = separability(tmp_path / "e.npz")
    assert set(sep) == {"tsne_features", "tsne_pixels"}
    assert sep["tsne_features"] == 1.0 and 0.3 < sep["tsne_pixels"] < 0.7
