"""The detector layer: mismatch features, the RBF-SVM, its torch module, operating points, variants, baselines.

The public face (``../shared/CONTRACT.md``): ``features``, ``load`` (a ``Detector``), ``unseen_test_indices``,
``VARIANTS``.  Modules: ``features`` (softmax features), ``svm`` (``RBFHead``), ``estimator`` (``MismatchSVM``),
``module``
(``DetectorModule``), ``thresholds`` (operating points), ``variants`` (which models each variant watches),
``shipped`` (``Detector``: storage, loading, roles of the test images), ``baselines`` and ``judges`` (Feature
Squeezing and Feinman et al., as detectors and as differentiable judges).
"""
from core.detector.features import features, pair_features, watched_features
from core.detector.module import DetectorModule
from core.detector.shipped import (
    TRAINED_ON,
    Detector,
    check_trained_on,
    check_unseen,
    fingerprint,
    load,
    store,
    training_role,
    unseen_test_indices,
)
from core.detector.svm import RBFHead, platt_fit, rbf_decision
from core.detector.thresholds import DEFAULT_FPR, FPRS, fpr_key
from core.detector.variants import (
    VARIANT_DESCRIPTIONS,
    VARIANT_LABELS,
    VARIANT_PAIRS,
    VARIANT_ROLES,
    VARIANTS,
    check_variant,
    load_surrogates,
    load_watched,
)

__all__ = [
    "DEFAULT_FPR", "FPRS", "TRAINED_ON", "VARIANTS", "VARIANT_DESCRIPTIONS", "VARIANT_LABELS", "VARIANT_PAIRS",
    "VARIANT_ROLES", "Detector", "DetectorModule", "MismatchSVM", "RBFHead", "check_trained_on",
    "check_variant", "features", "fingerprint", "fpr_key", "load", "load_surrogates", "load_watched",
    "pair_features", "platt_fit", "rbf_decision", "store", "unseen_test_indices", "check_unseen", "training_role",
    "watched_features",
]


def __getattr__(name: str):
    """``MismatchSVM`` on first use: it imports scikit-learn, which the dashboard's start does without (~1 s)."""
    if name == "MismatchSVM":
        from core.detector.estimator import MismatchSVM  # noqa: PLC0415

        return MismatchSVM
    raise AttributeError(f"module 'core.detector' has no attribute {name!r}")
