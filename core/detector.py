"""The bi-model mismatch detector: 20 softmax features and a shipped RBF-SVM, stored without pickle.

A fitted ``sklearn.svm.SVC(kernel="rbf")`` is reduced to its support vectors,
dual coefficients, intercept and gamma (``.npz``) plus a Platt calibration
(logistic on the decision value) and metadata (``.json``).  Loading checks the
``.npz`` and ``.json`` sha256 against ``artifacts/manifest.json`` and rebuilds
the decision function in numpy:
``f(x) = sum_i dual_i * exp(-gamma * |x - sv_i|^2) + b``, ``P(attack) = 1 / (1 + exp(-(a*f + c)))``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import ATTACK_NAMES
from .io import read_json, save_with, write_json
from .paths import artifacts_dir, check_dataset

TRAINED_ON = ATTACK_NAMES + ("all",)


@torch.no_grad()
def features(dataset: str, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """``[N, 20]`` float32: model_1's softmax, then model_2's (no gradient, batched)."""
    from .models import load_pair

    m1, m2 = load_pair(dataset)
    return pair_features(m1, m2, x, batch_size)


@torch.no_grad()
def pair_features(m1: torch.nn.Module, m2: torch.nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The 20 features for an explicit pair of models."""
    x = torch.as_tensor(x, dtype=torch.float32)
    if len(x) == 0:
        return torch.zeros(0, 20)
    out = []
    for i in range(0, len(x), batch_size):
        b = x[i : i + batch_size]
        out.append(torch.cat([torch.softmax(m1(b), 1), torch.softmax(m2(b), 1)], 1))
    return torch.cat(out)


def rbf_decision(f: np.ndarray, sv: np.ndarray, dual: np.ndarray, intercept: float, gamma: float,
                 block: int = 4096) -> np.ndarray:
    """The binary SVC decision value (positive = attack) of rows ``f``, in float64.

    Computed with torch, not numpy: the two forward passes before it run in torch's thread pool, and a numpy
    matrix product would wake OpenBLAS's own pool, whose spinning threads then slow both down (measured:
    99 ms vs 148 ms for 1,000 MNIST images, features + SVM, on 2 cores).
    """
    x = torch.as_tensor(np.asarray(f), dtype=torch.float64)
    s = torch.as_tensor(sv, dtype=torch.float64)
    a = torch.as_tensor(dual, dtype=torch.float64)
    s_sq = (s * s).sum(1)
    out = torch.empty(len(x), dtype=torch.float64)
    for i in range(0, len(x), block):
        b = x[i : i + block]
        k = torch.addmm(s_sq[None, :], b, s.T, alpha=-2.0).add_((b * b).sum(1, keepdim=True))  # squared distances
        out[i : i + block] = k.clamp_min_(0.0).mul_(-gamma).exp_() @ a + intercept
    return out.numpy()


@dataclass
class Detector:
    """A fitted RBF-SVM over the 20 features with a Platt calibration; no pickle involved."""

    dataset: str
    trained_on: str
    support_vectors: np.ndarray  # [n_sv, 20] float64
    dual_coef: np.ndarray  # [n_sv] float64
    intercept: float
    gamma: float
    platt_a: float = 1.0
    platt_b: float = 0.0
    threshold: float = 0.5
    meta: dict[str, Any] = field(default_factory=dict)

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def from_svc(cls, svc: Any, dataset: str, trained_on: str, platt: tuple[float, float] = (1.0, 0.0),
                 meta: dict[str, Any] | None = None) -> "Detector":
        """Take the parameters out of a fitted binary ``SVC(kernel="rbf")`` with classes ``[0, 1]``."""
        if list(svc.classes_) != [0, 1]:
            raise ValueError(f"expected classes [0, 1], got {list(svc.classes_)}")
        return cls(dataset, trained_on, np.asarray(svc.support_vectors_, np.float64),
                   np.asarray(svc.dual_coef_[0], np.float64), float(svc.intercept_[0]), float(svc._gamma),
                   float(platt[0]), float(platt[1]), meta=dict(meta or {}))

    # -- scoring ----------------------------------------------------------------------------
    def decision_function_features(self, f: np.ndarray | torch.Tensor) -> np.ndarray:
        return rbf_decision(np.asarray(f), self.support_vectors, self.dual_coef, self.intercept, self.gamma)

    def predict_proba_features(self, f: np.ndarray | torch.Tensor) -> np.ndarray:
        """P(attack) for rows of the 20 features."""
        z = self.platt_a * self.decision_function_features(f) + self.platt_b
        return 1.0 / (1.0 + np.exp(-z))

    def predict_features(self, f: np.ndarray | torch.Tensor) -> np.ndarray:
        return self.predict_proba_features(f) >= self.threshold

    def predict_proba(self, x: torch.Tensor) -> np.ndarray:
        """P(attack) for images ``[N,C,H,W]`` in ``[0,1]`` (float64 numpy ``[N]``)."""
        return self.predict_proba_features(features(self.dataset, x).numpy())

    def predict(self, x: torch.Tensor) -> np.ndarray:
        """``True`` where an image is flagged as an attack (bool numpy ``[N]``)."""
        return self.predict_proba(x) >= self.threshold

    # -- storage ----------------------------------------------------------------------------
    def save(self, stem: Path) -> tuple[Path, Path]:
        """Write ``stem.npz`` (arrays) and ``stem.json`` (scalars, metadata) atomically."""
        npz, js = stem.with_suffix(".npz"), stem.with_suffix(".json")
        save_with(npz, lambda p: np.savez(p, support_vectors=self.support_vectors, dual_coef=self.dual_coef))
        write_json(js, {"dataset": self.dataset, "trained_on": self.trained_on, "intercept": self.intercept,
                        "gamma": self.gamma, "platt_a": self.platt_a, "platt_b": self.platt_b,
                        "threshold": self.threshold, "meta": self.meta})
        return npz, js

    @classmethod
    def read(cls, npz: Path, js: Path) -> "Detector":
        meta = read_json(js)
        with np.load(npz, allow_pickle=False) as z:
            sv, dual = z["support_vectors"].astype(np.float64), z["dual_coef"].astype(np.float64)
        return cls(meta["dataset"], meta["trained_on"], sv, dual, float(meta["intercept"]), float(meta["gamma"]),
                   float(meta["platt_a"]), float(meta["platt_b"]), float(meta.get("threshold", 0.5)), meta.get("meta", {}))


def detector_relpath(dataset: str, trained_on: str) -> str:
    """Manifest key stem (without suffix) of a shipped detector."""
    return f"detectors/{dataset}/{trained_on}"


def check_trained_on(trained_on: str) -> str:
    if trained_on not in TRAINED_ON:
        raise ValueError(f"unknown trained_on {trained_on!r}: choose one of {', '.join(TRAINED_ON)}")
    return trained_on


def load(dataset: str, trained_on: str = "all") -> Detector:
    """A shipped fitted detector, sha256-checked against the manifest (``IntegrityError`` if changed)."""
    from .manifest import read_manifest, verified_path

    check_dataset(dataset)
    check_trained_on(trained_on)
    stem = detector_relpath(dataset, trained_on)
    files = read_manifest().get("files", {})
    if stem + ".npz" not in files or not (artifacts_dir() / (stem + ".npz")).exists():
        raise FileNotFoundError(
            f"no shipped {dataset} detector trained on {trained_on!r} ({artifacts_dir() / stem}.npz); make it with "
            f"`python -m core pipeline --dataset {dataset}` (stage `detectors` after `data`)"
        )
    return Detector.read(verified_path(stem + ".npz"), verified_path(stem + ".json"))
