"""Feature Squeezing and Feinman et al. as judges an attacker can differentiate through.

Each judge's ``outputs(x)`` gives (model 1 logits, model 2 logits, score), the form the adaptive attacks of
``core.attacks.adaptive`` use; the image is flagged when the score is above the threshold of the chosen
clean false-positive rate, set on the same calibration role of the test split as the mismatch detector.

* Feature Squeezing (Xu et al. 2018): the 2x2 median is differentiable almost everywhere (torch's sort);
  bit-depth reduction and OpenCV's non-local means are not, and are attacked with BPDA (Athalye et al.
  2018: the squeezer in the forward pass, the identity in the backward pass).
* Feinman et al. (2017): the kernel density on model 1's last hidden layer and the MC-dropout uncertainty
  are differentiable; the dropout draws are fresh at every call, so PGD on it is expectation over the
  randomness (Athalye et al. 2018, EOT), each call averaging ``samples`` draws.
"""
from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from core.attacks.adaptive import Judge
from core.detector.baselines import (
    FeatureSqueezing,
    Feinman,
    bit_depth,
    dropout_head,
    last_linear,
    median_2x2,
    non_local_means,
)
from core.detector.thresholds import DEFAULT_FPR


def logit(p: float) -> float:
    p = min(max(p, 1e-300), 1 - 1e-16)
    return math.log(p) - math.log1p(-p)


def judge_for(det: Any, fpr: float = DEFAULT_FPR, device: str = "cpu") -> Judge:
    """The judge an attacker meets: ``det``'s torch module, flagging above its threshold at ``fpr``."""
    return Judge(det.module(device), logit(det.threshold(fpr)), name=det.variant)


BASELINES = ("feature_squeezing", "feinman")  # the detectors beside ours that the security sweep attacks too


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
        self.head = dropout_head(fe.model)
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
