"""Shared fixtures: tiny on-disk data sets in both layouts, and an isolated artifacts/cache dir."""
from __future__ import annotations

import os
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
import torch
from PIL import Image
from streamlit.runtime.pages_manager import PagesManager

from core.io.paper import paper_results
from tests.support import steady_state_init

REPO = Path(__file__).resolve().parent.parent


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write an uncompressed IDX file (the MNIST format) for uint8 images or labels."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def sample_mnist_root(artifacts: Path, tmp_path: Path) -> Path:
    """A data root whose MNIST train and test splits are both the 200 shipped sample images."""
    with np.load(artifacts / "samples" / "mnist.npz") as z:
        x, y = z["x"][:, 0], z["y"]
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix in ("train", "t10k"):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", x)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", y)
    return tmp_path / "data"


@pytest.fixture
def tiny_data_root(tmp_path: Path) -> Path:
    """A data root holding a 100/50-image MNIST (IDX) and a 40/20-image CIFAR-10 (ImageFolder PNG)."""

    rng = np.random.default_rng(0)
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", 100), ("t10k", 50)):
        y = np.arange(n) % 10
        x = rng.integers(0, 40, (n, 28, 28))
        for i, label in enumerate(y):  # a bright bar whose position encodes the label: learnable
            x[i, 2 + 2 * label : 4 + 2 * label, 4:24] = 255
        write_idx(raw / f"{prefix}-images-idx3-ubyte", x)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", y)
    classes = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    for split, per_class in (("train", 4), ("test", 2)):
        for label, name in enumerate(classes):
            folder = tmp_path / "data" / "cifar10" / split / name
            folder.mkdir(parents=True)
            for k in range(per_class):
                img = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
                img[:, :, label % 3] = 25 * label
                Image.fromarray(img).save(folder / f"{k:04d}.png")
    return tmp_path / "data"


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of artifacts/ and an empty cache, so tests never touch the shipped files."""
    art = tmp_path / "artifacts"
    shutil.copytree(REPO / "artifacts", art, ignore=shutil.ignore_patterns("adversarial", "embeddings"))
    monkeypatch.setenv("ADV_ARTIFACTS", str(art))
    monkeypatch.setenv("ADV_CACHE_DIR", str(tmp_path / "cache"))

    paper_results.cache_clear()
    return art


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real data root, for tests marked ``data``."""
    root = os.environ.get("ADV_DATA_ROOT")
    if not root or not Path(root).exists():
        pytest.skip("ADV_DATA_ROOT is not set to the real data")
    return Path(root)


@pytest.fixture(autouse=True)
def streamlit_server_steady_state(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run AppTests as a long-running server runs them: out of Streamlit's v1 ``pages/`` mode.

    AppTest resets ``PagesManager.uses_pages_directory`` before every run, so every run would start in
    v1 mode; a real server does so only on its first run, which ``pages.common.leave_v1_multipage_mode``
    leaves with one rerun (that rerun would drop a clicked button's trigger in a test).  Tests marked
    ``first_run`` keep Streamlit's own behaviour to check that path.
    """
    if not request.module.__name__.startswith("test_app") or "first_run" in request.keywords:
        return
    monkeypatch.setattr(PagesManager, "__init__", steady_state_init(PagesManager.__init__))


@pytest.fixture(autouse=True)
def fresh_streamlit_caches(request: pytest.FixtureRequest):
    """In AppTest modules: empty Streamlit's caches around each test (they persist across AppTests in one
    process), restore torch's thread count (the app sets 1 thread for interactive work) and ``__main__`` (AppTest
    leaves the app script there, and a worker process spawned later would import and run it)."""
    if not request.module.__name__.startswith("test_app"):  # the AppTest modules, as for the fixture above
        yield
        return

    threads, main = torch.get_num_threads(), sys.modules["__main__"]
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()
    torch.set_num_threads(threads)
    sys.modules["__main__"] = main

