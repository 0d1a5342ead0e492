import numpy as np
import pytest
import torch

from core.data import datasets as data


def test_mnist_idx_fixture(tiny_data_root, isolated):
    x, y = data.load_split("mnist", "train", tiny_data_root)
    assert x.shape == (100, 1, 28, 28) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and y[:10].tolist() == list(range(10))
    assert 0.0 <= x.min() and x.max() == 1.0
    xt, _ = data.load_split("mnist", "test", tiny_data_root, limit=7)
    assert xt.shape == (7, 1, 28, 28)


def test_cifar_imagefolder_fixture(tiny_data_root, isolated):
    x, y = data.load_split("cifar10", "train", tiny_data_root)
    assert x.shape == (40, 3, 32, 32)
    assert np.bincount(y.numpy()).tolist() == [4] * 10
    # class folders sort into CIFAR-10 label order and pixels survive the round trip
    assert torch.allclose(x[y == 9][:, 0], torch.full_like(x[y == 9][:, 0], 225 / 255))


def test_decoded_cache_is_reused(tiny_data_root, isolated, monkeypatch):
    first = data.load_split("cifar10", "test", tiny_data_root)
    cached = list((isolated.parent / "cache" / "decoded").glob("cifar10-test-*"))
    assert len(cached) == 2

    def no_decoding(*args, **kwargs):
        raise AssertionError("second load decoded the images again")

    monkeypatch.setattr(data, "_read_imagefolder", no_decoding)  # the second load may only read the cache
    monkeypatch.setattr(data, "_read_cifar10", no_decoding)
    second = data.load_split("cifar10", "test", tiny_data_root)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_missing_data_says_where_and_how(tmp_path, isolated):
    for dataset in data.SHAPES:
        with pytest.raises(FileNotFoundError) as err:
            data.load_split(dataset, "test", tmp_path / "nowhere")
        assert "nowhere" in str(err.value) and "ADV_DATA_ROOT" in str(err.value)


def test_env_root_is_used(tiny_data_root, isolated, monkeypatch):
    monkeypatch.setenv("ADV_DATA_ROOT", str(tiny_data_root))
    assert data.load_split("mnist", "test")[0].shape[0] == 50


def test_bad_options_are_refused(isolated):
    with pytest.raises(ValueError, match="unknown dataset"):
        data.load_split("imagenet", "test")
    with pytest.raises(ValueError, match="unknown split"):
        data.load_split("mnist", "validation")


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_shipped_samples(dataset):
    x, y = data.samples(dataset)
    assert x.shape == (200, *data.SHAPES[dataset]) and x.dtype == torch.float32
    assert np.bincount(y.numpy(), minlength=10).tolist() == [20] * 10
    assert 0.0 <= x.min() and x.max() <= 1.0


@pytest.mark.data
def test_real_splits_and_second_load_skips_decoding(data_root, monkeypatch):
    for dataset, n_train in (("mnist", 60000), ("cifar10", 50000)):
        x, y = data.load_split(dataset, "train", data_root)
        assert len(x) == n_train and len(torch.unique(y)) == 10
    # the second load must come from the decoded-array cache, never from the 50,000 JPEGs
    def no_decoding(*args, **kwargs):
        raise AssertionError("second load decoded the images again")

    monkeypatch.setattr(data, "_read_imagefolder", no_decoding)
    monkeypatch.setattr(data, "_read_cifar10", no_decoding)
    again, _ = data.load_split("cifar10", "train", data_root)
    assert torch.equal(again, x)


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_shipped_samples_are_class_balanced(dataset: str) -> None:
    """``artifacts/samples``: 200 test images, 20 of each class, labels int64 in 0..9, images in [0, 1]."""
    x, y = data.samples(dataset)
    assert len(x) == len(y) == 200 and y.dtype == torch.long
    assert torch.bincount(y, minlength=10).tolist() == [20] * 10
    assert x.min() >= 0 and x.max() <= 1
