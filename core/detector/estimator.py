"""``MismatchSVM``: the RBF-SVM over the mismatch features as a scikit-learn classifier.

It passes ``parametrize_with_checks`` (``score`` is accuracy, as everywhere in scikit-learn).  ``fit`` trains
``SVC(kernel="rbf", C, gamma)`` and a Platt calibration on ``cv``-fold out-of-fold decision values and keeps the
result as ``head_``, an ``RBFHead`` (``core.detector.svm``).  Its own module, so that scikit-learn stays off the
dashboard's import path.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from core.detector.svm import RBFHead, platt_fit


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
