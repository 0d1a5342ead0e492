"""Feature Squeezing and Feinman et al. as judges an attacker can differentiate through.

Each judge's ``outputs(x)`` gives (model 1 logits, model 2 logits, score), the form the adaptive attacks of
``core.attacks.adaptive`` use; the image is flagged when the score is above the threshold of the chosen
clean false-positive rate, set on the same calibration half of the test split as the mismatch detector.

* Feature Squeezing (Xu et al. 2018): the 2x2 median is differentiable almost everywhere (torch's sort);
  bit-depth reduction and OpenCV's non-local means are not, and are attacked with BPDA (Athalye et al.
  2018: the squeezer in the forward pass, the identity in the backward pass).
* Feinman et al. (2017): the kernel density on model 1's last hidden layer and the MC-dropout uncertainty
  are differentiable; the dropout draws are fresh at every call, so PGD on it is expectation over the
  randomness (Athalye et al. 2018, EOT), each call averaging ``samples`` draws.
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from .pipeline.baselines import (
    KDE_BANDWIDTH,
    FeatureSqueezing,
    Feinman,
    _dropout_head,
    bit_depth,
    last_linear,
    median_2x2,
    non_local_means,
)

DEFENCES = ("feature_squeezing", "feinman")


def bpda(fn, x: torch.Tensor) -> torch.Tensor:
    """``fn(x)`` forward, identity backward."""
    with torch.no_grad():
        out = fn(x.detach())
    return x + (out - x).detach()


class SqueezeJudge(nn.Module):
    """Feature Squeezing: max over squeezers of the L1 distance between model 1's softmax on x and on squeezed x."""

    differentiable = "2x2 median: yes; bit depth and non-local means: BPDA (identity backward)"

    def __init__(self, fs: FeatureSqueezing, m2: nn.Module) -> None:
        super().__init__()
        self.fs, self.m2 = fs, m2

    def outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        m1 = self.fs.model
        l1 = m1(x)
        p = torch.softmax(l1, 1)
        squeezed = [bpda(lambda z: bit_depth(z, self.fs.bits), x), median_2x2(x)]
        if self.fs.nlm is not None:
            squeezed.append(bpda(lambda z: non_local_means(z, *self.fs.nlm), x))
        d = torch.stack([(p - torch.softmax(m1(s), 1)).abs().sum(1) for s in squeezed])
        return l1, self.m2(x), d.max(0).values


class FeinmanJudge(nn.Module):
    """Feinman et al.: logistic regression on z-scored (kernel density, MC-dropout uncertainty); score = its logit."""

    differentiable = "yes (kernel density and MC dropout in torch; fresh dropout draws at each call: EOT)"

    def __init__(self, fe: Feinman, m2: nn.Module) -> None:
        super().__init__()
        self.fe, self.m2 = fe, m2
        self.head = _dropout_head(fe.model)
        if self.head is None:
            raise ValueError("Feinman's judge needs all of model 1's dropout in its classifier head")
        self.mc_head = copy.deepcopy(self.head).train()  # dropout on (the head has no batch norm)
        self.refs = {c: r.float() for c, r in fe.ref.items()}
        self.w = torch.tensor(fe.lr.coef_[0] / fe.sd, dtype=torch.float32)
        self.b = float(fe.lr.intercept_[0] - (fe.lr.coef_[0] * fe.mu / fe.sd).sum())

    def outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        store: dict[str, torch.Tensor] = {}
        hooks = [
            last_linear(self.fe.model).register_forward_hook(
                lambda m, i, o: store.__setitem__("h", i[0].flatten(1).cpu())),
            self.head.register_forward_pre_hook(lambda m, i: store.__setitem__("head_in", i[0])),
        ]
        try:
            l1 = self.fe.model(x)
        finally:
            for h in hooks:
                h.remove()
        h, pred = store["h"], l1.argmax(1)
        kde = torch.zeros(len(x), dtype=h.dtype)
        bw2 = 2 * self.fe.bandwidth**2
        for c in pred.unique().tolist():
            s = pred == c
            d2 = torch.cdist(h[s], self.refs[c]) ** 2
            kde = kde.masked_scatter(s, torch.logsumexp(-d2 / bw2, 1) - float(np.log(len(self.refs[c]))))
        ps = torch.stack([torch.softmax(self.mc_head(store["head_in"]), 1) for _ in range(self.fe.samples)])
        bu = (ps**2).sum(2).mean(0) - (ps.mean(0) ** 2).sum(1)
        return l1, self.m2(x), torch.stack([kde, bu], 1) @ self.w + self.b


def fit_feinman(dataset: str, m1: nn.Module, data_root: str | None, seed: int = 0, per_attack: int = 1000,
                reference: int = 5000) -> Feinman:
    """Feinman's detector fitted as the pipeline fits it, from what ships and the train split: the KDE reference
    is ``reference`` seeded clean train images model 1 gets right; the logistic regression sees the shipped
    adversarial examples of the seven attacks against as many seeded clean train images."""
    from . import ATTACK_NAMES
    from .data import load_split_uint8, to_float
    from .pipeline.baselines import hidden
    from .results import adversarial

    x_train, y_train = load_split_uint8(dataset, "train", data_root)
    rng = np.random.default_rng([seed, 23])
    ref = np.sort(rng.choice(len(x_train), min(reference, len(x_train)), replace=False))
    xr, yr = to_float(np.asarray(x_train[ref])), torch.from_numpy(np.asarray(y_train[ref], np.int64))
    keep = hidden(m1, xr)[1] == yr
    fe = Feinman(m1, KDE_BANDWIDTH[dataset], seed=seed).fit_reference(xr[keep], yr[keep])
    adv = torch.cat([torch.from_numpy(adversarial(dataset, a)["x"][:per_attack]).float() for a in ATTACK_NAMES])
    clean_idx = np.sort(rng.choice(len(x_train), len(adv), replace=False))
    x = torch.cat([to_float(np.asarray(x_train[clean_idx])), adv])
    label = np.r_[np.zeros(len(adv), np.int64), np.ones(len(adv), np.int64)]
    r = fe.raw(x)
    fe.mu, fe.sd = r.mean(0), r.std(0) + 1e-12
    from sklearn.linear_model import LogisticRegression

    fe.lr = LogisticRegression().fit((r - fe.mu) / fe.sd, label)
    return fe


def baseline_judge(defence: str, dataset: str, pair: tuple[nn.Module, nn.Module], x_calibration: torch.Tensor,
                   data_root: str | None, seed: int = 0) -> tuple[Any, Any]:
    """(judge module, calibrated detector) for ``defence``; the detector's operating points come from the clean
    calibration images ``x_calibration``."""
    m1, m2 = pair
    if defence == "feature_squeezing":
        fs = FeatureSqueezing.for_dataset(m1, dataset).fit(x_calibration)
        return SqueezeJudge(fs, m2), fs
    if defence == "feinman":
        fe = fit_feinman(dataset, m1, data_root, seed)
        fe.calibrate(fe.score(x_calibration))
        return FeinmanJudge(fe, m2), fe
    raise ValueError(f"unknown defence {defence!r}: choose one of mismatch, {', '.join(DEFENCES)}")
