"""The RBF-SVM over the mismatch features: the scikit-learn estimator and the plain-array head it fits.

``MismatchSVM`` is a scikit-learn classifier (it passes ``parametrize_with_checks``; ``score`` is accuracy, as
everywhere in scikit-learn).  ``fit`` trains ``SVC(kernel="rbf", C, gamma)`` and a Platt calibration on
``cv``-fold out-of-fold decision values and keeps the result as ``head_``, an ``RBFHead``: support vectors,
dual coefficients, intercept, gamma and Platt's (a, b) as plain arrays, so a shipped detector is stored and read
without pickle.  ``f(x) = sum_i dual_i * exp(-gamma * |x - sv_i|^2) + b``, ``P(attack) = sigmoid(a*f + c)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

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
        return expit(self.logit(f))

    def predict(self, f: np.ndarray | torch.Tensor) -> np.ndarray:
        """The SVC's own rule, decision > 0 (the paper's protocol): 1 = attack."""
        return (self.decision_function(f) > 0).astype(np.int64)


class MismatchSVM(ClassifierMixin, BaseEstimator):
    """The RBF-SVM over the mismatch features, a binary scikit-learn classifier (rows of features in).

    Fitted state (set by ``fit`` only): ``head_`` (``RBFHead``), ``classes_``, ``n_features_in_``.
    """

    def __init__(self, C: float = 1.0, gamma: float | str = "scale", cv: int = 3, random_state: int = 0) -> None:
        self.C, self.gamma, self.cv, self.random_state = C, gamma, cv, random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def fit(self, X: np.ndarray, y: np.ndarray) -> "MismatchSVM":
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        y_type = type_of_target(y, input_name="y", raise_unknown=True)
        if y_type != "binary":
            raise ValueError(f"Only binary classification is supported (clean / attack). The type of the target is "
                             f"{y_type}.")
        classes, y01 = np.unique(y, return_inverse=True)
        svc = SVC(kernel="rbf", C=self.C, gamma=self.gamma).fit(X, y01)
        oof = np.zeros(len(y01))
        folds = min(self.cv, int(np.bincount(y01).min()))
        if folds >= 2:
            for tr, te in StratifiedKFold(folds, shuffle=True, random_state=self.random_state).split(X, y01):
                oof[te] = SVC(kernel="rbf", C=self.C, gamma=self.gamma).fit(X[tr], y01[tr]).decision_function(X[te])
        else:  # too few rows of a class for out-of-fold decisions: calibrate on the in-sample ones
            oof = svc.decision_function(X)
        self.head_ = RBFHead.from_svc(svc, platt_fit(oof, y01))
        self.classes_ = classes
        return self

    def _rows(self, X: np.ndarray | torch.Tensor) -> np.ndarray:
        check_is_fitted(self, "head_")
        return validate_data(self, np.asarray(X), dtype=np.float64, reset=False)

    def decision_function(self, X: np.ndarray | torch.Tensor) -> np.ndarray:
        """The SVC decision value ``[N]`` (positive = the second class, attack), float64."""
        rows = self._rows(X)
        return self.head_.decision_function(rows)

    def predict_proba(self, X: np.ndarray | torch.Tensor) -> np.ndarray:
        """``[N, 2]``: P(clean), P(attack)."""
        rows = self._rows(X)
        p = self.head_.p_attack(rows)
        return np.stack([1.0 - p, p], 1)

    def predict(self, X: np.ndarray | torch.Tensor) -> np.ndarray:
        decision = self.decision_function(X)
        return self.classes_[(decision > 0).astype(np.int64)]


def platt_fit(decision: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Logistic calibration ``P = sigmoid(a*d + b)`` of decision values (fitted on out-of-fold ones)."""
    lr = LogisticRegression(C=1e6).fit(np.asarray(decision).reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])
