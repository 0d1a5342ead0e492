"""``python -m core lab demo NAME``: the shipped demo labs, each remade end to end by one command.

``mnist-torchscript``: the project's MNIST pair exported to TorchScript files and its test split written out as
PNG files, so the foreign-model path meets numbers known from the built-in dataset (equal to 1e-5, recorded in
``lab.json``).  ``cifar10-torchvision``: a second CIFAR-10 pair of torchvision architectures the project does not
ship (ResNet-18 and MobileNetV3-small, ``demo_pairs``), a few CPU epochs, on the CIFAR-10 test split.
Each then runs the lab's pipeline, calibration, held-out report and security sweep, and writes the lab's report.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from core.data import lab_images, load_split, load_split_uint8, resolve_root
from core.detector import watched_features
from core.experiments.calibration import calibrate
from core.experiments.heldout import HeldoutConfig
from core.experiments.heldout import run as run_heldout
from core.experiments.labs.create import LabConfig, create
from core.experiments.labs.demo_pairs import TORCHVISION_EPOCHS, train_torchvision_pair
from core.experiments.pipeline import PipelineConfig
from core.experiments.pipeline import run as run_pipeline
from core.experiments.security import SecurityConfig, default_attacks
from core.experiments.security import run as run_security
from core.io.files import save_with
from core.io.labs import lab_dir, lab_id, read_lab, write_lab
from core.io.paths import cache_dir
from core.models import MEAN_STD, load_pair
from core.models.device import resolve
from core.results.lab_report import write_lab_reports


@dataclass(frozen=True)
class DemoSizes:
    """How much each step of a demo measures."""

    pipeline_n: int  # detector-role images per attack
    heldout_n: int  # evaluation images per paper attack and model
    heldout_unseen: int  # ... per unseen attack and model
    security_n: int  # evaluation images of the security sweep
    long_n: int  # images of its 1,000-step convergence check


SIZES = {"mnist-torchscript": DemoSizes(1000, 200, 50, 50, 20),
         "cifar10-torchvision": DemoSizes(2000, 200, 50, 50, 20)}
QUICK = DemoSizes(20, 10, 5, 5, 3)


def _tqdm(iterable, **kw):
    return tqdm(iterable, dynamic_ncols=True, **kw)


def source_dir(name: str) -> Path:
    """Where a demo keeps what it makes before the lab copies it in (models, images): the local cache."""
    return cache_dir() / "labs-src" / name


def write_png_folder(x: np.ndarray, y: np.ndarray, folder: Path, classes: tuple[str, ...]) -> None:
    """uint8 ``[N,C,H,W]`` images as ``folder/<class>/<index:05d>.png`` (lossless; skipped when already there)."""
    done = folder / ".complete"
    if done.exists() and done.read_text() == str(len(x)):
        return
    for i in tqdm(range(len(x)), desc=f"write {folder}", unit="image", mininterval=5):
        path = folder / classes[int(y[i])] / f"{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        a = np.asarray(x[i])
        Image.fromarray(a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)).save(path)
    done.write_text(str(len(x)))


def mnist_torchscript(data_root: str | None, device: str, command: str) -> LabConfig:
    """The project's MNIST pair as TorchScript files, and the MNIST test split as a PNG folder."""
    src = source_dir("mnist-torchscript")
    with warnings.catch_warnings():  # torch 2.10+ deprecates TorchScript; this demo is its users' path
        warnings.simplefilter("ignore", FutureWarning)
        for i, m in enumerate(load_pair("mnist"), 1):
            save_with(src / f"model_{i}.ts", lambda p, m=m: torch.jit.save(torch.jit.script(m), str(p)))
    x, y = load_split_uint8("mnist", "test", data_root)
    write_png_folder(x, y, src / "data" / "heldout", tuple(str(c) for c in range(10)))
    return LabConfig("mnist-torchscript", str(src / "model_1.ts"), str(src / "model_2.ts"), str(src / "data"),
                     linf_step=5, data_root=data_root, force=True, command=command,
                     note={"pair": "the project's shipped MNIST pair (CNN, MLP) exported with torch.jit.script",
                           "images": "the MNIST test split as PNG files, named by their index in it"})


def cifar10_torchvision(data_root: str | None, device: str, command: str) -> LabConfig:
    """ResNet-18 and MobileNetV3-small trained here (checkpointed), on the CIFAR-10 test split's folder."""
    src = source_dir("cifar10-torchvision")
    records = train_torchvision_pair(src, _tqdm, device, TORCHVISION_EPOCHS, data_root)
    root, _ = resolve_root(data_root)
    mean, std = MEAN_STD["cifar10"]
    return LabConfig("cifar10-torchvision", f"resnet18={src / 'model_1.pt'}",
                     f"mobilenet_v3_small={src / 'model_2.pt'}", str(root / "cifar10"), split="test",
                     mean=mean, std=std, data_root=data_root, force=True, command=command,
                     note={"pair": f"torchvision resnet18 and mobilenet_v3_small (ImageNet stems, untouched), "
                                   f"{TORCHVISION_EPOCHS} epochs each of the project's CIFAR-10 recipe on the CPU "
                                   "(core.experiments.labs.demo_pairs): a few CPU epochs, not a tuned pair",
                           "training": records})


DEMOS: dict[str, Callable[[str | None, str, str], LabConfig]] = {
    "mnist-torchscript": mnist_torchscript, "cifar10-torchvision": cifar10_torchvision}
UNCOMMITTED_MODELS = {"cifar10-torchvision": "ResNet-18's weights are 45 MB, too large to commit"}


def equivalence(dataset: str, data_root: str | None) -> float:
    """Largest difference between the lab's features and the built-in MNIST pair's on every held-out image (the
    PNG files are named by their index in the MNIST test split; the lab lists them class by class)."""
    x_lab, _ = load_split(dataset, "test", data_root)
    files, _, _ = lab_images(read_lab(dataset), data_root)
    index = torch.tensor([int(f.stem) for f in files])
    x_mnist, _ = load_split("mnist", "test", data_root)
    return float((watched_features(load_pair(dataset), x_lab) - watched_features(load_pair("mnist"), x_mnist[index]))
                 .abs().max())


def run_demo(name: str, data_root: str | None = None, device: str = "cpu", quick: bool = False,
             log: Callable[[str], None] = print) -> int:
    """Make the demo lab ``name`` end to end; prints each step and its time."""
    device = str(resolve(device))
    sizes = QUICK if quick else SIZES[name]
    command = f"python -m core lab demo {name}" + (" --quick" if quick else "")
    t0 = time.time()

    def step(what: str, t: float) -> None:
        log(f"[{what}] {time.time() - t:.0f} s (total {time.time() - t0:.0f} s)")

    t = time.time()
    cfg = DEMOS[name](data_root, device, command)
    if quick:  # a smoke run never replaces the shipped lab
        cfg = replace(cfg, name=f"{name}-quick")
    step("pair and images", t)
    spec = create(cfg, _tqdm, log)
    dataset = lab_id(cfg.name)
    if name in UNCOMMITTED_MODELS:  # the app then says why the models are missing and how to remake them
        spec = replace(spec, models=tuple({**m, "note": UNCOMMITTED_MODELS[name], "remake": command}
                                          for m in spec.models))
        write_lab(lab_dir(dataset), spec)
    if name == "mnist-torchscript":
        diff = equivalence(dataset, data_root)
        spec = replace(spec, created={**spec.created, "equivalence": {
            "max_abs_feature_difference_vs_builtin_mnist": diff, "images": spec.data["images"], "tolerance": 1e-5}})
        write_lab(lab_dir(dataset), spec)
        log(f"[equivalence] features of the TorchScript lab vs the built-in MNIST pair: max |Δ| {diff:.2e}")
    lab = f"--lab {cfg.name}"
    for what, run in (  # each step as the command line would run it, and recorded under that command
        ("pipeline", lambda: run_pipeline(PipelineConfig(
            dataset, n=sizes.pipeline_n, data_root=data_root, device=device, protocol="heldout",
            command=f"python -m core pipeline {lab} --n {sizes.pipeline_n} --workers 2"), force=True,
            progress=_tqdm, workers=2, log=log)),
        ("calibrate", lambda: calibrate(dataset, data_root, progress=_tqdm, device=device)),
        ("heldout", lambda: run_heldout(HeldoutConfig(
            dataset, sizes.heldout_n, sizes.heldout_unseen, refits=False, data_root=data_root, device=device,
            command=f"python -m core heldout {lab} --n {sizes.heldout_n} --n-unseen {sizes.heldout_unseen} "
                    "--no-refits"), progress=_tqdm)),
        ("security", lambda: run_security(SecurityConfig(
            dataset, n=sizes.security_n, long_n=sizes.long_n, attacks=default_attacks(dataset), data_root=data_root,
            device=device, command=f"python -m core security {lab} --n {sizes.security_n} --long-n {sizes.long_n}"),
            progress=_tqdm)),
        ("report", lambda: write_lab_reports(dataset)),
    ):
        t = time.time()
        run()
        step(what, t)
    return 0

