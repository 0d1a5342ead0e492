"""A lab's classifiers: a user's own models (``python -m core lab create``).

A model is either a torchvision architecture name plus a state dict (``resnet18=weights.pt``; read with
``torch.load(..., weights_only=True)``), or a TorchScript (``.ts``/``.pt``) or ``torch.export`` (``.pt2``) file the
user made.  Loading a TorchScript or exported file runs the user's own code: the command line loads the files a
user names; the app never loads a model from an upload.  The lab copies each file into its folder and checks its
sha256 against the lab's manifest before every load.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.io.labs import lab_dir, read_lab
from core.io.manifest import read_manifest, verified_path
from core.models.device import on_device
from core.models.layers import Normalize, torchvision_model

MODEL_KINDS = ("torchvision", "torchscript", "export")


@dataclass(frozen=True)
class ModelSource:
    """Where a user's model comes from: ``kind`` (``MODEL_KINDS``), its file and, for torchvision, the arch."""

    kind: str
    path: Path
    arch: str | None = None

    @classmethod
    def parse(cls, text: str) -> "ModelSource":
        """``ARCH=STATE_DICT`` (torchvision), ``FILE.pt2`` (torch.export) or any other file (TorchScript)."""
        arch, sep, file = text.partition("=")
        if sep:
            return cls("torchvision", Path(file), arch)
        return cls("export" if text.endswith(".pt2") else "torchscript", Path(text))

    def describe(self) -> str:
        return f"torchvision {self.arch} + state dict {self.path.name}" if self.kind == "torchvision" else (
            f"{'TorchScript' if self.kind == 'torchscript' else 'torch.export'} file {self.path.name}")


def read_module(kind: str, path: Path, arch: str | None, num_classes: int) -> nn.Module:
    """The user's network from ``path`` (eval mode, parameters frozen); a clear ``ValueError`` when the file is not
    what ``kind`` says, is corrupt, or does not fit the architecture."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    try:
        if kind == "torchvision":
            net = torchvision_model(arch, num_classes)
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        elif kind == "torchscript":
            with warnings.catch_warnings():  # torch 2.10+ deprecates TorchScript; users still ship it
                warnings.simplefilter("ignore", FutureWarning)
                net = torch.jit.load(str(path), map_location="cpu")
        elif kind == "export":
            net = torch.export.load(str(path)).module()
        else:
            raise ValueError(f"unknown model kind {kind!r}: choose one of {', '.join(MODEL_KINDS)}")
    except ValueError:
        raise
    except Exception as e:  # torch raises many kinds on a corrupt or foreign file
        what = f"torchvision {arch} with {num_classes} classes" if kind == "torchvision" else kind
        raise ValueError(f"cannot load {path} as {what}: {type(e).__name__}: {str(e).splitlines()[0][:300]}") from None
    try:
        net.eval()
    except (NotImplementedError, RuntimeError):  # an exported program is traced in the mode it was exported in
        pass
    for p in net.parameters():
        p.requires_grad_(False)
    return net


class LabModel(nn.Module):
    """A user's network behind the lab's normalisation (when the lab was given a mean and std): ``[0,1]`` images
    in, logits out, as every classifier of the engine."""

    def __init__(self, net: nn.Module, mean: tuple[float, ...] | None, std: tuple[float, ...] | None):
        super().__init__()
        self.normalize = Normalize(mean, std) if mean is not None else nn.Identity()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))

    def train(self, mode: bool = True) -> "LabModel":
        """An exported program refuses ``train()``/``eval()``: it keeps the mode it was exported in."""
        self.training = mode
        self.normalize.train(mode)
        try:
            self.net.train(mode)
        except NotImplementedError:
            pass
        return self


def wrap(net: nn.Module, mean: Any, std: Any) -> nn.Module:
    return LabModel(net, None if mean is None else tuple(mean), None if std is None else tuple(std)).eval()


@lru_cache(maxsize=8)
def _load(dataset: str, which: int, sha: str) -> nn.Module:
    lab = read_lab(dataset)
    entry = lab.models[which - 1]
    path = verified_path(entry["file"], root=lab_dir(dataset))  # raises on a missing or tampered file
    return wrap(read_module(entry["kind"], path, entry.get("arch"), len(lab.classes)), lab.mean, lab.std)


def load_lab_model(dataset: str, which: int, device: str = "cpu") -> nn.Module:
    """Model ``which`` (1 or 2) of a lab, sha256-checked against the lab's manifest, on ``device``."""
    entry = read_lab(dataset).models[which - 1]
    files = read_manifest(lab_dir(dataset)).get("files", {})
    if entry["file"] not in files:
        raise FileNotFoundError(f"model {which} of lab {dataset} ({entry['file']}) is not in the lab's manifest")
    if not (lab_dir(dataset) / entry["file"]).is_file():
        raise FileNotFoundError(
            f"model {which} of lab {dataset} is not in this copy ({lab_dir(dataset) / entry['file']}): "
            f"{entry.get('note') or 'its file was not committed'}; remake it with "
            f"`{entry.get('remake') or 'python -m core lab create'}`")
    return on_device(_load(dataset, which, files[entry["file"]]["sha256"]), device)
