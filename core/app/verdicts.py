"""A detector's verdict in words a newcomer reads at a glance: where an image ranks among clean test images.

A detector flags an image when its P(attack) is above the threshold of the operating point: the score that a
share ``fpr`` of held-out clean test images exceed (``core.detector.thresholds.Calibrated``, whose sorted
``clean_scores_`` are those images' scores).  Near a threshold of 1 a bare number misleads: on CIFAR-10
"P(attack) 0.966 → takes it for clean" (threshold 0.989) reads as a contradiction.  Ranked against the same
clean images it says what it means: "more suspicious than 93 % of clean test images; flagged above 95 %",
with P(attack) and the threshold as the detail.

Pure functions of numbers (no Streamlit, no torch): the attack lab and the Scan page word every verdict here.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from core.detector.thresholds import check_fpr

CLEAN_IMAGES = "clean test images"


def clean_share_below(p_attack: float, clean_scores: Sequence[float] | np.ndarray) -> float:
    """The share of the detector's clean calibration scores strictly below ``p_attack``, in [0, 1].

    ``p_attack > threshold(fpr)`` exactly when this share exceeds ``1 - fpr`` (up to one image in the
    calibration set), so it ranks an image on the scale the operating point is set on.
    """
    s = np.sort(np.asarray(clean_scores, np.float64))
    if s.size == 0:
        raise ValueError("no clean calibration scores to rank against")
    return float(np.searchsorted(s, float(p_attack), side="left") / s.size)


def percent(share: float) -> str:
    """A share as a percentage, rounded down so the words never overstate: ``0.929`` → ``"92 %"``; above 99 %
    one decimal (``0.9987`` → ``"99.8 %"``), so the top of the scale keeps its detail."""
    v = 100 * float(share)
    if v >= 99 and v < 100:
        return f"{math.floor(v * 10) / 10:.1f} %"
    return f"{math.floor(v + 1e-9):d} %"


def cut_percent(fpr: float) -> str:
    """The operating point as the rank it flags above: ``0.05`` → ``"95 %"``."""
    return f"{100 * (1 - check_fpr(fpr)):g} %"


def rank_words(share: float, fpr: float, flagged: bool | None = None) -> str:
    """Where an image ranks among clean test images, and where the detector starts flagging.

    ``"more suspicious than 93 % of clean test images; flagged above 95 %"``.  ``flagged`` (the
    detector's own verdict, from the threshold) settles the one case the rounded rank cannot: an image exactly
    at the cut-off, which is not flagged.
    """
    tail = f"flagged above {cut_percent(fpr)}"
    if share >= 1.0:
        return f"more suspicious than every one of the {CLEAN_IMAGES}; {tail}"
    if share <= 0.0:
        return f"less suspicious than any of the {CLEAN_IMAGES}; {tail}"
    if flagged is False and 100 * share >= 100 * (1 - fpr) - 1e-9:
        return f"right at the cut-off, where the top {100 * fpr:g} % of {CLEAN_IMAGES} begin, not above it; {tail}"
    return f"more suspicious than {percent(share)} of {CLEAN_IMAGES}; {tail}"


def p_attack_detail(p_attack: float, threshold: float | None) -> str:
    """The numbers behind a verdict: ``"P(attack) 0.966 ≤ threshold 0.989"``."""
    if threshold is None:
        return f"P(attack) {p_attack:.4g}, no threshold"
    return f"P(attack) {p_attack:.4g} {'>' if p_attack > threshold else '≤'} threshold {threshold:.4g}"


def flag_words(flagged: bool) -> str:
    """The verdict itself: ``"flags it as an attack"`` / ``"takes it for clean"``."""
    return "flags it as an attack" if flagged else "takes it for clean"


def detector_sentence(p_attack: float, threshold: float | None, fpr: float, share: float | None) -> str:
    """One line for an image and a detector: the verdict, the rank among clean test images, the numbers.

    ``"takes it for clean — more suspicious than 93 % of clean test images; flagged above 95 % · P(attack) 0.966
    ≤ threshold 0.989"``.  Without calibration scores (``share`` None) the rank is left out;
    without a threshold there is no verdict, only the score.
    """
    detail = p_attack_detail(p_attack, threshold)
    if threshold is None:
        return f"no verdict (no operating point): {detail}"
    flagged = p_attack > threshold
    rank = "" if share is None else f" — {rank_words(share, fpr, flagged)}"
    return f"{flag_words(flagged)}{rank} · {detail}"


FALSE_ALARM = "flagged already before any perturbation (a false alarm on the clean image)"


def false_alarm_words(fpr: float) -> str:
    """Why a clean image can be flagged: the operating point flags a share ``fpr`` of clean images by design."""
    return (f"At this operating point the detector flags {100 * check_fpr(fpr):g} % of {CLEAN_IMAGES} by design: "
            "a clean image flagged is one of those false alarms, and a flag after an attack on it says nothing "
            "about the attack.")


def rank_sentence(p_attack: float, threshold: float, fpr: float, clean_scores: np.ndarray | None) -> str:
    """The detail beside a verdict word (the Scan page's ATTACK / clean): the rank among clean test images,
    when the detector has its calibration scores, then the numbers.

    ``"more suspicious than 97 % of clean test images; flagged above 95 % · P(attack) 0.97 > threshold 0.0073"``.
    """
    detail = p_attack_detail(p_attack, threshold)
    if clean_scores is None or len(clean_scores) == 0:
        return detail
    return f"{rank_words(clean_share_below(p_attack, clean_scores), fpr, p_attack > threshold)} · {detail}"


def as_given_words(fpr: float) -> str:
    """What a flag on a scanned image means: a verdict on the image as given, which cannot tell an attack from
    one of the clean images the operating point flags by design."""
    return (f"The verdict is about the image as given.  At this operating point the detector also flags "
            f"{100 * check_fpr(fpr):g} % of {CLEAN_IMAGES} (false alarms): if nobody perturbed this image, the "
            "flag is one of those.")
