"""The engine's two root folders: committed artifacts and the local cache (``core.io.paths`` builds on them)."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def artifacts_dir() -> Path:
    """Committed artifacts (weights, samples, results); ``$ADV_ARTIFACTS`` overrides (tests)."""
    return Path(os.environ.get("ADV_ARTIFACTS", PROJECT_ROOT / "artifacts"))


def cache_dir() -> Path:
    """Local, uncommitted cache (decoded data sets, checkpoints); ``$ADV_CACHE_DIR`` overrides."""
    return Path(os.environ.get("ADV_CACHE_DIR", PROJECT_ROOT / ".cache"))
