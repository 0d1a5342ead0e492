"""The two classifiers per dataset, built from a named architecture and loaded from ``artifacts/``.

Every model takes images in ``[0,1]`` and normalises inside (``Normalize``), so
attacks, MSE and the dashboard all work in pixel space.  Weights are listed in
``artifacts/manifest.json`` with their sha256 and the options that rebuild the
architecture; ``load_pair`` refuses a file whose hash differs.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import torch
from torch import nn

from core.io.labs import is_lab
from core.io.manifest import read_manifest, verified_path
from core.io.paths import check_dataset, manifest_path
from core.models.device import on_device
from core.models.foreign import load_lab_model
from core.models.layers import Normalize, torchvision_model

MEAN_STD = {
    "mnist": ((0.1307,), (0.3081,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}


class MnistCNN(nn.Module):
    """Paper's MNIST model 1: conv(5x5,10)-pool-conv(5x5,20)-pool-fc(320,50)-dropout(0.5)-fc(50,10), ReLU.

    The paper prints ``linear(350, 50)``; the flattened conv output is 20*4*4 = 320.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 10, 5), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(10, 20, 5), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(),
        )
        self.classifier = nn.Sequential(nn.Linear(320, 50), nn.ReLU(), nn.Dropout(0.5), nn.Linear(50, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class MnistMLP(nn.Module):
    """Paper's MNIST model 2: fc(784,320)-dropout-fc(320,50)-dropout-fc(50,10), ReLU, dropout 0.5."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 320), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(320, 50), nn.ReLU(), nn.Dropout(0.5), nn.Linear(50, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG(nn.Module):
    """VGG-16 topology for 32x32 inputs: 13 3x3 conv+BN+ReLU layers, 5 max-pools, then the classifier.

    ``width`` multiplies every channel count (1.0 = the paper's full-size VGG16).
    The classifier is dropout + one linear layer, the usual CIFAR-10 VGG head.
    """

    def __init__(self, width: float = 1.0, num_classes: int = 10) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for v in VGG16_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                c_out = max(8, int(round(v * width)))
                layers += [
                    nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                    nn.BatchNorm2d(c_out),
                    nn.ReLU(inplace=True),
                ]
                c_in = c_out
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.classifier = nn.Sequential(nn.Dropout(0.3), nn.Linear(c_in, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    """He et al. 2016 CIFAR residual block (two 3x3 convs, projection shortcut when shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out),
        )
        self.shortcut = (
            nn.Identity() if stride == 1 and c_in == c_out
            else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for CIFAR (He et al. 2016, Sec. 4.2); depth 20 = ResNet-20. ``width`` scales 16-32-64."""

    def __init__(self, depth: int = 20, width: float = 1.0, num_classes: int = 10) -> None:
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        widths = [int(round(c * width)) for c in (16, 32, 64)]
        layers: list[nn.Module] = [
            nn.Conv2d(3, widths[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        c_in = widths[0]
        for stage, c in enumerate(widths):
            for i in range(n):
                layers.append(BasicBlock(c_in, c, 2 if stage > 0 and i == 0 else 1))
                c_in = c
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def resnet50_cifar(num_classes: int = 10) -> nn.Module:
    """The paper's ResNet-50 (torchvision's ImageNet bottleneck network) with a 3x3 stride-1 stem for 32x32."""
    from torchvision.models import resnet50  # heavy (torchvision pulls torch._dynamo); only --full-size needs it

    net = resnet50(num_classes=num_classes)
    net.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    net.maxpool = nn.Identity()
    return net


@dataclass(frozen=True)
class ModelSpec:
    """Everything that rebuilds an architecture: its name and keyword options."""

    arch: str
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ARCHS = {
    "mnist_cnn": lambda **o: MnistCNN(**o),
    "mnist_mlp": lambda **o: MnistMLP(**o),
    "vgg16": lambda **o: VGG(**o),
    "resnet_cifar": lambda **o: CifarResNet(**o),
    "resnet50": lambda **o: resnet50_cifar(**o),
    "torchvision": lambda **o: torchvision_model(**o),  # options: {"name": "resnet18", ...}
}

# Defaults: the paper's MNIST pair; for CIFAR-10, sizes that train on 2 CPU cores.
DEFAULT_SPECS = {
    ("mnist", 1): ModelSpec("mnist_cnn"),
    ("mnist", 2): ModelSpec("mnist_mlp"),
    ("cifar10", 1): ModelSpec("vgg16", {"width": 0.375}),
    ("cifar10", 2): ModelSpec("resnet_cifar", {"depth": 20}),
}
# The paper's full-size CIFAR-10 pair, one option away (``--full-size``) for a GPU.
FULL_SIZE_SPECS = {("cifar10", 1): ModelSpec("vgg16", {"width": 1.0}), ("cifar10", 2): ModelSpec("resnet50")}


def build_model(dataset: str, spec: ModelSpec) -> nn.Module:
    """The classifier of ``spec`` with the dataset's normalisation in front; takes ``[0,1]`` images."""
    check_dataset(dataset)
    if spec.arch not in ARCHS:
        raise ValueError(f"unknown architecture {spec.arch!r}: choose one of {', '.join(ARCHS)}")
    mean, std = MEAN_STD[dataset]
    return nn.Sequential(Normalize(mean, std), ARCHS[spec.arch](**spec.options))


# the roles a classifier plays, and the flags of ``python -m core train`` that make it
ROLE_FLAGS = {
    "model": "",
    "surrogate": " --surrogate",
    "robust": " --robust",
    "robust-surrogate": " --robust --surrogate",
    "robust-pgd": " --robust --pgd",
    "robust-pgd-surrogate": " --robust --pgd --surrogate",
}


def model_key(dataset: str, which: int, role: str = "model") -> str:
    """Manifest key of a classifier of ``role`` (``ROLE_FLAGS``): the shipped pair, a transfer attacker's
    surrogate, the hardened detector's PGD-trained pair, or that pair's surrogate."""
    return f"{dataset}/{role}_{which}"


@lru_cache(maxsize=8)
def _load_weights(dataset: str, arch: str, options_json: str, path: str, sha: str) -> nn.Module:
    """Build and fill a model; keyed by the file's verified hash so a changed file is never served stale."""
    model = build_model(dataset, ModelSpec(arch, json.loads(options_json)))
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model.eval()
    if dataset == "cifar10":  # NHWC convolutions: 1.5-1.7x faster on CPU (VGG 1.76 -> 1.03 s per 1,000 images)
        model = model.to(memory_format=torch.channels_last)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@lru_cache(maxsize=8)
def _load_on(dataset: str, arch: str, options_json: str, path: str, sha: str, device: str) -> nn.Module:
    return on_device(_load_weights(dataset, arch, options_json, path, sha), device)


def load_model(dataset: str, which: int, role: str = "model", device: str = "cpu") -> nn.Module:
    """One shipped classifier (1 or 2), eval mode, sha256-checked against the manifest; on ``device``
    (``core.models.device``: CPU tensors in and out whatever the device)."""
    check_dataset(dataset)
    if which not in (1, 2):
        raise ValueError(f"model must be 1 or 2, got {which!r}")
    if is_lab(dataset):
        if role != "model":
            raise FileNotFoundError(f"lab {dataset} has one pair, its own: no {role} pair")
        return load_lab_model(dataset, which, device)
    entry = read_manifest().get("models", {}).get(model_key(dataset, which, role))
    if entry is None:
        flag = ROLE_FLAGS.get(role, "")
        raise FileNotFoundError(
            f"no trained {dataset} {role} {which} in {manifest_path()}; train it with "
            f"`python -m core train --dataset {dataset} --model {which}{flag}`"
        )
    path = verified_path(entry["weights"])  # raises on a missing or tampered file
    sha = read_manifest()["files"][entry["weights"]]["sha256"]
    options = json.dumps(entry.get("options", {}), sort_keys=True)
    if device == "cpu":
        return _load_weights(dataset, entry["arch"], options, str(path), sha)
    return _load_on(dataset, entry["arch"], options, str(path), sha, str(device))


def load_pair(dataset: str, role: str = "model", device: str = "cpu") -> tuple[nn.Module, nn.Module]:
    """The two shipped classifiers of ``dataset`` (model 1, model 2): eval mode, logits ``[N,10]``."""
    return load_model(dataset, 1, role, device), load_model(dataset, 2, role, device)


def load_surrogate_pair(dataset: str, defended: str = "model", device: str = "cpu") -> tuple[nn.Module, nn.Module]:
    """A transfer attacker's own pair against the pair of role ``defended``: the same architectures and recipe,
    trained apart (role "surrogate" for the shipped pair, "<role>-surrogate" for another)."""
    return load_pair(dataset, "surrogate" if defended == "model" else f"{defended}-surrogate", device)


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Logits of ``model`` on ``x`` in batches (no gradient)."""
    return (
        torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
        if len(x)
        else torch.zeros(0, 10)
    )


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy in percent."""
    was_training = model.training
    model.eval()
    try:
        return 100.0 * (predict_logits(model, x, batch_size).argmax(1) == y).float().mean().item()
    finally:
        model.train(was_training)
