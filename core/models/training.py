"""Training the classifiers: the paper's recipes, a checkpoint each epoch, exact resume after a kill.

Each epoch reseeds shuffling, augmentation and dropout from ``(seed, epoch)``,
so a run resumed from a checkpoint gives the same weights as an uninterrupted one.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from core.data import data_fingerprint, load_split
from core.io.files import read_json, save_with, sha256_file
from core.io.manifest import register_file, update_manifest
from core.io.paths import artifacts_dir, cache_dir, check_dataset
from core.models.classifiers import (
    DEFAULT_SPECS,
    FULL_SIZE_SPECS,
    ROLE_FLAGS,
    ModelSpec,
    accuracy,
    build_model,
    model_key,
)
from core.models.device import describe, on_device, resolve, synchronize


@dataclass(frozen=True)
class TrainConfig:
    """One model's training recipe.  ``recipe(dataset, which)`` gives the defaults."""

    dataset: str
    which: int
    spec: ModelSpec
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float = 0.0
    nesterov: bool = False
    schedule: str = "constant"  # or "onecycle": linear warm-up to lr, then cosine/linear decay (per batch)
    augment: bool = False  # random crop (pad 4) + horizontal flip
    seed: int = 0
    limit: int | None = None  # train on the first `limit` images (tests, smoke runs)
    data_root: str | None = None
    role: str = "model"  # "model": the shipped pair; "surrogate": an attacker's own pair; "robust(-pgd)": adversarial
    adv_eps: float = 0.0  # > 0: adversarial training (Madry et al. 2018) at this L∞ budget
    adv_steps: int = 1  # attack steps per training batch (random start; 1 = FGSM, step 1.25·ε; else 2.5·ε/steps)
    adv_warmup_epochs: int = 2  # ε grows linearly from 0 over these epochs (small models fail at full ε at once)
    adv_weight: float = 0.5  # the adversarial examples' share of the loss (Madry et al.: 1, all adversarial)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["spec"] = self.spec.to_dict()
        return d


def robust_recipe(dataset: str, which: int) -> TrainConfig:
    """An adversarially trained pair for the hardened detector: the paper's architectures, half clean and half
    adversarial examples per batch by "fast" adversarial training (Wong et al. 2020: FGSM from a random start,
    step 1.25·ε, ε warmed up over 2 epochs).  MNIST: ε 0.3, SGD momentum 0.9, 10 epochs (CPU).  CIFAR-10:
    ε 8/255, the CIFAR-10 recipe at batch 256 and peak lr 0.2 for 15 epochs (Wong et al. train 15; the
    larger batch halves the kernel launches of a GPU epoch) -- minutes on a GPU (``--device cuda``), many
    hours on a CPU."""
    if dataset == "mnist":
        return replace(recipe(dataset, which), role="robust", momentum=0.9, adv_eps=0.3)
    return replace(recipe(dataset, which), role="robust", adv_eps=8 / 255, epochs=15, batch_size=256, lr=0.2)


def pgd_recipe(dataset: str, which: int) -> TrainConfig:
    """A more robust MNIST pair (role ``robust-pgd``, ``train --robust --pgd``): Madry et al. 2018's adversarial
    training, 7 PGD steps of 2.5·ε/7 from a random start at ε = 0.3 (warmed up over 2 epochs), otherwise the robust
    recipe -- about 21 min for the CNN on one CPU core.  The CNN trains on adversarial examples only; the MLP keeps
    half clean ones (all adversarial, it reached 85.67 % clean accuracy).  CIFAR-10 has none (the single-step
    ``robust`` recipe already needs a GPU)."""
    if dataset != "mnist":
        raise ValueError("the multi-step PGD recipe (--pgd) is MNIST's; CIFAR-10's adversarial pair is --robust")
    return replace(robust_recipe(dataset, which), role="robust-pgd", adv_steps=7, adv_weight=1.0 if which == 1 else 0.5)


def pgd_for_training(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int,
                     gen: torch.Generator) -> torch.Tensor:
    """L∞ PGD from a seeded random start (the model in eval mode while attacking); one step is FGSM-RS."""
    was = model.training
    model.eval()
    try:
        x_adv = (x + (torch.rand(x.shape, generator=gen).to(x.device) * 2 - 1) * eps).clamp(0, 1)
        for _ in range(steps):
            x_adv.requires_grad_(True)
            (g,) = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
            alpha = 1.25 * eps if steps == 1 else 2.5 * eps / steps
            x_adv = torch.min(torch.max(x_adv.detach() + alpha * g.sign(), x - eps), x + eps).clamp(0, 1)
    finally:
        model.train(was)
    return x_adv.detach()


def recipe(dataset: str, which: int, full_size: bool = False) -> TrainConfig:
    """Default recipe per dataset.

    MNIST: the paper's SGD, lr 0.01, batch 64, 10 epochs, plus momentum 0.5 (PyTorch's MNIST example,
    from which the paper's CNN comes).  CIFAR-10: SGD momentum 0.9, weight decay 5e-4 (the paper's),
    a one-cycle schedule peaking at the paper's 0.1, random crop + flip; 40 epochs for the VGG (at 25 it
    stopped at 86.2 % on the JPEG test set), 25 for the ResNet-20.  Both fit ~1 h each per CPU core.
    """
    check_dataset(dataset)
    if which not in (1, 2):
        raise ValueError(f"model must be 1 or 2, got {which!r}")
    spec = (FULL_SIZE_SPECS if full_size and dataset == "cifar10" else DEFAULT_SPECS)[(dataset, which)]
    if dataset == "mnist":
        return TrainConfig(dataset, which, spec, epochs=10, batch_size=64, lr=0.01, momentum=0.5)
    epochs = 40 if which == 1 and not full_size else 25
    return TrainConfig(dataset, which, spec, epochs=epochs, batch_size=128, lr=0.1, momentum=0.9,
                       weight_decay=5e-4, nesterov=True, schedule="onecycle", augment=True)


def augment_batch(x: torch.Tensor, gen: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop after zero padding, and a random horizontal flip, per image (vectorised)."""
    n, c, h, w = x.shape
    dev = x.device  # the draws come from the CPU generator whatever the device: the same crops on a GPU
    padded = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=gen).to(dev)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=gen).to(dev)
    rows = (oy[:, None] + torch.arange(h, device=dev))[:, None, :, None]
    cols = (ox[:, None] + torch.arange(w, device=dev))[:, None, None, :]
    out = padded[torch.arange(n, device=dev)[:, None, None, None], torch.arange(c, device=dev)[None, :, None, None],
                 rows, cols]
    flip = (torch.rand(n, generator=gen) < 0.5).to(dev)
    return torch.where(flip[:, None, None, None], out.flip(-1), out)


def _lr_at(cfg: TrainConfig, step: int, total: int) -> float:
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "onecycle":
        warm = max(1, int(0.15 * total))
        if step < warm:
            return cfg.lr * (0.1 + 0.9 * step / warm)
        frac = (step - warm) / max(1, total - warm)
        return cfg.lr * 0.5 * (1 + torch.cos(torch.tensor(frac * torch.pi)).item()) + 1e-4
    raise ValueError(f"unknown schedule {cfg.schedule!r}")


def checkpoint_path(cfg: TrainConfig) -> Path:
    role = "model" if cfg.role == "model" else f"{cfg.role}-model"
    return cache_dir() / "checkpoints" / f"{cfg.dataset}-{role}{cfg.which}.pt"


def weights_relpath(dataset: str, which: int, role: str = "model") -> str:
    return f"models/{dataset}/{role}_{which}.pt"


def _to_cl(model: nn.Module, x: torch.Tensor, dataset: str) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if dataset == "cifar10" else x


def train(cfg: TrainConfig, progress: Callable[..., Any] | None = None, command: str = "",
          device: str = "cpu") -> dict[str, Any]:
    """Train one model (``fit``) and ship the weights; returns the manifest entry."""
    model, seconds = fit(cfg, progress, device)
    return ship(cfg, model, seconds, command, resolve(device))


def fit(cfg: TrainConfig, progress: Callable[..., Any] | None = None,
        device: str = "cpu") -> tuple[nn.Module, float]:
    """Train one model, checkpointing each epoch and resuming from the last; the trained model (eval mode, on the
    CPU's memory format) and the training seconds.

    ``progress(iterable, **kw)`` wraps the batch loop (tqdm in the CLI).
    On CUDA the training set lives on the GPU and the steps run under bf16 autocast (``core.models.device``);
    shuffling and augmentation draw from the same CPU generator as on the CPU.
    """
    dev = resolve(device)
    x_train, y_train = load_split(cfg.dataset, "train", cfg.data_root, cfg.limit)
    x_train, y_train = x_train.to(dev), y_train.to(dev)
    torch.manual_seed(cfg.seed)  # initial weights depend on the seed alone
    model = build_model(cfg.dataset, cfg.spec).to(dev)
    if cfg.dataset == "cifar10":
        model = model.to(memory_format=torch.channels_last)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda")
    torch.backends.cudnn.benchmark = dev.type == "cuda"  # fixed batch shapes: let cuDNN pick its kernels once
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay, nesterov=cfg.nesterov)
    ckpt = checkpoint_path(cfg)
    start_epoch, seconds = 0, 0.0
    if ckpt.exists():
        state = torch.load(ckpt, map_location=dev, weights_only=True)
        if state["config"] == cfg.to_dict():
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            start_epoch, seconds = state["epoch"], state["seconds"]
    n = len(x_train)
    steps_per_epoch = (n + cfg.batch_size - 1) // cfg.batch_size
    total = cfg.epochs * steps_per_epoch
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.time()
        torch.manual_seed(cfg.seed * 100_003 + epoch)
        gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        order = torch.randperm(n, generator=gen).to(dev)
        model.train()
        batches = range(steps_per_epoch)
        bar = (
            progress(batches, desc=f"{cfg.dataset} model {cfg.which} epoch {epoch + 1}/{cfg.epochs}")
            if progress
            else batches
        )
        seen = 0
        correct = torch.zeros((), dtype=torch.long, device=dev)
        loss_sum = torch.zeros((), device=dev)
        for b in bar:
            idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            xb, yb = x_train[idx], y_train[idx]
            if cfg.augment:
                xb = augment_batch(xb, gen)
            for group in opt.param_groups:
                group["lr"] = _lr_at(cfg, epoch * steps_per_epoch + b, total)
            with autocast:
                logits = model(_to_cl(model, xb, cfg.dataset)).float()
                loss = F.cross_entropy(logits, yb)
            if cfg.adv_eps > 0:  # clean and PGD examples at the (warmed-up) budget, weighted by adv_weight
                done = (epoch * steps_per_epoch + b + 1) / max(1, cfg.adv_warmup_epochs * steps_per_epoch)
                with autocast:
                    x_adv = pgd_for_training(model, xb, yb, cfg.adv_eps * min(1.0, done), cfg.adv_steps, gen)
                    adv = F.cross_entropy(model(_to_cl(model, x_adv, cfg.dataset)).float(), yb)
                    loss = (1 - cfg.adv_weight) * loss + cfg.adv_weight * adv
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(yb)
            correct += (logits.argmax(1) == yb).sum()
            loss_sum += loss.detach() * len(yb)
            if progress and hasattr(bar, "set_postfix") and (b % 20 == 0 or dev.type == "cpu"):  # .item() syncs
                bar.set_postfix(loss=f"{loss_sum.item() / seen:.3f}", acc=f"{100 * correct.item() / seen:.1f}%",
                                refresh=False)
        synchronize(dev)
        seconds += time.time() - t0
        state = {"config": cfg.to_dict(), "model": model.state_dict(), "optimizer": opt.state_dict(),
                 "epoch": epoch + 1, "seconds": seconds, "train_accuracy": 100 * correct.item() / max(1, seen)}
        save_with(ckpt, lambda p: torch.save(state, p))
    torch.backends.cudnn.benchmark = False  # attacks shrink their batches step by step: no re-tuning per shape
    model.eval()
    return model.to(memory_format=torch.contiguous_format), seconds


def ship(cfg: TrainConfig, model: nn.Module, seconds: float, command: str,
         device: torch.device | None = None) -> dict[str, Any]:
    """Write the weights under ``artifacts/models`` and record them, with test accuracy, in the manifest."""
    device = device or torch.device("cpu")
    rel = weights_relpath(cfg.dataset, cfg.which, cfg.role)
    path = artifacts_dir() / rel
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_with(path, lambda p: torch.save(state, p))
    register_file(path, command or f"python -m core train --dataset {cfg.dataset} --model {cfg.which}"
                  + ROLE_FLAGS.get(cfg.role, ""))
    x_test, y_test = load_split(cfg.dataset, "test", cfg.data_root)
    acc = accuracy(on_device(model.cpu(), device), x_test, y_test)  # float32 (no autocast), like the CPU
    entry = {
        "weights": rel,
        "arch": cfg.spec.arch,
        "options": cfg.spec.options,
        "parameters": sum(p.numel() for p in model.parameters()),
        "recipe": {
            k: v for k, v in cfg.to_dict().items() if k not in ("dataset", "which", "spec", "data_root", "role")
        },
        "epochs": cfg.epochs,
        "seed": cfg.seed,
        "data_source": data_fingerprint(cfg.dataset, cfg.data_root),
        "trained_on": describe(device) + (", bf16 autocast" if device.type == "cuda" else ""),
        "train_seconds": round(seconds, 1),
        "test_accuracy": round(acc, 2),
        "test_images": len(y_test),
    }
    update_manifest("models", model_key(cfg.dataset, cfg.which, cfg.role), entry, replace=True)
    return entry


def with_overrides(cfg: TrainConfig, **overrides: Any) -> TrainConfig:
    """The recipe with the options a user set (``None`` leaves the default)."""
    return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})


TRAINING_RECORD = ("epochs", "recipe", "trained_on", "train_seconds", "torch")  # taken from ``<weights>.json``


def adopt(dataset: str, which: int, weights: str | Path, spec: ModelSpec, role: str = "model",
          provenance: str = "", data_root: str | None = None, command: str = "") -> dict[str, Any]:
    """Ship a state dict trained elsewhere (e.g. on a GPU) as ``role`` ``which``: it must load into ``spec``'s
    architecture; its test accuracy is measured here and recorded in the manifest with ``provenance`` and, when the
    weights have a training record beside them (``<weights>.json``), its epochs, recipe, device and time."""


    state = torch.load(weights, map_location="cpu", weights_only=True)
    model = build_model(dataset, spec)
    model.load_state_dict(state)  # raises if the file does not fit the architecture
    model.eval()
    rel = weights_relpath(dataset, which, role)
    save_with(artifacts_dir() / rel, lambda p: shutil.copyfile(weights, p))
    register_file(artifacts_dir() / rel, command)
    x_test, y_test = load_split(dataset, "test", data_root)
    entry = {"weights": rel, "arch": spec.arch, "options": spec.options,
             "parameters": sum(p.numel() for p in model.parameters()), "source_sha256": sha256_file(weights),
             "provenance": provenance, "data_source": data_fingerprint(dataset, data_root),
             "test_accuracy": round(accuracy(model, x_test, y_test), 2), "test_images": len(y_test)}
    record = Path(weights).with_suffix(".json")
    if record.is_file():
        log = read_json(record)
        log.setdefault("trained_on", log.get("gpu"))
        entry |= {k: log[k] for k in TRAINING_RECORD if log.get(k) is not None}
    update_manifest("models", model_key(dataset, which, role), entry, replace=True)
    return entry
