"""Feature Squeezing's squeezers as Xu et al.'s code computes them, and the detector's threshold."""
from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from core.pipeline import baselines


def test_median_matches_scipy_reflect() -> None:
    """Xu et al. smooth with ``scipy.ndimage.median_filter(size=2, mode='reflect')`` per channel."""
    x = torch.rand(3, 3, 9, 7, generator=torch.Generator().manual_seed(0))
    ref = ndimage.median_filter(x.numpy(), size=(1, 1, 2, 2), mode="reflect")
    assert np.array_equal(baselines.median_2x2(x).numpy(), ref)


def test_bit_depth_levels() -> None:
    x = torch.linspace(0, 1, 101)
    assert set(baselines.bit_depth(x, 1).tolist()) == {0.0, 1.0}
    assert len(torch.unique(baselines.bit_depth(x, 5))) == 32


def test_non_local_means_is_opencvs_on_the_8_bit_image() -> None:
    import cv2

    rng = np.random.default_rng(1)
    u8 = rng.integers(0, 256, (2, 3, 16, 16), dtype=np.uint8)
    x = torch.from_numpy(u8).float() / 255
    got = baselines.non_local_means(x, 13, 3, 2)
    want = cv2.fastNlMeansDenoisingColored(np.ascontiguousarray(u8[1].transpose(1, 2, 0)), None, 2, 2, 3, 13)
    assert got.shape == x.shape and got.dtype == torch.float32
    assert torch.equal(got[1], torch.from_numpy(want).permute(2, 0, 1).float() / 255)
    # a flat image stays flat (up to one level from OpenCV's round trip through Lab); noise on it is mostly
    # averaged away at a strength that matches the noise
    flat = torch.full((1, 3, 16, 16), 0.5)
    assert (baselines.non_local_means(flat, 13, 3, 2) - flat).abs().max() <= 1 / 255
    noisy = (flat + torch.from_numpy(rng.normal(0, 0.02, flat.shape)).float()).clamp(0, 1)
    assert (baselines.non_local_means(noisy, 13, 3, 10) - 0.5).abs().mean() < 0.5 * (noisy - 0.5).abs().mean()
    grey = baselines.non_local_means(x[:, :1], 13, 3, 2)
    assert grey.shape == (2, 1, 16, 16)


def test_squeezers_per_dataset_and_threshold_at_5_percent() -> None:
    from core.data import samples
    from core.models import load_pair

    for dataset, n in (("mnist", 2), ("cifar10", 3)):
        assert len(baselines.FeatureSqueezing.for_dataset(torch.nn.Identity(), dataset).squeezers()) == n
    m1, _ = load_pair("cifar10")
    x, _ = samples("cifar10")
    fs = baselines.FeatureSqueezing.for_dataset(m1, "cifar10").fit(x)
    flagged = fs.predict(x)
    assert 0.03 <= flagged.mean() <= 0.05 and np.isfinite(fs.threshold(0.05))
