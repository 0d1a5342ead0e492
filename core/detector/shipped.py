"""A shipped detector: the models it watches, its RBF head and operating points, stored without pickle.

A fitted ``sklearn.svm.SVC(kernel="rbf")`` is reduced to its support vectors,
dual coefficients, intercept and gamma (``.npz``) plus a Platt calibration
(logistic on the decision value), the clean scores that set its operating points,
and metadata (``.json``).  Loading checks the ``.npz`` and ``.json`` sha256
against ``artifacts/manifest.json`` and rebuilds the decision function:
``f(x) = sum_i dual_i * exp(-gamma * |x - sv_i|^2) + b``, ``P(attack) = 1 / (1 + exp(-(a*f + c)))``.
A verdict is always at a stated clean false-positive rate (``DEFAULT_FPR`` = 5 %).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from core import ATTACK_NAMES
from core.data import TEST_ROLES, TEST_SIZES, test_roles
from core.detector.feature_map import FeatureMap
from core.detector.features import watched_features
from core.detector.module import DetectorModule
from core.detector.svm import RBFHead
from core.detector.thresholds import DEFAULT_FPR, FPRS, Calibrated, fpr_key
from core.detector.variants import VARIANT_PAIRS, check_variant, load_watched
from core.io.files import read_json, save_with, write_json
from core.io.labs import is_lab
from core.io.manifest import read_manifest, register_file, verified_path
from core.io.paths import artifact_root, check_dataset, detector_relpath, make_command
from core.models import load_pair

TRAINED_ON = ATTACK_NAMES + ("all",)


@dataclass
class Detector(Calibrated):
    """A shipped detector: the pair it watches, its ``RBFHead`` and its operating points.

    Image level (the public contract): ``predict_proba(x)``, ``predict(x, fpr)``, ``attack_score(x)``,
    ``threshold(fpr)``, ``module()``, ``pair()``.  Feature level: ``head`` (an ``RBFHead``) and the
    ``*_features`` helpers.  Thresholds come from ``clean_scores_``, P(attack) of held-out clean test images
    (``python -m core calibrate``).
    """

    dataset: str
    trained_on: str
    head: RBFHead
    variant: str = "paper"
    clean_scores_: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def from_svc(cls, svc: Any, dataset: str, trained_on: str, platt: tuple[float, float] = (1.0, 0.0),
                 meta: dict[str, Any] | None = None, fmap: FeatureMap | None = None, n_inputs: int = 0) -> "Detector":
        """A detector around a fitted binary ``SVC(kernel="rbf")`` with classes ``[0, 1]`` (fitted on ``fmap`` of
        rows of ``n_inputs`` softmax features)."""
        return cls(dataset, trained_on, RBFHead.from_svc(svc, platt, fmap, n_inputs), meta=dict(meta or {}))

    # -- feature level ----------------------------------------------------------------------
    def decision_function_features(self, f: np.ndarray | torch.Tensor) -> np.ndarray:
        return self.head.decision_function(f)

    def predict_proba_features(self, f: np.ndarray | torch.Tensor) -> np.ndarray:
        """P(attack) ``[N]`` for rows of the 20 features."""
        return self.head.p_attack(f)

    def predict_features(self, f: np.ndarray | torch.Tensor, fpr: float = DEFAULT_FPR) -> np.ndarray:
        """Flags at the operating point ``fpr`` for rows of the 20 features."""
        return self.predict_proba_features(f) > self.threshold(fpr)

    # -- image level (the contract) ---------------------------------------------------------
    def pair(self, device: str = "cpu") -> tuple[nn.Module, nn.Module]:
        """The two classifiers this detector watches (model 1 gives the user's answer)."""
        return load_pair(self.dataset, VARIANT_PAIRS[self.variant], device)

    def models(self, device: str = "cpu") -> tuple[nn.Module, ...]:
        """Every classifier whose softmax this detector reads, in feature order (``pair()`` first)."""
        return load_watched(self.dataset, self.variant, device)

    def predict_proba(self, x: torch.Tensor) -> np.ndarray:
        """P(attack) for images ``[N,C,H,W]`` in ``[0,1]`` (float64 numpy ``[N]``)."""
        return self.predict_proba_features(watched_features(self.models(), x).numpy())

    def attack_score(self, x: torch.Tensor) -> np.ndarray:
        """The score every image detector shares (``core.detector.thresholds.ImageDetector``): here P(attack)."""
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
        ``device`` (``core.models.device``), the RBF head on the CPU in float64."""
        m1, m2, *more = self.models(device)
        return DetectorModule(m1, m2, self.head, more)

    # -- storage ----------------------------------------------------------------------------
    def save(self, stem: Path) -> tuple[Path, Path]:
        """Write ``stem.npz`` (arrays) and ``stem.json`` (scalars, operating points, metadata) atomically."""
        h = self.head
        npz, js = stem.with_suffix(".npz"), stem.with_suffix(".json")
        arrays = {"support_vectors": h.support_vectors, "dual_coef": h.dual_coef}
        if h.fmap.name != "softmax":
            arrays |= {"map_shift": h.fmap.shift, "map_scale": h.fmap.scale}
        if self.clean_scores_ is not None:
            arrays["calibration_scores"] = self.clean_scores_
        save_with(npz, lambda p: np.savez(p, **arrays))
        thresholds = {fpr_key(f): self.threshold(f) for f in FPRS} if self.clean_scores_ is not None else {}
        write_json(js, {"dataset": self.dataset, "trained_on": self.trained_on, "variant": self.variant,
                        "C": h.C, "intercept": h.intercept, "gamma": h.gamma, "platt_a": h.platt[0],
                        "platt_b": h.platt[1], "feature_map": h.fmap.name, "n_inputs": h.n_features,
                        "thresholds": thresholds, "meta": self.meta})
        return npz, js

    @classmethod
    def read(cls, npz: Path, js: Path) -> "Detector":
        meta = read_json(js)
        with np.load(npz, allow_pickle=False) as z:
            sv, dual = z["support_vectors"], z["dual_coef"]
            clean = z["calibration_scores"] if "calibration_scores" in z.files else None
            name = meta.get("feature_map", "softmax")
            fmap = FeatureMap(name, z["map_shift"], z["map_scale"]) if name != "softmax" else FeatureMap()
        head = RBFHead(np.asarray(sv, np.float64), np.asarray(dual, np.float64).reshape(-1), float(meta["intercept"]),
                       float(meta["gamma"]), (float(meta["platt_a"]), float(meta["platt_b"])),
                       float(meta.get("C", meta.get("meta", {}).get("params", {}).get("C", 1.0))), fmap,
                       int(meta.get("n_inputs", 0)))
        return cls(meta["dataset"], meta["trained_on"], head, meta.get("variant", "paper"), clean, meta.get("meta", {}))


def store(det: Detector, command: str) -> None:
    """Write a detector under ``artifacts/detectors`` (a lab's ``detectors``) and register both files with
    ``command``."""
    for path in det.save(artifact_root(det.dataset) / detector_relpath(det.dataset, det.trained_on, det.variant)):
        register_file(path, command)


def check_trained_on(trained_on: str) -> str:
    if trained_on not in TRAINED_ON:
        raise ValueError(f"unknown trained_on {trained_on!r}: choose one of {', '.join(TRAINED_ON)}")
    return trained_on


def _listed(dataset: str, trained_on: str, variant: str) -> tuple[str, Path, dict[str, Any]]:
    """A shipped detector's manifest stem, the folder it is relative to, and that folder's manifest entries."""
    root = artifact_root(dataset)
    return detector_relpath(dataset, trained_on, variant), root, read_manifest(root).get("files", {})


def load(dataset: str, trained_on: str = "all", variant: str = "paper") -> Detector:
    """A shipped fitted detector, sha256-checked against the manifest (``IntegrityError`` if changed)."""
    check_dataset(dataset)
    check_trained_on(trained_on)
    check_variant(variant)
    if variant != "paper" and trained_on != "all":
        raise ValueError(f"the {variant!r} variant ships one detector, trained_on='all'")
    if is_lab(dataset) and variant != "paper":
        raise ValueError(f"{dataset} is a lab: its detectors are the held-out protocol's, with no hardened variant")
    stem, root, files = _listed(dataset, trained_on, variant)
    if stem + ".npz" not in files or not (root / (stem + ".npz")).exists():
        make = (f"`{make_command('pipeline', dataset)}` (stage `detectors` after `data`)" if variant == "paper"
                else f"`{make_command('variant', dataset, variant=variant)}`")
        raise FileNotFoundError(f"no shipped {dataset} detector trained on {trained_on!r} "
                                f"({root / stem}.npz); make it with {make}")
    return Detector.read(verified_path(stem + ".npz", root), verified_path(stem + ".json", root))


def fingerprint(dataset: str, trained_on: str = "all", variant: str = "paper") -> str:
    """A short hash of a shipped detector's files as the manifest records them (its weights and its thresholds),
    so that results cached against one detector are never read for another; ``"none"`` when it is not shipped."""
    stem, _, files = _listed(dataset, trained_on, variant)
    shas = [files.get(stem + s, {}).get("sha256", "") for s in (".npz", ".json")]
    return hashlib.sha256("".join(shas).encode()).hexdigest()[:10] if any(shas) else "none"


def training_role(det: Detector) -> dict[str, Any]:
    """The images ``det`` was fitted on, as its file records them (``{"split", "role", "seed", "images"}``); a
    detector that records none is refused, not guessed."""
    roles = det.meta.get("roles") or {}
    trained = roles.get("detector")
    if not isinstance(trained, dict) or "split" not in trained:
        raise ValueError(f"the {det.dataset} detector trained on {det.trained_on!r} ({det.variant}) records no roles "
                         f"for its images, so what it may be calibrated or evaluated on is unknown; remake it with "
                         f"`{make_command('detectors', det.dataset)}`")
    return trained


def check_unseen(det: Detector, split: str, role: str, purpose: str) -> None:
    """Refuse to ``purpose`` (calibrate, evaluate) ``det`` on images of its own training role."""
    trained = training_role(det)
    if trained["split"] == split and trained.get("role", split) == role:
        raise ValueError(f"refused: cannot {purpose} the {det.dataset} detector trained on {det.trained_on!r} on the "
                         f"{role!r} role of the {split} split: the detector was trained on that role's images")


def unseen_test_indices(dataset: str) -> np.ndarray:
    """Sorted int64 indices into the test split of the images no shipped part of ``dataset`` was fitted on.

    The classifiers were trained on the train split, the default detector on the test split's ``detector`` role,
    its thresholds set on the ``calibration`` role (``core.data.test_roles``); the ``evaluation`` role is
    returned, as the detector's file records it.  Needs no data.  A detector without recorded roles is refused.
    """
    det = load(dataset)
    trained = training_role(det)
    cal = det.meta.get("calibration")
    if not cal or cal.get("split") != "test" or "seed" not in cal:
        raise ValueError(f"the shipped {dataset} detector records no calibration role, so which test images it "
                         f"used is unknown; remake it with `{make_command('operating_points', dataset)}`")
    roles = test_roles(TEST_SIZES[dataset], int(cal["seed"]))
    if trained["split"] == "test" and int(trained.get("seed", cal["seed"])) != int(cal["seed"]):
        raise ValueError(f"the shipped {dataset} detector's training and calibration roles come from different "
                         f"split seeds; remake it with `{make_command('detectors', dataset)}`")
    used = {cal.get("role")} | ({trained.get("role")} if trained["split"] == "test" else set())
    if not used <= set(roles):
        raise ValueError(f"the shipped {dataset} detector records unknown roles {sorted(used - set(roles))}")
    if "evaluation_images" in cal and int(cal["evaluation_images"]) != len(roles["evaluation"]):
        raise ValueError(f"the shipped {dataset} detector's calibration records {cal['evaluation_images']} evaluation "
                         f"images, the {dataset} test split has {len(roles['evaluation'])}: its roles do not match")
    unseen = [roles[r] for r in TEST_ROLES if r not in used]
    out = np.sort(np.concatenate(unseen)) if unseen else np.zeros(0, np.int64)
    return out.astype(np.int64)
