"""The baseline detectors fitted for the security sweep: Feinman et al. from what ships, and each one's judge."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from core import ATTACK_NAMES
from core.data import load_split_uint8, to_float
from core.detector.baselines import KDE_BANDWIDTH, FeatureSqueezing, Feinman, hidden
from core.detector.judges import BASELINES, FeinmanJudge, SqueezeJudge
from core.results.readers import adversarial


def fit_feinman(dataset: str, m1: nn.Module, data_root: str | None, seed: int = 0, per_attack: int = 1000,
                reference: int = 5000) -> Feinman:
    """Feinman's detector fitted as the pipeline fits it, from what ships and the train split: the KDE reference
    is ``reference`` seeded clean train images model 1 gets right; the logistic regression sees the shipped
    adversarial examples of the seven attacks against as many seeded clean train images."""
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
        fe.calibrate(fe.attack_score(x_calibration))
        return FeinmanJudge(fe, m2), fe
    raise ValueError(f"unknown defence {defence!r}: choose one of mismatch, {', '.join(BASELINES)}")
