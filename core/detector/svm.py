"""The RBF-SVM head of the detector as plain arrays (``RBFHead``), and Platt's calibration.

An ``RBFHead`` holds support vectors, dual coefficients, intercept, gamma, Platt's (a, b) and the feature map as
plain arrays, so a shipped detector is stored and read without pickle and scored without scikit-learn (the
dashboard never imports it).  ``core.detector.estimator.MismatchSVM`` is the scikit-learn estimator that fits one.
``f(x) = sum_i dual_i * exp(-gamma * |x - sv_i|^2) + b``, ``P(attack) = sigmoid(a*f + c)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from core.detector.feature_map import FeatureMap


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


def sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))`` without overflow, in float64 (scipy's ``expit`` would put scipy on the app's path)."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, np.float64)))


@dataclass(frozen=True)
class RBFHead:
    """A fitted binary RBF-SVM with Platt's calibration, as plain arrays (positive decision = attack)."""

    support_vectors: np.ndarray
    dual_coef: np.ndarray
    intercept: float
    gamma: float
    platt: tuple[float, float]
    C: float = 1.0
    fmap: FeatureMap = field(default_factory=FeatureMap)  # softmax rows → what the kernel sees
    n_inputs: int = 0  # softmax features a row has (0: as many as the support vectors, the plain ``softmax`` map)

    @classmethod
    def from_svc(cls, svc: Any, platt: tuple[float, float], fmap: FeatureMap | None = None,
                 n_inputs: int = 0) -> "RBFHead":
        """The arrays of a fitted binary ``SVC(kernel="rbf")`` whose classes are ``[0, 1]`` (fitted on rows
        ``fmap`` made of ``n_inputs`` softmax features)."""
        if list(svc.classes_) != [0, 1]:
            raise ValueError(f"expected classes [0, 1], got {list(svc.classes_)}")
        return cls(np.asarray(svc.support_vectors_, np.float64), np.asarray(svc.dual_coef_[0], np.float64),
                   float(svc.intercept_[0]), float(svc._gamma), (float(platt[0]), float(platt[1])), float(svc.C),
                   fmap or FeatureMap(), n_inputs)

    @property
    def n_features(self) -> int:
        """Softmax features a row must have."""
        return int(self.n_inputs or self.support_vectors.shape[1])

    def with_platt(self, platt: tuple[float, float]) -> "RBFHead":
        return replace(self, platt=(float(platt[0]), float(platt[1])))

    def decision_function(self, f: np.ndarray | torch.Tensor) -> np.ndarray:
        """The SVC decision value ``[N]`` (positive = attack), float64."""
        f = np.asarray(f)
        if f.ndim != 2 or f.shape[1] != self.n_features:
            raise ValueError(f"the detector takes rows of {self.n_features} features, got {f.shape}")
        return rbf_decision(self.fmap(f), self.support_vectors, self.dual_coef, self.intercept, self.gamma)

    def logit(self, f: np.ndarray | torch.Tensor) -> np.ndarray:
        """Platt's logit ``a * decision + b`` (``sigmoid(logit) = P(attack)``)."""
        a, b = self.platt
        return a * self.decision_function(f) + b

    def p_attack(self, f: np.ndarray | torch.Tensor) -> np.ndarray:
        """P(attack) ``[N]``."""
        return sigmoid(self.logit(f))

    def predict(self, f: np.ndarray | torch.Tensor) -> np.ndarray:
        """The SVC's own rule, decision > 0 (the paper's protocol): 1 = attack."""
        return (self.decision_function(f) > 0).astype(np.int64)


def platt_fit(decision: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Logistic calibration ``P = sigmoid(a*d + b)`` of decision values (fitted on out-of-fold ones)."""
    # imported here: scikit-learn costs the dashboard's start about 1 s, and only fitting needs it
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

    lr = LogisticRegression(C=1e6).fit(np.asarray(decision).reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])
