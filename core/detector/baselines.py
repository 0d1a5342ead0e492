"""The two detectors the paper compares with (Table IV), as image detectors that share our operating points.

* Feature Squeezing (Xu et al., NDSS 2018): score = max over squeezers of the
  L1 distance between model_1's softmax on the image and on its squeezed
  versions, with the authors' per-dataset squeezers: MNIST bit depth 1 and 2x2
  median; CIFAR-10 bit depth 5, 2x2 median and non-local means 13-3-2 (OpenCV,
  as their code).  Threshold: a clean false-positive rate, as every detector here.
* Feinman et al. (2017): kernel density (Gaussian, bandwidth 1.20 MNIST / 0.26
  CIFAR-10) of model_1's last hidden layer against clean training images of the
  predicted class, plus MC-dropout Bayesian uncertainty (``mc_samples`` passes),
  z-scored and combined by logistic regression fitted on the training half;
  thresholded like the others.  MNIST model_1 has
  dropout before its last layer; the CIFAR-10 VGG has dropout only in its head.

Both see model_1 only, as in the original methods.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from core.detector.thresholds import Calibrated

SQUEEZE_BITS = {"mnist": 1, "cifar10": 5}
# Xu et al.'s non-local-means squeezer "13-3-2": search window 13, patch 3, filter strength 2 (CIFAR-10 only)
NON_LOCAL_MEANS = {"mnist": None, "cifar10": (13, 3, 2)}
KDE_BANDWIDTH = {"mnist": 1.20, "cifar10": 0.26}


def bit_depth(x: torch.Tensor, bits: int) -> torch.Tensor:
    levels = 2**bits - 1
    return torch.round(x * levels) / levels


def median_2x2(x: torch.Tensor) -> torch.Tensor:
    """scipy ``median_filter(size=2)`` per channel: window = pixel and its upper/left neighbours, edge
    replicated, upper median (rank 2 of 4)."""
    p = nn.functional.pad(x, (1, 0, 1, 0), mode="replicate")
    win = torch.stack([p[..., :-1, :-1], p[..., :-1, 1:], p[..., 1:, :-1], p[..., 1:, 1:]], 0)
    return win.sort(0).values[2]


def non_local_means(x: torch.Tensor, search: int, patch: int, strength: float) -> torch.Tensor:
    """OpenCV's fast non-local means per image, on the 8-bit image as Xu et al. run it: colour images through
    ``fastNlMeansDenoisingColored`` (h = hColor = ``strength``) with the channels passed in RGB order as their
    code does, grey ones through ``fastNlMeansDenoising``."""
    import cv2

    cv2.setNumThreads(torch.get_num_threads())
    u8 = (x * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
    if u8.shape[3] == 3:
        out = [cv2.fastNlMeansDenoisingColored(im, None, strength, strength, patch, search) for im in u8]
    else:
        out = [cv2.fastNlMeansDenoising(im[..., 0], None, strength, patch, search)[..., None] for im in u8]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 255


@torch.no_grad()
def _softmax(model: nn.Module, x: torch.Tensor, bs: int = 1000) -> torch.Tensor:
    return torch.cat([torch.softmax(model(x[i : i + bs]), 1) for i in range(0, len(x), bs)])


@dataclass
class FeatureSqueezing(Calibrated):
    """Xu et al.'s detector on one model; ``fit`` sets its operating points from clean images' scores."""

    model: nn.Module
    bits: int
    nlm: tuple[int, int, float] | None = None  # (search window, patch, strength); None: no third squeezer
    clean_scores_: np.ndarray | None = None

    @classmethod
    def for_dataset(cls, model: nn.Module, dataset: str) -> "FeatureSqueezing":
        """The authors' squeezers for ``dataset``."""
        return cls(model, SQUEEZE_BITS[dataset], NON_LOCAL_MEANS[dataset])

    def squeezers(self) -> list[Callable[[torch.Tensor], torch.Tensor]]:
        sq = [lambda z: bit_depth(z, self.bits), median_2x2]
        if self.nlm is not None:
            sq.append(lambda z: non_local_means(z, *self.nlm))
        return sq

    def attack_score(self, x: torch.Tensor) -> np.ndarray:
        p = _softmax(self.model, x)
        d = [(p - _softmax(self.model, sq(x))).abs().sum(1) for sq in self.squeezers()]
        return torch.stack(d).max(0).values.numpy()

    def fit(self, x_clean: torch.Tensor) -> "FeatureSqueezing":
        self.calibrate(self.attack_score(x_clean))
        return self


def last_linear(model: nn.Module) -> nn.Linear:
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1]


@torch.no_grad()
def hidden(model: nn.Module, x: torch.Tensor, bs: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """(last hidden layer = input of the last ``nn.Linear``, predicted class)."""
    store: list[torch.Tensor] = []
    h = last_linear(model).register_forward_hook(lambda m, i, o: store.append(i[0].flatten(1).cpu()))
    try:
        preds = torch.cat([model(x[i : i + bs]).argmax(1) for i in range(0, len(x), bs)])
    finally:
        h.remove()
    return torch.cat(store), preds


def dropout_head(model: nn.Module) -> nn.Module | None:
    """The ``classifier`` submodule when it holds every dropout layer of ``model`` (all our models with dropout
    in ``classifier``: the MNIST CNN, the VGG), so MC passes can rerun just the head; ``None`` otherwise."""
    drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    for name, sub in model.named_modules():
        if name.endswith("classifier") and all(any(d is m for m in sub.modules()) for d in drops):
            return sub
    return None


@torch.no_grad()
def mc_uncertainty(model: nn.Module, x: torch.Tensor, samples: int, seed: int, bs: int = 1000,
                   head_only: bool = True) -> np.ndarray:
    """Feinman's Bayesian uncertainty: E[|p|^2] - |E[p]|^2 over MC-dropout passes (dropout on, rest eval).

    Where all dropout sits in the model's head, the trunk runs once and only the head ``samples`` times: the
    same dropout masks in the same order as full passes, so the same numbers, ~``samples``× less work
    (``head_only=False``: full passes, as Feinman et al.'s code runs them).
    """
    m = copy.deepcopy(model).eval()

    def dropout(on: bool) -> None:
        for mod in m.modules():
            if isinstance(mod, nn.Dropout):
                mod.train(on)

    dropout(True)
    head = dropout_head(m) if head_only else None
    g = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        out = []
        for i in range(0, len(x), bs):
            b = x[i : i + bs]
            if head is None:
                ps = torch.stack([torch.softmax(m(b), 1) for _ in range(samples)])
            else:
                store: list[torch.Tensor] = []
                hook = head.register_forward_pre_hook(lambda mod, inp: store.append(inp[0]))
                dropout(False)  # the capture pass draws no dropout masks, so the RNG stream matches full passes
                try:
                    m(b)
                finally:
                    hook.remove()
                    dropout(True)
                ps = torch.stack([torch.softmax(head(store[0]), 1) for _ in range(samples)])
            out.append((ps**2).sum(2).mean(0) - (ps.mean(0) ** 2).sum(1))
        return torch.cat(out).numpy()
    finally:
        torch.set_rng_state(g)


@dataclass
class Feinman(Calibrated):
    """KDE + Bayesian uncertainty combined by logistic regression (Feinman et al. 2017)."""

    model: nn.Module
    bandwidth: float
    samples: int = 50
    seed: int = 0
    ref: dict = field(default_factory=dict)
    clean_scores_: np.ndarray | None = None
    head_only: bool = True  # MC passes through the dropout head only (same scores; see ``mc_uncertainty``)

    def fit_reference(self, x: torch.Tensor, y: torch.Tensor) -> "Feinman":
        h, _ = hidden(self.model, x)
        self.ref = {c: h[y == c].double() for c in range(10)}
        return self

    def raw(self, x: torch.Tensor) -> np.ndarray:
        h, pred = hidden(self.model, x)
        kde = np.zeros(len(x))
        for c in range(10):
            s = (pred == c).nonzero().flatten()
            if len(s) == 0:
                continue
            d2 = torch.cdist(h[s].double(), self.ref[c]) ** 2
            kde[s.numpy()] = (torch.logsumexp(-d2 / (2 * self.bandwidth**2), 1) - np.log(len(self.ref[c]))).numpy()
        bu = mc_uncertainty(self.model, x, self.samples, self.seed, head_only=self.head_only)
        return np.stack([kde, bu], 1)

    def fit(self, x: torch.Tensor, label: np.ndarray) -> "Feinman":
        r = self.raw(x)
        self.mu, self.sd = r.mean(0), r.std(0) + 1e-12
        # imported here: scikit-learn costs the dashboard's start about 1 s, and only fitting needs it
        from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

        self.lr = LogisticRegression().fit((r - self.mu) / self.sd, label)
        self.calibrate(self.score_raw(r[label == 0]))
        return self

    def score_raw(self, r: np.ndarray) -> np.ndarray:
        return self.lr.predict_proba((r - self.mu) / self.sd)[:, 1]

    def attack_score(self, x: torch.Tensor) -> np.ndarray:
        return self.score_raw(self.raw(x))
