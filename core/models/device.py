"""Where the networks run: ``--device auto|cpu|cuda``.

The CPU is the default and what every test uses.  On CUDA only the networks move: ``on_device`` wraps a
model so that it takes and returns CPU tensors while its forward and backward passes run on the GPU
(autograd crosses the copies).  Everything around the networks (budget searches, random draws, the RBF-SVM)
stays on the CPU, so a run on a GPU draws the same random numbers as on the CPU and differs only by the
networks' float arithmetic (TF32 is switched off: float32 throughout, see ``docs/detection.md``).
Training is the exception: it keeps the data on the GPU and uses bf16 autocast and channels-last
(``core.models.training``).
"""
from __future__ import annotations

import copy

import torch
from torch import nn

DEVICES = ("auto", "cpu", "cuda")


def resolve(name: str | torch.device = "cpu") -> torch.device:
    """``"auto"``: CUDA when a GPU is visible, else the CPU; ``"cuda"`` without a GPU is a clear error."""
    if isinstance(name, torch.device):
        return name
    if name not in DEVICES and not str(name).startswith("cuda:"):
        raise ValueError(f"unknown device {name!r}: choose one of {', '.join(DEVICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(name).startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"--device {name}: no CUDA GPU is visible to PyTorch {torch.__version__} "
                               f"(CUDA build: {torch.version.cuda or 'no'}); use --device cpu or auto")
        torch.backends.cuda.matmul.allow_tf32 = False  # float32 as on the CPU (features within 1e-5)
        torch.backends.cudnn.allow_tf32 = False
    return torch.device(name)


def describe(device: torch.device) -> str:
    """What a result records as the hardware that made it."""
    if device.type == "cuda":
        return f"CUDA {torch.cuda.get_device_name(device)}"
    return f"CPU, {torch.get_num_threads()} threads"


class OnDevice(nn.Module):
    """``model`` running on ``device`` behind CPU tensors in and out (channels-last images on CUDA)."""

    def __init__(self, model: nn.Module, device: torch.device):
        super().__init__()
        self.model = model.to(device)
        self.device = device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xd = x.to(self.device)
        if xd.dim() == 4 and xd.shape[1] == 3:
            xd = xd.contiguous(memory_format=torch.channels_last)
        return self.model(xd).to(x.device)


def on_device(model: nn.Module, device: torch.device | str = "cpu") -> nn.Module:
    """``model`` itself on the CPU; else a copy of it on ``device`` wrapped by ``OnDevice``."""
    device = resolve(device)
    if device.type == "cpu":
        return model
    return OnDevice(copy.deepcopy(model), device).eval().requires_grad_(False)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work (for timing)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
