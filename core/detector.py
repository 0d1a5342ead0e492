"""The bi-model mismatch detector: 20 softmax features and a shipped RBF-SVM, stored without pickle.

A fitted ``sklearn.svm.SVC(kernel="rbf")`` is reduced to its support vectors,
dual coefficients, intercept and gamma (``.npz``) plus a Platt calibration
(logistic on the decision value), the clean scores that set its operating points,
and metadata (``.json``).  Loading checks the ``.npz`` and ``.json`` sha256
against ``artifacts/manifest.json`` and rebuilds the decision function:
``f(x) = sum_i dual_i * exp(-gamma * |x - sv_i|^2) + b``, ``P(attack) = 1 / (1 + exp(-(a*f + c)))``.
A verdict is always at a stated clean false-positive rate (``DEFAULT_FPR`` = 5 %).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from . import ATTACK_NAMES
from .data import TEST_SIZES, test_halves
from .files import read_json, save_with, write_json
from .operating_point import DEFAULT_FPR, FPRS, Calibrated, fpr_key
from .paths import artifacts_dir, check_dataset, make_command

TRAINED_ON = ATTACK_NAMES + ("all",)
# detector variants: "paper" is the paper's detector; "robust" watches a PGD-trained pair (see core.variants);
# "retrained" is the robust one refit on its own adaptive attacker's evasions, in rounds (MNIST; core.retraining);
# "pool" watches four models at once, the shipped pair and the robust pair; "robust_pool" too, with the robust
# pair's model 1 answering (core.variants); "robust_pgd" watches a multi-step PGD-trained pair (MNIST)
VARIANTS: tuple[str, ...] = ("paper", "robust", "retrained", "pool", "robust_pool", "robust_pgd")
# the roles (core.models.ROLE_FLAGS) of the pairs each watches; the first pair's model 1 gives the user's answer
VARIANT_ROLES: dict[str, tuple[str, ...]] = {"paper": ("model",), "robust": ("robust",), "retrained": ("robust",),
                                             "pool": ("model", "robust"), "robust_pool": ("robust", "model"),
                                             "robust_pgd": ("robust-pgd",)}
VARIANT_PAIRS = {v: roles[0] for v, roles in VARIANT_ROLES.items()}  # the role of the pair whose bars the app shows
# the role of the pair its detector data's attacks target (default: the first): the pools learn from the paper's rows
VARIANT_ROWS = {v: "model" if "model" in roles else roles[0] for v, roles in VARIANT_ROLES.items()}
# what each is, in a sentence (the app's variant switches)
VARIANT_DESCRIPTIONS = {
    "paper": "the paper's detector over the shipped pair",
    "robust": "the same detector over an adversarially trained pair, whose softmax bars the app then shows",
    "retrained": "(MNIST) the robust one refit on its own adaptive attacker's evasions, 3 rounds",
    "pool": "one detector over four models, the shipped pair (its bars, model 1's answer) and the robust pair",
    "robust_pool": "the same four models, the robust pair answering (its bars, its model 1's answer)",
    "robust_pgd": "(MNIST) the paper's detector over a pair adversarially trained with 7-step PGD (its bars)",
}


@torch.no_grad()
def features(dataset: str, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """``[N, 20]`` float32: model_1's softmax, then model_2's (no gradient, batched)."""
    from .models import load_pair

    m1, m2 = load_pair(dataset)
    return pair_features(m1, m2, x, batch_size)


@torch.no_grad()
def pair_features(m1: torch.nn.Module, m2: torch.nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The 20 features for an explicit pair of models."""
    return watched_features((m1, m2), x, batch_size)


@torch.no_grad()
def watched_features(models: Sequence[nn.Module], x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """``[N, 10·k]`` float32: the softmax of each of ``k`` watched models, in order (no gradient, batched)."""
    x = torch.as_tensor(x, dtype=torch.float32)
    if len(x) == 0:
        return torch.zeros(0, 10 * len(models))
    return torch.cat([torch.cat([torch.softmax(m(x[i : i + batch_size]), 1) for m in models], 1)
                      for i in range(0, len(x), batch_size)])


def load_watched(dataset: str, variant: str = "paper", device: str = "cpu") -> tuple[nn.Module, ...]:
    """Every classifier the ``variant`` detector watches: the pairs of its roles, in order (model 1 first)."""
    from .models import load_pair

    return tuple(m for role in VARIANT_ROLES[check_variant(variant)] for m in load_pair(dataset, role, device))


def load_surrogates(dataset: str, variant: str = "paper", device: str = "cpu") -> tuple[nn.Module, ...]:
    """A transfer attacker's own models against the ``variant`` detector: a surrogate of each watched model."""
    from .models import load_surrogate_pair

    return tuple(m for role in VARIANT_ROLES[check_variant(variant)]
                 for m in load_surrogate_pair(dataset, role, device))


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


class MismatchSVM(ClassifierMixin, BaseEstimator):
    """The RBF-SVM over the 20 mismatch features, in scikit-learn's shape (rows of features in, labels out).

    ``fit`` trains ``SVC(kernel="rbf", C, gamma)`` and a Platt calibration on ``cv``-fold out-of-fold decision
    values; the fitted state is plain arrays (support vectors, dual coefficients, intercept, gamma, Platt a, b),
    so it is stored without pickle.  ``predict`` is the SVC's own rule, decision > 0 (the paper's protocol).
    """

    def __init__(self, C: float = 1.0, gamma: float | str = "scale", cv: int = 3, random_state: int = 0) -> None:
        self.C, self.gamma, self.cv, self.random_state = C, gamma, cv, random_state

    def fit(self, f: np.ndarray, y: np.ndarray) -> "MismatchSVM":
        from sklearn.model_selection import StratifiedKFold
        from sklearn.svm import SVC

        f, y = np.asarray(f, np.float64), np.asarray(y, np.int64)
        svc = SVC(kernel="rbf", C=self.C, gamma=self.gamma).fit(f, y)
        oof = np.zeros(len(y))
        for tr, te in StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state).split(f, y):
            oof[te] = SVC(kernel="rbf", C=self.C, gamma=self.gamma).fit(f[tr], y[tr]).decision_function(f[te])
        return self.set_fitted(svc, platt_fit(oof, y))

    def set_fitted(self, svc: Any, platt: tuple[float, float]) -> "MismatchSVM":
        """Take the arrays out of a fitted binary ``SVC(kernel="rbf")`` with classes ``[0, 1]``."""
        if list(svc.classes_) != [0, 1]:
            raise ValueError(f"expected classes [0, 1], got {list(svc.classes_)}")
        return self.set_arrays(svc.support_vectors_, svc.dual_coef_[0], float(svc.intercept_[0]), float(svc._gamma),
                               platt)

    def set_arrays(self, sv: np.ndarray, dual: np.ndarray, intercept: float, gamma: float,
                   platt: tuple[float, float]) -> "MismatchSVM":
        self.support_vectors_ = np.asarray(sv, np.float64)
        self.dual_coef_ = np.asarray(dual, np.float64).reshape(-1)
        self.intercept_, self.gamma_ = float(intercept), float(gamma)
        self.platt_ = (float(platt[0]), float(platt[1]))
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = self.support_vectors_.shape[1]
        return self

    def decision_function(self, f: np.ndarray | torch.Tensor) -> np.ndarray:
        """The SVC decision value ``[N]`` (positive = attack), float64."""
        check_is_fitted(self, "support_vectors_")
        return rbf_decision(np.asarray(f), self.support_vectors_, self.dual_coef_, self.intercept_, self.gamma_)

    def logit(self, f: np.ndarray | torch.Tensor) -> np.ndarray:
        """Platt's logit ``a * decision + b`` (``sigmoid(logit) = P(attack)``)."""
        a, b = self.platt_
        return a * self.decision_function(f) + b

    def predict_proba(self, f: np.ndarray | torch.Tensor) -> np.ndarray:
        """``[N, 2]``: P(clean), P(attack)."""
        p = expit(self.logit(f))
        return np.stack([1.0 - p, p], 1)

    def predict(self, f: np.ndarray | torch.Tensor) -> np.ndarray:
        return (self.decision_function(f) > 0).astype(np.int64)


def platt_fit(decision: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Logistic calibration ``P = sigmoid(a*d + b)`` of decision values (fitted on out-of-fold ones)."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e6).fit(np.asarray(decision).reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


class DetectorModule(nn.Module):
    """Images → the detector's logit ``[N]`` in torch end to end: the watched models (a pair, then any ``more``),
    their softmax features, the RBF decision (float64, as the shipped detector computes it), Platt.  Gradients
    reach the pixels.

    ``outputs(x)`` also returns every model's logits from the same forward pass (what adaptive attacks use):
    ``(logits_1, logits_2, logit, (logits of the more models...))``.
    """

    def __init__(self, m1: nn.Module, m2: nn.Module, head: MismatchSVM, more: Sequence[nn.Module] = ()) -> None:
        super().__init__()
        check_is_fitted(head, "support_vectors_")
        if head.n_features_in_ != 10 * (2 + len(more)):
            raise ValueError(f"the head takes {head.n_features_in_} features, {2 + len(more)} models give "
                             f"{10 * (2 + len(more))}")
        self.m1, self.m2, self.more = m1, m2, nn.ModuleList(more)
        self.register_buffer("sv", torch.as_tensor(head.support_vectors_, dtype=torch.float64))
        self.register_buffer("dual", torch.as_tensor(head.dual_coef_, dtype=torch.float64))
        self.register_buffer("sv_sq", (self.sv * self.sv).sum(1))
        self.intercept, self.gamma = head.intercept_, head.gamma_
        self.platt_a, self.platt_b = head.platt_

    def logit_of_features(self, f: torch.Tensor) -> torch.Tensor:
        f = f.double()
        d2 = torch.addmm(self.sv_sq[None, :], f, self.sv.T, alpha=-2.0) + (f * f).sum(1, keepdim=True)
        decision = torch.exp(-self.gamma * d2.clamp_min(0.0)) @ self.dual + self.intercept
        return (self.platt_a * decision + self.platt_b).float()

    def outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        """(model 1 logits, model 2 logits, detector logit, the more models' logits)."""
        l1, l2 = self.m1(x), self.m2(x)
        more = tuple(m(x) for m in self.more)
        f = torch.cat([torch.softmax(v, 1) for v in (l1, l2, *more)], 1)
        return l1, l2, self.logit_of_features(f), more

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.outputs(x)[2]


@dataclass
class Detector(Calibrated):
    """A shipped detector: the pair it watches, its ``MismatchSVM`` head and its operating points.

    Image level (the public contract): ``predict_proba(x)``, ``predict(x, fpr)``, ``score(x)``,
    ``threshold(fpr)``, ``module()``, ``pair()``.  Feature level: ``head`` (scikit-learn shape) and the
    ``*_features`` helpers.  Thresholds come from ``clean_scores_``, P(attack) of held-out clean test images
    (``python -m core calibrate``).
    """

    dataset: str
    trained_on: str
    head: MismatchSVM
    variant: str = "paper"
    clean_scores_: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def from_svc(cls, svc: Any, dataset: str, trained_on: str, platt: tuple[float, float] = (1.0, 0.0),
                 meta: dict[str, Any] | None = None) -> "Detector":
        """A detector around a fitted binary ``SVC(kernel="rbf")`` with classes ``[0, 1]``."""
        head = MismatchSVM(C=float(svc.C), gamma=svc.gamma).set_fitted(svc, platt)
        return cls(dataset, trained_on, head, meta=dict(meta or {}))

    # -- feature level ----------------------------------------------------------------------
    def decision_function_features(self, f: np.ndarray | torch.Tensor) -> np.ndarray:
        return self.head.decision_function(f)

    def predict_proba_features(self, f: np.ndarray | torch.Tensor) -> np.ndarray:
        """P(attack) ``[N]`` for rows of the 20 features."""
        return expit(self.head.logit(f))

    def predict_features(self, f: np.ndarray | torch.Tensor, fpr: float = DEFAULT_FPR) -> np.ndarray:
        """Flags at the operating point ``fpr`` for rows of the 20 features."""
        return self.predict_proba_features(f) > self.threshold(fpr)

    # -- image level (the contract) ---------------------------------------------------------
    def pair(self, device: str = "cpu") -> tuple[nn.Module, nn.Module]:
        """The two classifiers this detector watches (model 1 gives the user's answer); a ``pool`` detector
        watches more (``models()``), this pair first."""
        from .models import load_pair

        return load_pair(self.dataset, VARIANT_PAIRS[self.variant], device)

    def models(self, device: str = "cpu") -> tuple[nn.Module, ...]:
        """Every classifier whose softmax this detector reads, in feature order (``pair()`` first)."""
        return load_watched(self.dataset, self.variant, device)

    def predict_proba(self, x: torch.Tensor) -> np.ndarray:
        """P(attack) for images ``[N,C,H,W]`` in ``[0,1]`` (float64 numpy ``[N]``)."""
        return self.predict_proba_features(watched_features(self.models(), x).numpy())

    def score(self, x: torch.Tensor) -> np.ndarray:
        return self.predict_proba(x)

    def threshold(self, fpr: float = DEFAULT_FPR) -> float:
        """The ``predict_proba`` threshold with clean false-positive rate ``fpr`` on held-out clean test images."""
        if self.clean_scores_ is None:
            raise RuntimeError(f"the {self.dataset} detector trained on {self.trained_on!r} has no operating points; "
                               f"make them with `{make_command('operating_points', self.dataset)}`")
        return super().threshold(fpr)

    def predict(self, x: torch.Tensor, fpr: float = DEFAULT_FPR) -> np.ndarray:
        """``True`` where an image is flagged at clean false-positive rate ``fpr`` (bool numpy ``[N]``)."""
        return self.predict_proba(x) > self.threshold(fpr)

    def module(self, device: str = "cpu") -> DetectorModule:
        """The detector as a torch module (images → logit), for gradient-based attacks; the networks on
        ``device`` (``core.device``), the RBF head on the CPU in float64."""
        m1, m2, *more = self.models(device)
        return DetectorModule(m1, m2, self.head, more)

    # -- storage ----------------------------------------------------------------------------
    def save(self, stem: Path) -> tuple[Path, Path]:
        """Write ``stem.npz`` (arrays) and ``stem.json`` (scalars, operating points, metadata) atomically."""
        h = self.head
        npz, js = stem.with_suffix(".npz"), stem.with_suffix(".json")
        arrays = {"support_vectors": h.support_vectors_, "dual_coef": h.dual_coef_}
        if self.clean_scores_ is not None:
            arrays["calibration_scores"] = self.clean_scores_
        save_with(npz, lambda p: np.savez(p, **arrays))
        thresholds = {fpr_key(f): self.threshold(f) for f in FPRS} if self.clean_scores_ is not None else {}
        write_json(js, {"dataset": self.dataset, "trained_on": self.trained_on, "variant": self.variant,
                        "C": h.C, "intercept": h.intercept_, "gamma": h.gamma_, "platt_a": h.platt_[0],
                        "platt_b": h.platt_[1], "thresholds": thresholds, "meta": self.meta})
        return npz, js

    @classmethod
    def read(cls, npz: Path, js: Path) -> "Detector":
        meta = read_json(js)
        with np.load(npz, allow_pickle=False) as z:
            sv, dual = z["support_vectors"], z["dual_coef"]
            clean = z["calibration_scores"] if "calibration_scores" in z.files else None
        head = MismatchSVM(C=float(meta.get("C", meta.get("meta", {}).get("params", {}).get("C", 1.0))),
                           gamma=float(meta["gamma"]))
        head.set_arrays(sv, dual, float(meta["intercept"]), float(meta["gamma"]),
                        (float(meta["platt_a"]), float(meta["platt_b"])))
        return cls(meta["dataset"], meta["trained_on"], head, meta.get("variant", "paper"), clean, meta.get("meta", {}))


def store(det: Detector, command: str) -> None:
    """Write a detector under ``artifacts/detectors`` and register both files with ``command``."""
    from .manifest import register_file

    for path in det.save(artifacts_dir() / detector_relpath(det.dataset, det.trained_on, det.variant)):
        register_file(path, command)


def detector_relpath(dataset: str, trained_on: str, variant: str = "paper") -> str:
    """Manifest key stem (without suffix) of a shipped detector."""
    return f"detectors/{dataset}/{trained_on}" + ("" if variant == "paper" else f"-{variant}")


def check_trained_on(trained_on: str) -> str:
    if trained_on not in TRAINED_ON:
        raise ValueError(f"unknown trained_on {trained_on!r}: choose one of {', '.join(TRAINED_ON)}")
    return trained_on


def check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"unknown detector variant {variant!r}: choose one of {', '.join(VARIANTS)}")
    return variant


def load(dataset: str, trained_on: str = "all", variant: str = "paper") -> Detector:
    """A shipped fitted detector, sha256-checked against the manifest (``IntegrityError`` if changed)."""
    from .manifest import read_manifest, verified_path

    check_dataset(dataset)
    check_trained_on(trained_on)
    check_variant(variant)
    if variant != "paper" and trained_on != "all":
        raise ValueError(f"the {variant!r} variant ships one detector, trained_on='all'")
    stem = detector_relpath(dataset, trained_on, variant)
    files = read_manifest().get("files", {})
    if stem + ".npz" not in files or not (artifacts_dir() / (stem + ".npz")).exists():
        make = (f"`{make_command('pipeline', dataset)}` (stage `detectors` after `data`)" if variant == "paper"
                else f"`{make_command('variant', dataset, variant=variant)}`")
        raise FileNotFoundError(f"no shipped {dataset} detector trained on {trained_on!r} "
                                f"({artifacts_dir() / stem}.npz); make it with {make}")
    return Detector.read(verified_path(stem + ".npz"), verified_path(stem + ".json"))


def unseen_test_indices(dataset: str) -> np.ndarray:
    """Sorted int64 indices into the test split of the images no shipped part of ``dataset`` was fitted on.

    The classifiers and the default detector were trained on train-split images only, and the detector's
    thresholds were set on the calibration half of the test split that its file records; the other half is
    returned.  Needs no data.  A default detector without a recorded calibration is refused, not guessed.
    """
    det = load(dataset)
    cal = det.meta.get("calibration")
    if not cal or cal.get("split") != "test" or "seed" not in cal:
        raise ValueError(f"the shipped {dataset} detector records no calibration split, so which test images it "
                         f"used is unknown; remake it with `{make_command('operating_points', dataset)}`")
    _, held = test_halves(TEST_SIZES[dataset], int(cal["seed"]))
    if len(held) != int(cal["held_out_images"]):
        raise ValueError(f"the shipped {dataset} detector's calibration records {cal['held_out_images']} held-out "
                         f"images, the {dataset} test split has {len(held)}: its roles do not match this split")
    return held.astype(np.int64)
