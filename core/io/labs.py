"""Labs: a user's own pair of classifiers and image folder, known to the engine as the dataset ``lab:NAME``.

A lab lives in ``labs_dir()/NAME`` (``artifacts/labs`` unless ``$ADV_LABS_DIR`` names another folder) and holds
``lab.json`` (what the lab is: input shape, classes, normalisation, its models and their hashes, where its held-out
images are, its attack budgets), ``manifest.json`` (every file the lab's commands wrote, with its sha256 and the
command that remakes it) and the same result files a built-in dataset has (``core.io.paths``).
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Generic, Iterator, TypeVar

from core import DATASET_LABELS
from core.io.files import read_json, write_json
from core.io.roots import artifacts_dir

LAB_PREFIX = "lab:"
LAB_FILE = "lab.json"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
LAB_SCHEMA = 1


def labs_dir() -> Path:
    """Where labs live: ``$ADV_LABS_DIR``, else ``artifacts/labs`` (``$ADV_ARTIFACTS`` moves that, for tests)."""
    env = os.environ.get("ADV_LABS_DIR")
    return Path(env) if env else artifacts_dir() / "labs"


def is_lab(dataset: object) -> bool:
    """Whether a dataset name names a lab (``lab:NAME``)."""
    return isinstance(dataset, str) and dataset.startswith(LAB_PREFIX)


def check_name(name: str) -> str:
    """A lab's name: lower-case letters, digits, ``-`` and ``_`` (it becomes a folder name)."""
    if not NAME_RE.match(name or ""):
        raise ValueError(f"bad lab name {name!r}: use 1-40 lower-case letters, digits, '-' or '_', starting with a "
                         "letter or digit")
    return name


def lab_id(name: str) -> str:
    """The dataset name of lab ``name``."""
    return LAB_PREFIX + check_name(name)


def lab_name(dataset: str) -> str:
    """``lab:NAME`` → ``NAME``."""
    return check_name(dataset[len(LAB_PREFIX):] if is_lab(dataset) else dataset)


def lab_dir(dataset: str) -> Path:
    """The folder of a lab (by dataset name or bare name)."""
    return labs_dir() / lab_name(dataset)


def lab_names() -> list[str]:
    """The labs found in ``labs_dir()``, sorted."""
    root = labs_dir()
    if not root.is_dir():
        return []
    return sorted(d.name for d in root.iterdir() if (d / LAB_FILE).is_file() and NAME_RE.match(d.name))


def check_lab(dataset: str) -> str:
    """A lab's dataset name, after checking the lab exists (a clear message naming the command that makes one)."""
    path = lab_dir(dataset) / LAB_FILE
    if not path.is_file():
        found = ", ".join(lab_names()) or "none"
        raise ValueError(f"no lab {lab_name(dataset)!r} in {labs_dir()} (labs there: {found}); make one with "
                         f"`python -m core lab create {lab_name(dataset)} --model-1 M1 --model-2 M2 --data DIR`")
    return dataset


def dataset_label(dataset: str) -> str:
    """What the app and reports call a dataset: "MNIST", "CIFAR-10", or "Lab · NAME"."""
    return f"Lab · {lab_name(dataset)}" if is_lab(dataset) else DATASET_LABELS[dataset]


@dataclass(frozen=True)
class LabSpec:
    """What a lab is (``lab.json``): everything the engine needs to treat it as a dataset."""

    name: str
    shape: tuple[int, int, int]  # C, H, W of the models' input
    classes: tuple[str, ...]  # class names in the models' output order
    models: tuple[dict[str, Any], ...]  # model 1, model 2: kind, source, file (in the lab), sha256, parameters
    data: dict[str, Any]  # where the held-out images are: dir, split, images, listing_sha256, data_root_relative
    budgets: dict[str, Any]  # L∞ grids of the detector-aware attacks: unit, grid, extended, headline
    mean: tuple[float, ...] | None = None  # normalisation the lab applies in front of the models (None: inside them)
    std: tuple[float, ...] | None = None
    accuracy: dict[str, float] = field(default_factory=dict)  # clean accuracy (%) of each model on evaluation images
    created: dict[str, Any] = field(default_factory=dict)  # command, versions, seconds
    schema: int = LAB_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["models"] = [dict(m) for m in self.models]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LabSpec":
        if d.get("schema") != LAB_SCHEMA:
            raise ValueError(f"lab {d.get('name')!r} has lab.json schema {d.get('schema')!r}, this engine reads "
                             f"{LAB_SCHEMA}: remake it with `python -m core lab create`")
        return cls(name=d["name"], shape=tuple(d["shape"]), classes=tuple(d["classes"]),
                   models=tuple(d["models"]), data=dict(d["data"]), budgets=dict(d["budgets"]),
                   mean=None if d.get("mean") is None else tuple(d["mean"]),
                   std=None if d.get("std") is None else tuple(d["std"]),
                   accuracy=dict(d.get("accuracy", {})), created=dict(d.get("created", {})), schema=d["schema"])


@lru_cache(maxsize=16)
def _read(path: str, mtime_ns: int) -> LabSpec:
    return LabSpec.from_dict(read_json(path))


def read_lab(dataset: str) -> LabSpec:
    """A lab's ``lab.json`` (re-read when the file changes)."""
    path = lab_dir(check_lab(dataset)) / LAB_FILE
    return _read(str(path), path.stat().st_mtime_ns)


def write_lab(folder: Path, spec: LabSpec) -> Path:
    """Write ``lab.json`` into ``folder`` atomically."""
    path = Path(folder) / LAB_FILE
    write_json(path, spec.to_dict())
    return path


def budgets_for(step_levels: int = 1, value_levels: int = 256) -> dict[str, Any]:
    """The L∞ grids of a lab with ``value_levels`` pixel values (8-bit images: 256): 16 steps of ``step_levels``
    levels (extended: 32), the headline at the 8th.  One level a step is CIFAR-10's grid (1/255 … 16/255); MNIST-like
    images, where attacks need far more, take about 5 (5/255 … 80/255, near MNIST's 0.02 … 0.30)."""
    if step_levels < 1:
        raise ValueError(f"the L∞ step must be at least one pixel level, got {step_levels}")
    step = step_levels / (value_levels - 1)
    return {"unit": f"1/{value_levels - 1}", "step_levels": step_levels, "grid": [k * step for k in range(1, 17)],
            "extended": [k * step for k in range(1, 33)], "headline": 8 * step}


V = TypeVar("V")


class PerDataset(Mapping[str, V], Generic[V]):
    """A per-dataset table: the built-in datasets' values, and for ``lab:NAME`` the value ``of_lab`` reads from the
    lab's ``lab.json``.  Iterating gives the built-in datasets only."""

    def __init__(self, builtin: dict[str, V], of_lab: Callable[[LabSpec], V]):
        self._builtin = dict(builtin)
        self._of_lab = of_lab

    def __getitem__(self, dataset: str) -> V:
        if is_lab(dataset):
            return self._of_lab(read_lab(dataset))
        return self._builtin[dataset]

    def __contains__(self, dataset: object) -> bool:
        return dataset in self._builtin or (is_lab(dataset) and (lab_dir(str(dataset)) / LAB_FILE).is_file())

    def __iter__(self) -> Iterator[str]:
        return iter(self._builtin)

    def __len__(self) -> int:
        return len(self._builtin)

    def __repr__(self) -> str:
        return f"PerDataset({self._builtin!r}, labs: {getattr(self._of_lab, '__name__', 'lab.json')})"
