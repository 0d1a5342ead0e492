"""Data sets as ``[0,1]`` float tensors: MNIST and CIFAR-10 from a root, plus shipped samples.

``load_split`` reads MNIST through torchvision's ``MNIST`` class and CIFAR-10
either from torchvision's ``CIFAR10`` layout (``cifar-10-batches-py``) or from
an ImageFolder layout (``cifar10/{train,test}/<class>/*.jpg``).  Decoded
arrays are cached as ``.npy`` under the cache dir so a second load is fast.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from core.data.folders import list_images, listing_sha256, read_images
from core.io.files import save_with, sha256_file
from core.io.labs import LabSpec, PerDataset, is_lab, lab_name, read_lab
from core.io.paths import PROJECT_ROOT, cache_dir, check_dataset, samples_path

# per dataset; a lab's from its lab.json (core.io.labs)
SHAPES = PerDataset({"mnist": (1, 28, 28), "cifar10": (3, 32, 32)}, lambda lab: lab.shape)
CLASSES = PerDataset({
    "mnist": tuple(str(i) for i in range(10)),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
}, lambda lab: lab.classes)
DEFAULT_DOWNLOAD_ROOT = Path.home() / ".cache" / "mismatch-lab" / "data"
SAMPLES_PER_CLASS = 20
SAMPLES_SEED = 0
# images in each test split (torchvision's); a lab's "test" split is its held-out images
TEST_SIZES = PerDataset({"mnist": 10_000, "cifar10": 10_000}, lambda lab: int(lab.data["images"]))
SPLIT_SEED = 0  # the seed that cuts the test split into its roles
# the test split's roles (the train split has one: the classifiers'); every test image has exactly one
TEST_ROLES = ("detector", "calibration", "evaluation")
ROLE_FRACTIONS = {"detector": 0.5, "calibration": 0.2, "evaluation": 0.3}
HOW_TO = (
    "Provide the data with --data-root R or ADV_DATA_ROOT=R, where R holds MNIST/raw/*-ubyte "
    "(torchvision MNIST layout) and cifar10/{train,test}/<class>/*.jpg (ImageFolder) or "
    "cifar-10-batches-py/ (torchvision CIFAR10 layout); with internet access, leave both unset "
    f"to download with torchvision into {DEFAULT_DOWNLOAD_ROOT}."
)


DATA_ROOT_HELP = "data root (default: $ADV_DATA_ROOT, else torchvision download)"  # --data-root: resolve_root


def resolve_root(root: str | os.PathLike | None) -> tuple[Path, bool]:
    """The data root and whether a torchvision download may be attempted there."""
    if root is not None:
        return Path(root), False
    env = os.environ.get("ADV_DATA_ROOT")
    if env:
        return Path(env), False
    return DEFAULT_DOWNLOAD_ROOT, True


def _read_mnist(root: Path, train: bool, download: bool) -> tuple[np.ndarray, np.ndarray]:
    from torchvision.datasets import MNIST  # heavy (torchvision pulls torch._dynamo); only raw splits need it

    try:
        ds = MNIST(str(root), train=train, download=download)
    except RuntimeError as e:  # torchvision: "Dataset not found." / download failure
        raise FileNotFoundError(
            f"MNIST not found under {root / 'MNIST' / 'raw'} ({e}). {HOW_TO}"
        ) from None
    except Exception as e:  # network errors when downloading offline
        raise FileNotFoundError(f"MNIST not found under {root} and the download failed ({e}). {HOW_TO}") from None
    return ds.data.numpy()[:, None], ds.targets.numpy().astype(np.int64)


def _read_imagefolder(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    files, labels = list_images(folder, CLASSES["cifar10"])
    return read_images(files, SHAPES["cifar10"]), labels


def lab_folder(lab: LabSpec, root: str | os.PathLike | None = None) -> Path:
    """Where a lab's held-out images are: under the data root when the lab was made from a folder there (so a lab
    travels with the repository), else the folder it was made from."""
    rel = lab.data.get("data_root_relative")
    if rel is not None:
        base, _ = resolve_root(root)
        if (base / rel).is_dir():
            return base / rel
    return PROJECT_ROOT / lab.data["dir"]  # an absolute path stays as it is


def lab_images(lab: LabSpec, root: str | os.PathLike | None = None) -> tuple[list[Path], np.ndarray, Path]:
    """A lab's held-out image files and labels (checked against the listing it was made from) and their folder."""
    folder = lab_folder(lab, root)
    split = folder / lab.data["split"]
    if not split.is_dir():
        raise FileNotFoundError(f"lab {lab.name!r}: its held-out images were in {split}, which is not there now; "
                                f"pass --data-root R (or ADV_DATA_ROOT=R) with {lab.data.get('data_root_relative')} "
                                "under R, or remake the lab with `python -m core lab create`")
    files, labels = list_images(split, lab.data["class_folders"], frozenset(lab.data["exclude"]))
    if listing_sha256(files, split) != lab.data["listing_sha256"]:
        raise ValueError(f"lab {lab.name!r}: the images in {split} changed since the lab was made (listing hash "
                         "differs); remake the lab with `python -m core lab create` so no result mixes two image sets")
    return files, labels, split


def _read_cifar10(root: Path, train: bool, download: bool) -> tuple[np.ndarray, np.ndarray]:
    split = "train" if train else "test"
    if (root / "cifar10" / split).is_dir():
        return _read_imagefolder(root / "cifar10" / split)
    from torchvision.datasets import CIFAR10  # heavy (torchvision pulls torch._dynamo); only raw splits need it

    try:
        ds = CIFAR10(str(root), train=train, download=download)
    except RuntimeError as e:
        raise FileNotFoundError(
            f"CIFAR-10 not found: looked for {root / 'cifar10' / split} (ImageFolder) and "
            f"{root / 'cifar-10-batches-py'} (torchvision) ({e}). {HOW_TO}"
        ) from None
    except Exception as e:
        raise FileNotFoundError(f"CIFAR-10 not found under {root} and the download failed ({e}). {HOW_TO}") from None
    return np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)), np.asarray(ds.targets, dtype=np.int64)


def _cache_files(dataset: str, split: str, root: Path) -> tuple[Path, Path]:
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]
    key = f"{dataset}-{split}-{digest}"
    base = cache_dir() / "decoded"
    return base / f"{key}-x.npy", base / f"{key}-y.npy"


def load_split_uint8(dataset: str, split: str, root: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Whole split as uint8 ``[N,C,H,W]`` and int64 labels, through the decoded-array cache."""
    check_dataset(dataset)
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}: choose 'train' or 'test'")
    if is_lab(dataset):
        return _lab_split(dataset, split, root)
    path, download = resolve_root(root)
    reader = _read_mnist if dataset == "mnist" else _read_cifar10
    return through_cache(_cache_files(dataset, split, path), lambda: reader(path, split == "train", download))


def through_cache(files: tuple[Path, Path], read: Callable[[], tuple[np.ndarray, np.ndarray]]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Decoded images and labels from their two cache ``files``; on a miss, ``read()`` them and write the files."""
    fx, fy = files
    if fx.exists() and fy.exists():
        return np.load(fx, mmap_mode="r"), np.load(fy)
    return write_cache(files, *read())


def write_cache(files: tuple[Path, Path], x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Write decoded images and labels to their two cache ``files`` (atomically); returns them."""
    save_with(files[0], lambda p: np.save(p, x))
    save_with(files[1], lambda p: np.save(p, y))
    return x, y


def lab_decoded_files(lab: LabSpec) -> tuple[Path, Path]:
    """The cache files of a lab's decoded held-out images and labels (keyed by its image listing and size)."""
    key = f"lab-{lab.name}-{lab.data['listing_sha256'][:12]}-{'x'.join(map(str, lab.shape))}"
    return cache_dir() / "decoded" / f"{key}-x.npy", cache_dir() / "decoded" / f"{key}-y.npy"


def _lab_split(dataset: str, split: str, root: str | os.PathLike | None) -> tuple[np.ndarray, np.ndarray]:
    """A lab's ``test`` split: its held-out images, decoded once into the cache."""
    if split == "train":
        raise ValueError(f"lab {lab_name(dataset)!r} has no train split here: its models were trained elsewhere, and "
                         "the lab works on its held-out images only (the held-out protocol, docs/labs.md)")
    lab = read_lab(dataset)

    def read() -> tuple[np.ndarray, np.ndarray]:
        files, y, _ = lab_images(lab, root)
        return read_images(files, lab.shape), y

    return through_cache(lab_decoded_files(lab), read)


def to_float(x: np.ndarray) -> torch.Tensor:
    """uint8 ``[N,C,H,W]`` → float32 in ``[0,1]``."""
    return torch.from_numpy(np.asarray(x, dtype=np.float32) / 255.0)


def load_split(
    dataset: str, split: str, root: str | os.PathLike | None = None, limit: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A split as float32 ``[N,C,H,W]`` in ``[0,1]`` and int64 labels (first ``limit`` images)."""
    x, y = load_split_uint8(dataset, split, root)
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return to_float(x), torch.from_numpy(np.array(y, dtype=np.int64))


def test_roles(n_test: int, seed: int = SPLIT_SEED) -> dict[str, np.ndarray]:
    """Sorted test indices of each role of ``TEST_ROLES`` (seeded, disjoint, covering the split).

    ``detector``: the held-out protocol's detector data; ``calibration``: its thresholds; ``evaluation``: every
    figure a user meets.  None of them was seen by the classifiers (trained on the train split).
    """
    perm = np.random.default_rng([seed, 41]).permutation(n_test)
    cut1 = int(round(n_test * ROLE_FRACTIONS["detector"]))
    cut2 = cut1 + int(round(n_test * ROLE_FRACTIONS["calibration"]))
    return {"detector": np.sort(perm[:cut1]), "calibration": np.sort(perm[cut1:cut2]),
            "evaluation": np.sort(perm[cut2:])}


def roles_record(dataset: str, seed: int = SPLIT_SEED) -> dict[str, Any]:
    """What a result file records of the roles: the split seed and each role's size (indices follow from them)."""
    r = test_roles(TEST_SIZES[dataset], seed)
    return {"classifiers": "elsewhere (a lab's own models)" if is_lab(dataset) else "train", "split": "test",
            "seed": seed, **{k: int(len(v)) for k, v in r.items()}}


def samples(dataset: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The shipped class-balanced test images (200 per dataset); needs no data root."""
    check_dataset(dataset)
    path = samples_path(dataset)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; make it with `python -m core make-samples --dataset {dataset}`")
    with np.load(path, allow_pickle=False) as z:
        return to_float(z["x"]), torch.from_numpy(z["y"].astype(np.int64))


def sample_indices(y: np.ndarray, n_classes: int, per_class: int = SAMPLES_PER_CLASS,
                   seed: int = SAMPLES_SEED) -> np.ndarray:
    """Sorted indices of up to ``per_class`` images per class, drawn with ``seed`` from the evaluation role of a test
    split with labels ``y`` (the shipped samples of a dataset or a lab)."""
    rng = np.random.default_rng(seed)
    pool = test_roles(len(y))["evaluation"]
    return np.sort(np.concatenate([rng.choice(pool[y[pool] == c], min(per_class, int((y[pool] == c).sum())),
                                              replace=False) for c in range(n_classes)]))


def make_samples(dataset: str, root: str | os.PathLike | None = None, per_class: int = SAMPLES_PER_CLASS,
                 seed: int = SAMPLES_SEED) -> Path:
    """Draw ``per_class`` images per class of the test split's evaluation role (images nothing was fitted on, so
    every verdict the app gives on them is an honest one) with a fixed seed; write them as uint8 ``.npz``."""
    x, y = load_split_uint8(dataset, "test", root)
    idx = sample_indices(y, len(CLASSES[dataset]), per_class, seed)
    path = samples_path(dataset)
    save_with(path, lambda p: np.savez_compressed(p, x=np.asarray(x[idx]), y=np.asarray(y[idx]), index=idx))
    return path


def data_fingerprint(dataset: str, root: str | os.PathLike | None = None) -> str:
    """A short description of where the data came from, for the manifest."""
    if is_lab(dataset):
        lab = read_lab(dataset)
        return f"ImageFolder at {lab.data.get('data_root_relative') or lab.data['dir']}/{lab.data['split']}"
    path, _ = resolve_root(root)
    if dataset == "cifar10" and (path / "cifar10" / "test").is_dir():
        return f"ImageFolder JPEG at {path.name}/cifar10 (re-encoded CIFAR-10)"
    if dataset == "mnist":
        sums = path / "MNIST" / "SHA256SUMS"
        checksum = f" (SHA256SUMS {sha256_file(sums)[:12]})" if sums.exists() else ""
        return f"torchvision MNIST IDX at {path.name}/MNIST{checksum}"
    return f"torchvision CIFAR10 at {path.name}"
