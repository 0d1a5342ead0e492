"""``--executor ray``: the same files as the process pool (stages ``data`` and ``embeddings``) and the same
``security`` figures, a lost worker retried without a double or half write, and a clear error without Ray.  One
local Ray (2 CPUs) is shared by the module; Ray is a requirement, so these tests fail rather than skip when it is
missing."""
from __future__ import annotations

import functools
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from core import cli
from core.experiments import security as S
from core.experiments.executors import Executor
from core.experiments.pipeline import PipelineConfig, run
from core.experiments.pipeline import detector_data as data
from core.experiments.pipeline.parallel import per_attack
from tests.conftest import sample_mnist_root

ATTACKS = ("fgsm", "gaussian_noise")


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray with 2 CPUs for the whole module (``ray.init`` takes seconds); ``core.experiments.executors``
    reuses it."""
    import ray

    # pytest imports this file as a top-level module the workers cannot import: send its functions by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def tiny(isolated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PipelineConfig:
    """Isolated artifacts and a data root whose MNIST train and test splits are the 200 shipped sample images."""

    monkeypatch.setenv("ADV_DATA_ROOT", str(sample_mnist_root(isolated, tmp_path)))
    return PipelineConfig("mnist", n=40, chunk=20, attacks=ATTACKS, shipped_per_attack=10, embed_points=30,
                          embed_methods=("tsne",), command="test")


def stage_files(cfg: PipelineConfig, embeddings: bool = False) -> dict[str, np.ndarray]:
    """Every array of the ``data`` stage's chunks and assembled files (and of the ``embeddings``), less provenance."""
    got = {}
    for a in cfg.attacks:
        paths = sorted((cfg.cache() / a).glob("chunk_*.npz")) + [cfg.detector_data(a), cfg.adversarial(a)]
        paths += [cfg.results() / "embeddings" / f"{a}.npz"] if embeddings else []
        for p in paths:
            with np.load(p) as z:
                got.update({f"{p.parent.name}/{p.name}/{k}": z[k] for k in z.files if k != "meta"})
    return got


def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> None:
    monkeypatch.setenv("ADV_CACHE_DIR", str(tmp_path / name))


def test_ray_writes_what_the_process_pool_writes(local_ray, tiny: PipelineConfig, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    fresh(monkeypatch, tmp_path, "process")
    run(tiny, ["data", "embeddings"], log=lambda s: None, workers=2)
    pool = stage_files(tiny, embeddings=True)
    fresh(monkeypatch, tmp_path, "ray")
    out = run(tiny, ["data", "embeddings"], log=lambda s: None, workers=2, executor="ray")
    by_ray = stage_files(tiny, embeddings=True)
    assert len(pool) == 2 * (2 * 13 + 11 + 9 + 8)  # per attack: two chunks, the assembled set, shipped examples, maps
    assert by_ray.keys() == pool.keys()
    for k, v in pool.items():
        np.testing.assert_array_equal(by_ray[k], v, err_msg=k)
    assert [r["attack"] for r in out["data"]["attacks"]] == list(ATTACKS)


def log_chunk(log: str, k: int) -> None:
    with open(log, "a") as f:
        f.write(f"{k}\n")


def dying_build(cfg: PipelineConfig, attack: str, progress, marker: str, log: str) -> dict:
    """``data.build_and_assemble`` whose first attempt dies (``os._exit``) while writing chunk 1: its temporary
    file is written in full but never replaces the chunk.  Logs each attempt's start and each chunk written."""

    log_chunk(log, -1)
    if not os.path.exists(marker):
        Path(marker).touch()
        real = data.save_with

        def save_then_die(path, writer) -> None:
            die = Path(path) == cfg.chunk_path(attack, 1)
            real(path, lambda p: (writer(p), die and os._exit(1)))

        data.save_with = save_then_die  # this worker process only, and it dies
    return data.build_and_assemble(cfg, attack, progress, after_chunk=functools.partial(log_chunk, log))


def test_worker_lost_mid_chunk_is_retried_without_double_or_half_write(
    local_ray, tiny: PipelineConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = replace(tiny, n=60, attacks=("fgsm",))  # three chunks
    fresh(monkeypatch, tmp_path, "clean")
    run(cfg, ["data"], log=lambda s: None)
    clean = stage_files(cfg)
    fresh(monkeypatch, tmp_path, "killed")
    marker, log = tmp_path / "died-once", tmp_path / "chunks.log"
    job = functools.partial(dying_build, marker=str(marker), log=str(log))
    per_attack(cfg, job, workers=2, executor="ray")
    # attempt 1 wrote chunk 0 and died writing chunk 1; attempt 2 kept chunk 0 and wrote chunks 1 and 2, once each
    assert log.read_text().split() == ["-1", "0", "-1", "1", "2"]
    assert sorted(p.name for p in (cfg.cache() / "fgsm").iterdir()) == [f"chunk_{k:04d}.npz" for k in range(3)]
    retried = stage_files(cfg)
    assert retried.keys() == clean.keys()
    for k, v in clean.items():
        np.testing.assert_array_equal(retried[k], v, err_msg=k)


def test_security_attacks_as_ray_tasks_give_the_same_figures(local_ray, tiny: PipelineConfig, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = S.SecurityConfig("mnist", n=8, steps=3, long_steps=4, long_n=4, attacks=("no_detector", "fgsm", "joint_pgd"))
    threads = torch.get_num_threads()
    fresh(monkeypatch, tmp_path, "inline")
    torch.set_num_threads(1)  # as in a Ray task: float sums in the same order
    try:
        inline = S.run(cfg)
        fresh(monkeypatch, tmp_path, "ray")
        by_ray = S.run(cfg, executor="ray")
    finally:
        torch.set_num_threads(threads)
    assert sorted(p.name for p in cfg.cache().glob("*.npz")) == ["fgsm.npz", "joint_pgd.npz", "no_detector.npz"]
    for key in ("curves", "eps50", "headline", "operating_points"):
        assert by_ray[key] == inline[key], key
    assert by_ray["convergence"]["success"] == inline["convergence"]["success"]


def test_missing_ray_is_a_clear_error(isolated: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    assert cli.main(["pipeline", "--dataset", "mnist", "--stage", "data", "--executor", "ray"]) == 2
    err = capsys.readouterr().err
    assert err == "error: --executor ray needs Ray, which is not installed here: pip install ray==2.60.0 " \
                  "(requirements.txt pins it)\n"
    with pytest.raises(RuntimeError, match="needs Ray"):
        Executor("ray").map(print, [("never",)])
    assert cli.main(["pipeline", "--dataset", "mnist", "--stage", "data", "--address", "auto"]) == 2
    assert capsys.readouterr().err == "error: --address needs --executor ray\n"
    with pytest.raises(ValueError, match="unknown executor 'dask'"):
        Executor("dask")
