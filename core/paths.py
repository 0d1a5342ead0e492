"""Where the engine reads and writes: shipped artifacts, local caches."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def artifacts_dir() -> Path:
    """Committed artifacts (weights, samples, results); ``$ADV_ARTIFACTS`` overrides (tests)."""
    return Path(os.environ.get("ADV_ARTIFACTS", PROJECT_ROOT / "artifacts"))


def cache_dir() -> Path:
    """Local, uncommitted cache (decoded data sets, checkpoints); ``$ADV_CACHE_DIR`` overrides."""
    return Path(os.environ.get("ADV_CACHE_DIR", PROJECT_ROOT / ".cache"))


def check_dataset(dataset: str) -> str:
    """Validate a dataset name with a clear message."""
    from . import DATASETS

    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}: choose one of {', '.join(DATASETS)}")
    return dataset
