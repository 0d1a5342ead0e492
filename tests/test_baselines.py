"""Feature Squeezing's squeezers as Xu et al.'s code computes them, and the detector's threshold."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from sklearn.neighbors import KernelDensity

from core.data import samples
from core.detector import baselines
from core.models import load_pair


def test_median_matches_scipy_reflect() -> None:
    """Xu et al. smooth with ``scipy.ndimage.median_filter(size=2, mode='reflect')`` per channel."""
    x = torch.rand(3, 3, 9, 7, generator=torch.Generator().manual_seed(0))
    ref = ndimage.median_filter(x.numpy(), size=(1, 1, 2, 2), mode="reflect")
    assert np.array_equal(baselines.median_2x2(x).numpy(), ref)


def test_bit_depth_levels() -> None:
    x = torch.linspace(0, 1, 101)
    assert set(baselines.bit_depth(x, 1).tolist()) == {0.0, 1.0}
    assert len(torch.unique(baselines.bit_depth(x, 5))) == 32


def _nlm_reference(img: np.ndarray, h: float, patch: int, search: int) -> np.ndarray:
    """Non-local means as Buades et al. define it (float weights ``exp(-patch MSE / h²)``, weights under 0.001
    dropped, reflect-101 border): an oracle written from the definition, not from OpenCV's code."""
    img = img.astype(np.float64)
    rows, cols = img.shape
    tr, sr = patch // 2, search // 2
    c = tr + sr
    pad = np.pad(img, c, mode="reflect")
    base = pad[c - tr : c + rows + tr, c - tr : c + cols + tr]
    num, den = np.zeros_like(img), np.zeros_like(img)
    for dy in range(-sr, sr + 1):
        for dx in range(-sr, sr + 1):
            d2 = (pad[c + dy - tr : c + dy + rows + tr, c + dx - tr : c + dx + cols + tr] - base) ** 2
            mse = sum(d2[i : i + rows, j : j + cols] for i in range(patch) for j in range(patch)) / patch**2
            w = np.exp(-mse / h**2)
            w[w < 0.001] = 0
            num += w * pad[c + dy : c + dy + rows, c + dx : c + dx + cols]
            den += w
    return num / den


def test_non_local_means_grey_matches_the_definition() -> None:
    """Window 13, patch 3 (not the other way round) and the strength as h: within rounding of the definition."""
    rng = np.random.default_rng(1)
    ramp = np.linspace(0, 255, 16)[None, :] + rng.normal(0, 8, (2, 16, 16))
    u8 = np.clip(ramp, 0, 255).astype(np.uint8)
    x = torch.from_numpy(u8[:, None]).float() / 255
    for strength in (10, 30):
        got = baselines.non_local_means(x, 13, 3, strength)
        assert got.shape == x.shape and got.dtype == torch.float32
        for i in range(2):
            want = _nlm_reference(u8[i], strength, 3, 13)
            assert np.abs(got[i, 0].numpy() * 255 - want).max() <= 1.0
        assert (got * 255 - x * 255).abs().mean() > 1.0  # it did denoise


def test_non_local_means_colour_is_lab_with_h_on_lightness_and_colour() -> None:
    """Colour images: OpenCV's colour NLM is NLM on L and on (a, b) of Lab with h = hColor = strength; the squeezer
    passes the RGB channels as Xu et al. do.  Checked against that decomposition built from OpenCV's parts."""
    import cv2

    rng = np.random.default_rng(2)
    u8 = np.clip(rng.normal(128, 30, (2, 3, 16, 16)), 0, 255).astype(np.uint8)
    x = torch.from_numpy(u8).float() / 255
    got = baselines.non_local_means(x, 13, 3, 2)
    for i in range(2):
        lab = cv2.cvtColor(np.ascontiguousarray(u8[i].transpose(1, 2, 0)), cv2.COLOR_LBGR2Lab)
        light = cv2.fastNlMeansDenoising(np.ascontiguousarray(lab[..., 0]), None, 2, 3, 13)
        colour = cv2.fastNlMeansDenoising(np.ascontiguousarray(lab[..., 1:]), None, 2, 3, 13)
        want = cv2.cvtColor(np.dstack([light, colour]), cv2.COLOR_Lab2LBGR)
        assert torch.equal(got[i], torch.from_numpy(want).permute(2, 0, 1).float() / 255)
    flat = torch.full((1, 3, 16, 16), 0.5)  # a flat image stays flat, up to one level of the Lab round trip
    assert (baselines.non_local_means(flat, 13, 3, 2) - flat).abs().max() <= 1 / 255


def test_squeezers_per_dataset() -> None:
    for dataset, n in (("mnist", 2), ("cifar10", 3)):
        assert len(baselines.FeatureSqueezing.for_dataset(torch.nn.Identity(), dataset).squeezers()) == n


def test_threshold_at_5_percent_holds_on_held_out_clean_images() -> None:
    """Fitted on one half of the shipped clean samples, checked on the other: the threshold is the clean
    scores' upper 95 % quantile, and held-out clean images are flagged at about 5 % (binomial, 100 images:
    at most 12 %)."""

    m1, _ = load_pair("cifar10")
    x, _ = samples("cifar10")
    order = np.random.default_rng(0).permutation(len(x))
    fit, held = x[order[:100]], x[order[100:]]
    fs = baselines.FeatureSqueezing.for_dataset(m1, "cifar10").fit(fit)
    clean = np.sort(fs.attack_score(fit))
    # the upper 95 % quantile: position 0.95 * (n - 1) = 94.05 of the sorted scores, rounded up
    assert fs.threshold(0.05) == clean[95]
    assert (clean > fs.threshold(0.05)).sum() == 4  # at most 5 % of the fitted images
    assert fs.predict(held).mean() <= 0.12


def test_feinman_density_is_sklearns_gaussian_kde() -> None:
    """Feinman's KDE feature: the log of sklearn's Gaussian kernel density of the last hidden layer among the
    reference images of the predicted class, up to the kernel's normalising constant."""


    m1, _ = load_pair("mnist")
    x, y = samples("mnist")
    bw = baselines.KDE_BANDWIDTH["mnist"]
    fe = baselines.Feinman(m1, bw, samples=2).fit_reference(x[:150], y[:150])
    got = fe.raw(x[150:])[:, 0]
    h_ref, _ = baselines.hidden(m1, x[:150])
    h_q, pred = baselines.hidden(m1, x[150:])
    dim = h_q.shape[1]
    for i in range(len(got)):
        c = int(pred[i])
        kde = KernelDensity(kernel="gaussian", bandwidth=bw).fit(h_ref[y[:150] == c].double().numpy())
        want = kde.score_samples(h_q[i : i + 1].double().numpy())[0] + dim / 2 * np.log(2 * np.pi * bw**2)
        assert got[i] == pytest.approx(want, abs=1e-6)
