"""``python -m core bench executors``: local Ray against the process pool on the MNIST ``data`` stage.

Both run ``python -m core pipeline --dataset mnist --stage data`` (``--n`` images per attack, default 1,000,
all seven attacks) with 2 workers, each run from an empty cache, in this process: the spawned process pool
(``--executor process --workers 2``) and a local Ray with 2 CPUs (``--executor ray --workers 2``), started and
shut down inside its timing, as a command pays both.  Runs go process, Ray, Ray, process, so a load that drifts
(the machine may be shared: the load average is printed before each run) favours neither; the means give
Ray's overhead, also shown without Ray's start and stop.  Every run's files must be identical.  Target: overhead
≤ 10 %.  Needs the MNIST train split (``$ADV_DATA_ROOT`` or ``--data-root``).
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from core.experiments.benchmarks import targets_from, verdict
from core.experiments.executors import Executor, connect
from core.experiments.pipeline import PipelineConfig, run
from core.io.files import write_json
from core.io.manifest import code_version, register_file
from core.io.paths import artifacts_dir, make_command, result_path

DEFAULT_N = 1_000
WORKERS = 2
TARGETS = {"overhead": ("<=", 0.10), "identical": (">=", 1.0)}  # Ray's overhead over the process pool; same files
TARGET = TARGETS["overhead"][1]
EXECUTORS = ("process", "ray")
ORDER = ("process", "ray", "ray", "process")  # ABBA: a load that drifts during the benchmark favours neither


@contextmanager
def scratch_artifacts(root: Path) -> Iterator[None]:
    """``$ADV_ARTIFACTS`` pointed at a copy of the shipped artifacts (less the examples the stage rewrites) under
    ``root``; restored after."""

    art = root / "artifacts"
    shutil.copytree(artifacts_dir(), art, ignore=shutil.ignore_patterns("adversarial", "embeddings"))
    with env_var("ADV_ARTIFACTS", str(art)):
        yield


@contextmanager
def env_var(name: str, value: str) -> Iterator[None]:
    """``$name`` set to ``value`` for the block, then restored (or removed)."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def stage_arrays(cfg: Any) -> dict[str, np.ndarray]:
    """Every chunk and assembled array of the stage (less provenance), to compare two runs."""
    out = {}
    for a in cfg.attacks:
        for p in sorted((cfg.cache() / a).glob("chunk_*.npz")) + [cfg.detector_data(a), cfg.adversarial(a)]:
            with np.load(p) as z:
                out.update({f"{p.parent.name}/{p.name}/{k}": z[k] for k in z.files if k != "meta"})
    return out


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal arrays, NaN equal to NaN (a budget is NaN where no attack was tried)."""
    return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def timed_stage(cfg: Any, executor: str) -> dict[str, Any]:
    """One fresh ``data`` stage with ``executor`` (Ray: a local cluster started and shut down inside the timing)."""

    r: dict[str, Any] = {"executor": executor, "load": load(), "init": 0.0, "shutdown": 0.0}
    t = time.perf_counter()
    if executor == "ray":
        ray = connect(Executor("ray", WORKERS))
        r["init"] = time.perf_counter() - t
    try:
        run(cfg, ["data"], log=lambda s: None, workers=WORKERS, executor=executor)
    finally:
        if executor == "ray":
            t_stop = time.perf_counter()
            ray.shutdown()
            r["shutdown"] = time.perf_counter() - t_stop
    r["seconds"] = time.perf_counter() - t
    r["arrays"] = stage_arrays(cfg)
    return r


def measure(n: int, data_root: str | None) -> dict[str, Any]:
    """Wall times of the ``data`` stage with both executors, in the order ``ORDER`` (each from an empty cache), their
    means and Ray's overhead, and whether every run wrote the same files."""

    cfg = PipelineConfig("mnist", n=n, data_root=data_root, command="python -m core bench executors")
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-executors-") as tmp, scratch_artifacts(Path(tmp)):
        for i, executor in enumerate(ORDER):
            with env_var("ADV_CACHE_DIR", str(Path(tmp) / f"{i}-{executor}")):
                runs.append(timed_stage(cfg, executor))
    first = runs[0].pop("arrays")
    identical = True
    for r in runs[1:]:
        arrays = r.pop("arrays")
        identical &= arrays.keys() == first.keys() and all(same(first[k], arrays[k]) for k in first)
    mean = {e: float(np.mean([r["seconds"] for r in runs if r["executor"] == e])) for e in EXECUTORS}
    fixed = float(np.mean([r["init"] + r["shutdown"] for r in runs if r["executor"] == "ray"]))
    return {"n": n, "attacks": len(cfg.attacks), "workers": WORKERS, "runs": runs, "mean": mean,
            "ray_start_stop": fixed, "overhead": mean["ray"] / mean["process"] - 1,
            "overhead_without_start_stop": (mean["ray"] - fixed) / mean["process"] - 1, "identical": identical,
            "load_after": load()}


def main(args: argparse.Namespace) -> int:
    """Print every run, the means, Ray's overhead against the target, and the load average."""

    torch.set_num_threads(1)  # the driver only waits; the workers get one thread each
    r = measure(args.n or DEFAULT_N, getattr(args, "data_root", None))
    print(f"bench executors — MNIST stage data: n={r['n']} per attack × {r['attacks']} attacks, {r['workers']} "
          f"workers, {os.cpu_count()} CPUs, each run from an empty cache")
    for x in r["runs"]:
        fixed = f" (ray.init {x['init']:.1f} s, shutdown {x['shutdown']:.1f} s)" if x["executor"] == "ray" else ""
        print(f"  {x['executor']:<8} {x['seconds']:7.1f} s{fixed:<34} load average before: {x['load']}")
    print(f"  mean: process pool {r['mean']['process']:.1f} s, local Ray {r['mean']['ray']:.1f} s "
          f"(load average after: {r['load_after']})")
    hit = "hit" if r["overhead"] <= TARGET else "MISSED"
    print(f"  Ray overhead {r['overhead']:+.1%} (without starting and stopping Ray, "
          f"{r['ray_start_stop']:.1f} s: {r['overhead_without_start_stop']:+.1%}); target ≤ "
          f"{TARGET:.0%}: {hit}")
    print(f"  files identical across runs: {'yes' if r['identical'] else 'NO'}")
    if getattr(args, "record", False):
        print(f"  recorded in {record(r)}")
    f = {k: float(r[k]) for k in ("overhead", "overhead_without_start_stop", "ray_start_stop", "identical")}
    return verdict(f, targets_from(args, TARGETS, f))


def record(result: dict[str, Any]) -> Path:
    """Write ``artifacts/results/mnist/bench_executors.json`` (what the README's Ray figures cite)."""


    path = result_path("mnist", "bench_executors")
    command = make_command("bench_executors", "mnist", n=str(result["n"]))
    write_json(path, {"command": command, "code_version": code_version(), "date": time.strftime("%Y-%m-%d"),
                      "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", **result})
    register_file(path, command)
    return path
