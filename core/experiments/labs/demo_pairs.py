"""The pairs the lab demos are made of: the project's MNIST pair exported to TorchScript (the foreign-model path),
and a second CIFAR-10 pair of torchvision architectures the project does not ship, trained here.

``python -m core lab demo NAME`` remakes each from the shipped files and the data root (docs/labs.md).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import torch

from core.io.files import save_with
from core.models import ModelSpec
from core.models.training import TrainConfig, fit, recipe

# the second CIFAR-10 pair: torchvision's ImageNet architectures, untouched (their 224-px stems on 32-px images),
# with the project's CIFAR-10 recipe cut to a few CPU epochs
TORCHVISION_PAIR = ("resnet18", "mobilenet_v3_small")
TORCHVISION_EPOCHS = 10


def torchvision_recipe(which: int, epochs: int = TORCHVISION_EPOCHS) -> TrainConfig:
    """The CIFAR-10 recipe (SGD, one-cycle to 0.1, crop + flip) for torchvision architecture ``which`` (1 or 2)."""
    spec = ModelSpec("torchvision", {"name": TORCHVISION_PAIR[which - 1]})
    return replace(recipe("cifar10", which), spec=spec, epochs=epochs, role=f"lab-{TORCHVISION_PAIR[which - 1]}")


def train_torchvision_pair(out: Path, progress: Callable[..., Any] | None = None, device: str = "cpu",
                           epochs: int = TORCHVISION_EPOCHS, data_root: str | None = None) -> list[dict[str, Any]]:
    """Train both (checkpointed, resumable) and write each bare torchvision state dict (without the normalisation
    layer: the lab is told the mean and std) to ``out/model_<which>.pt``; returns what each run recorded."""
    records = []
    for which in (1, 2):
        cfg = replace(torchvision_recipe(which, epochs), data_root=data_root)
        model, seconds = fit(cfg, progress, device)
        net = model[1]  # Sequential(Normalize, torchvision net)
        state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
        path = out / f"model_{which}.pt"
        save_with(path, lambda p, s=state: torch.save(s, p))
        records.append({"arch": TORCHVISION_PAIR[which - 1], "weights": path.name, "epochs": cfg.epochs,
                        "train_seconds": round(seconds, 1), "recipe": "core.experiments.labs.demo_pairs"})
    return records
