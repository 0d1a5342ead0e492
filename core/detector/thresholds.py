"""Operating points: a score threshold per clean false-positive rate, shared by every image detector.

A detector scores images (higher = more likely an attack) and flags an image when its score is above the
threshold of a chosen false-positive rate.  The threshold for ``fpr`` is the ``1 - fpr`` quantile (upper
value) of the scores of clean images the detector never saw, so at most ``fpr`` of those are flagged.
Ours, Feature Squeezing and Feinman et al. all meet the same small interface, ``ImageDetector``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from core import DEFAULT_FPR, FPRS  # noqa: F401  (re-exported: the operating points every detector stores)

if TYPE_CHECKING:  # annotations only: the dashboard's entry point imports this module and needs no torch
    import torch



def check_fpr(fpr: float) -> float:
    """A false-positive rate in (0, 1), with a clear message otherwise."""
    fpr = float(fpr)
    if not 0.0 < fpr < 1.0:
        raise ValueError(f"false-positive rate must lie in (0, 1), got {fpr}")
    return fpr


def threshold_at(clean_scores: np.ndarray, fpr: float) -> float:
    """The score above which at most ``fpr`` of ``clean_scores`` lie (flag when ``score > threshold``)."""
    s = np.asarray(clean_scores, np.float64)
    if s.size == 0:
        raise ValueError("no clean calibration scores")
    return float(np.quantile(s, 1.0 - check_fpr(fpr), method="higher"))


def fpr_key(fpr: float) -> str:
    """How an operating point is written in JSON keys: ``0.05``."""
    return f"{check_fpr(fpr):g}"


@runtime_checkable
class ImageDetector(Protocol):
    """What the app, the CLI and the security evaluation need of any detector (ours, FS, Feinman)."""

    def attack_score(self, x: torch.Tensor) -> np.ndarray:
        """Per-image attack score ``[N]`` (higher = more likely an attack)."""

    def threshold(self, fpr: float = DEFAULT_FPR) -> float:
        """The score threshold with clean false-positive rate ``fpr`` on held-out clean images."""

    def predict(self, x: torch.Tensor, fpr: float = DEFAULT_FPR) -> np.ndarray:
        """``True`` where an image is flagged at ``fpr``."""


class Calibrated:
    """Mixin: thresholds from a sorted array of clean scores, ``clean_scores_`` (set by ``calibrate``)."""

    clean_scores_: np.ndarray | None = None

    def calibrate(self, clean_scores: np.ndarray) -> "Calibrated":
        self.clean_scores_ = np.sort(np.asarray(clean_scores, np.float64))
        return self

    def threshold(self, fpr: float = DEFAULT_FPR) -> float:
        if self.clean_scores_ is None or len(self.clean_scores_) == 0:
            raise RuntimeError(f"{type(self).__name__} is not calibrated: call calibrate() with clean scores first")
        return threshold_at(self.clean_scores_, fpr)

    def attack_score(self, x: torch.Tensor) -> np.ndarray:  # pragma: no cover - each detector defines it
        raise NotImplementedError

    def predict(self, x: torch.Tensor, fpr: float = DEFAULT_FPR) -> np.ndarray:
        return self.attack_score(x) > self.threshold(fpr)
