"""``python -m core bench device --device cuda``: the engine's hot paths on the CPU and on a GPU, one process.

Per device: detection images/s (two forward passes + the shipped ``all`` RBF-SVM), the paper's IGSM budget
search (steps/s: one step = one image through one attack iteration, as ``BudgetResult.steps`` counts them),
the adaptive joint PGD budget search (image-steps/s against the differentiable detector), and training
(seconds per epoch from timed steps at the recipe's batch for the shipped pair and, on CIFAR-10, the paper's
full-size pair; bf16
autocast and channels-last on CUDA, as ``core.models.training``).  The CPU is the baseline; with ``--device cpu``
only the CPU is timed.  ``--record`` writes ``artifacts/results/<D>/bench_device.json``.
Also checked: the GPU's features against the CPU's (max abs difference) and the share of identical budgets.
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core import DATASETS
from core.attacks.adaptive import get_adaptive
from core.attacks.adaptive.base import budget_search as adaptive_search
from core.attacks.adaptive.grids import GRIDS
from core.attacks.search import budget_search
from core.data import SHAPES
from core.detector import load, pair_features
from core.detector.judges import judge_for
from core.experiments.benchmarks import targets_from, verdict
from core.experiments.benchmarks.detect import bench_images
from core.io.files import write_json
from core.io.manifest import code_version, register_file
from core.io.paths import make_command, result_path
from core.models import DEFAULT_SPECS, FULL_SIZE_SPECS, build_model, load_pair
from core.models.device import describe, resolve, synchronize

TRAIN_STEPS = {"cpu": 2, "cuda": 30}  # timed training steps per network (after two warm-up steps)
SEARCH_IMAGES = 100
PGD_STEPS, PGD_BUDGETS = 20, 4  # joint PGD: steps per budget, the first budgets of the grid
# what docs/detection.md claims of a GPU run: the features within 1e-5 of the CPU's, the same IGSM budgets
TARGETS = {"features_max_abs_diff": ("<=", 1e-5), "igsm_budgets_identical": (">=", 1.0)}


def _timed(fn, dev: torch.device, repeats: int = 3) -> float:
    """Best of ``repeats`` calls after one warm-up call (seconds)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        synchronize(dev)
        t = time.perf_counter()
        fn()
        synchronize(dev)
        best = min(best, time.perf_counter() - t)
    return best


def _once(fn, dev: torch.device) -> tuple[Any, float]:
    """``fn()`` and its wall time (seconds)."""
    synchronize(dev)
    t = time.perf_counter()
    out = fn()
    synchronize(dev)
    return out, time.perf_counter() - t


def train_epoch_seconds(dataset: str, spec: Any, dev: torch.device, steps: int) -> float:
    """Seconds per epoch of the training loop's step (batch 128, SGD; bf16 autocast on CUDA), from timed steps."""


    model = build_model(dataset, spec).to(dev).train()
    if dataset == "cifar10":
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    batch = 64 if dataset == "mnist" else 128  # the recipes' batch sizes
    xb = torch.rand((batch, *SHAPES[dataset]), generator=g).to(dev)
    yb = torch.randint(0, 10, (batch,), generator=g).to(dev)
    if dataset == "cifar10":
        xb = xb.contiguous(memory_format=torch.channels_last)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            loss = F.cross_entropy(model(xb).float(), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    torch.backends.cudnn.benchmark = dev.type == "cuda"  # fixed shapes, as in core.models.training
    try:
        for _ in range(2):
            step()
        synchronize(dev)
        t = time.perf_counter()
        for _ in range(steps):
            step()
        synchronize(dev)
        per_step = (time.perf_counter() - t) / steps
    finally:
        torch.backends.cudnn.benchmark = False
    n_train = 60_000 if dataset == "mnist" else 50_000
    return per_step * -(-n_train // batch)


def measure(dataset: str, device: str, n: int) -> dict[str, Any]:
    """The figures of one device (see the module docstring)."""

    dev = resolve(device)
    m1, m2 = load_pair(dataset, device=str(dev))
    det = load(dataset, "all")
    x = bench_images(dataset, n)
    t_detect = _timed(lambda: det.predict_proba_features(pair_features(m1, m2, x).numpy()), dev)
    features = pair_features(m1, m2, x).numpy()
    xs = x[: min(SEARCH_IMAGES, n)]
    ys = m1(xs).argmax(1)  # the attacked model's own labels: every image starts classified "right"
    budget_search("igsm", m1, xs[:2], ys[:2], seed=0)  # warm-up (cuDNN picks its kernels)
    res, t_search = _once(lambda: budget_search("igsm", m1, xs, ys, seed=0), dev)
    judge = judge_for(det, 0.05, str(dev))
    attack = get_adaptive("joint_pgd")
    grid = GRIDS[dataset][:PGD_BUDGETS]
    adaptive_search(attack, judge, xs[:2], ys[:2], grid[:1], steps=2, seed=0)
    curve, t_pgd = _once(lambda: adaptive_search(attack, judge, xs, ys, grid, steps=PGD_STEPS, seed=0), dev)
    steps = TRAIN_STEPS[dev.type]
    train = {f"model_{w}": train_epoch_seconds(dataset, DEFAULT_SPECS[(dataset, w)], dev, steps) for w in (1, 2)}
    if dataset == "cifar10":
        train.update({f"full_size_{w}": train_epoch_seconds(dataset, FULL_SIZE_SPECS[(dataset, w)], dev, steps)
                      for w in (1, 2)})
    return {
        "device": describe(dev),
        "detect_images_per_s": len(x) / t_detect,
        "igsm_search_steps_per_s": float(res.steps.sum()) / t_search,
        "igsm_search_images_per_s": len(xs) / t_search,
        "joint_pgd_steps_per_s": float(curve.steps.sum()) / t_pgd,
        "train_epoch_seconds": train,
        "_features": features,
        "_budgets": res.budget.numpy(),
    }


def run(dataset: str, device: str = "cuda", n: int = 1000) -> dict[str, Any]:
    """CPU figures, then (unless ``device`` is the CPU) the GPU's, their ratios and agreement."""
    out: dict[str, Any] = {"dataset": dataset, "images": n, "search_images": SEARCH_IMAGES,
                           "joint_pgd": {"steps": PGD_STEPS, "budgets": PGD_BUDGETS},
                           "torch": torch.__version__, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs"}
    cpu = measure(dataset, "cpu", n)
    runs = {"cpu": cpu}
    if resolve(device).type != "cpu":
        runs["gpu"] = gpu = measure(dataset, device, n)
        out["agreement"] = {
            "features_max_abs_diff": float(np.abs(gpu["_features"] - cpu["_features"]).max()),
            "igsm_budgets_identical": float((gpu["_budgets"] == cpu["_budgets"]).mean()),
        }
        out["gpu_over_cpu"] = {k: gpu[k] / cpu[k] for k in ("detect_images_per_s", "igsm_search_steps_per_s",
                                                            "joint_pgd_steps_per_s")}
        out["gpu_over_cpu"]["train"] = {k: cpu["train_epoch_seconds"][k] / gpu["train_epoch_seconds"][k]
                                        for k in cpu["train_epoch_seconds"]}
    out["runs"] = {k: {m: v for m, v in r.items() if not m.startswith("_")} for k, r in runs.items()}
    return out


def record(result: dict[str, Any]) -> Path:
    """Write ``artifacts/results/<D>/bench_device.json`` (what the README's GPU figures cite)."""

    path = result_path(result["dataset"], "bench_device")
    command = make_command("bench_device", result["dataset"])
    write_json(path, {"command": command, "code_version": code_version(), "date": time.strftime("%Y-%m-%d"),
                      **result})
    register_file(path, command)
    return path


def format_device(r: dict[str, Any]) -> str:
    runs = r["runs"]
    cols = list(runs)
    lines = [f"bench device — {r['dataset']} ({r['machine']}, torch {r['torch']}): "
             + "; ".join(f"{k}: {v['device']}" for k, v in runs.items()),
             f"{'figure':<34}" + "".join(f"{c:>12}" for c in cols) + ("       ratio" if "gpu" in runs else "")]

    def row(name: str, get, ratio: float | None, fmt: str = "{:>12.0f}") -> None:
        lines.append(f"{name:<34}" + "".join(fmt.format(get(runs[c])) for c in cols)
                     + (f"{ratio:>11.1f}x" if ratio is not None else ""))

    q = r.get("gpu_over_cpu", {})
    row("detect images/s", lambda v: v["detect_images_per_s"], q.get("detect_images_per_s"))
    row("IGSM budget search steps/s", lambda v: v["igsm_search_steps_per_s"], q.get("igsm_search_steps_per_s"))
    row("joint PGD search image-steps/s", lambda v: v["joint_pgd_steps_per_s"], q.get("joint_pgd_steps_per_s"))
    for k in runs["cpu"]["train_epoch_seconds"]:
        row(f"train s/epoch, {k}", lambda v, k=k: v["train_epoch_seconds"][k], q.get("train", {}).get(k),
            "{:>12.1f}")
    if "agreement" in r:
        a = r["agreement"]
        lines.append(f"GPU vs CPU: features within {a['features_max_abs_diff']:.1e}; "
                     f"IGSM budgets identical for {100 * a['igsm_budgets_identical']:.0f} % of images")
    return "\n".join(lines)


def figures(r: dict[str, Any]) -> dict[str, float]:
    """The figures a target may hold: the GPU's agreement with the CPU (GPU runs only), then ``<device>_<figure>``
    for each device's rates (e.g. ``cpu_detect_images_per_s``) and ``gpu_over_cpu_<figure>``."""
    out = dict(r.get("agreement", {}))
    for dev, v in r["runs"].items():
        out.update({f"{dev}_{k}": x for k, x in v.items() if isinstance(x, float)})
    out.update({f"gpu_over_cpu_{k}": x for k, x in r.get("gpu_over_cpu", {}).items() if isinstance(x, float)})
    return out


def main(args: argparse.Namespace) -> int:
    code = 0
    for d in [args.dataset] if getattr(args, "dataset", None) else DATASETS:
        r = run(d, getattr(args, "device", "cuda"), args.n or 1000)
        print(format_device(r))
        if getattr(args, "record", False):
            print(f"  recorded in {record(r)}")
        f = figures(r)
        code |= verdict(f, targets_from(args, TARGETS, f))
    return code
