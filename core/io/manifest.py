"""``artifacts/manifest.json``: every shipped file with its sha256, and every model with its recipe.

Writers register a file after writing it; readers get a path only after its
hash matches (``verified_path``).  Read-modify-write happens under a lock.
A lab keeps a manifest of its own in its folder (``root``); ``register_file``
finds it from the file's path.
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from core.io.files import exclusive_lock, read_json, sha256_file, write_json
from core.io.labs import LAB_FILE
from core.io.paths import PROJECT_ROOT, artifacts_dir, manifest_path


class IntegrityError(RuntimeError):
    """A shipped file does not match the sha256 recorded in the manifest."""


def read_manifest(root: Path | None = None) -> dict[str, Any]:
    """``artifacts/manifest.json``, or the manifest of the lab folder ``root``."""
    path = manifest_path(root)
    return read_json(path) if path.exists() else {"models": {}, "files": {}}


def update_manifest(section: str, key: str, entry: dict[str, Any], replace: bool = False,
                    root: Path | None = None) -> None:
    """Set ``manifest[section][key] = entry`` (merged into what is there, or in its place with ``replace``), under a
    lock, atomically."""
    with exclusive_lock(manifest_path(root).with_name(".manifest.lock"), wait=True):  # short: wait, never fail
        manifest = read_manifest(root)
        if replace:
            manifest.setdefault(section, {})[key] = dict(entry)
        else:
            manifest.setdefault(section, {}).setdefault(key, {}).update(entry)
        manifest[section] = dict(sorted(manifest[section].items()))
        write_json(manifest_path(root), manifest)


def root_of(path: Path) -> Path:
    """The manifest folder a file belongs to: the nearest lab folder above it, else ``artifacts/``."""
    for parent in Path(path).resolve().parents:
        if (parent / LAB_FILE).is_file():
            return parent
    return artifacts_dir()


def register_file(path: Path, command: str) -> str:
    """Record a freshly written artifact's sha256 and the command that regenerates it (in its lab's manifest when
    it lies in a lab)."""
    root = root_of(path)
    rel = Path(path).resolve().relative_to(root.resolve()).as_posix()
    update_manifest("files", rel, {"sha256": sha256_file(path), "command": command}, root=root)
    return rel


def verified_path(relpath: str, root: Path | None = None) -> Path:
    """Path of a shipped file (relative to ``artifacts/`` or the lab folder ``root``) after checking its sha256
    against the manifest."""
    entry = read_manifest(root).get("files", {}).get(relpath)
    path = manifest_path(root).parent / relpath
    if entry is None:
        raise FileNotFoundError(
            f"{relpath} is not listed in {manifest_path(root)}; regenerate it with the command that makes it"
        )
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; regenerate it with `{entry.get('command', '?')}`")
    actual = sha256_file(path)
    if actual != entry["sha256"]:
        raise IntegrityError(
            f"{path} has sha256 {actual[:16]}… but the manifest expects {entry['sha256'][:16]}…: "
            "the file was changed or corrupted; restore it from git or regenerate it"
        )
    return path


def code_version() -> str:
    """The git commit of the code that made a result (``+dirty`` when uncommitted changes exist)."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "core"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5
        )
        return (rev.stdout.strip() or "uncommitted") + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
