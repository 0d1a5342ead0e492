"""Small file helpers shared by every writer: atomic writes, hashing, JSON."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp" + path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: str | Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text if text.endswith("\n") else text + "\n")


def read_result(path: str | Path, what: str, command: str) -> Any:
    """A result file's JSON; ``FileNotFoundError`` naming ``what`` is missing and the ``command`` that makes it."""
    if not Path(path).exists():
        raise FileNotFoundError(f"no {what} at {path}; make them with `{command}`")
    return read_json(path)


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def save_with(path: str | Path, writer: Callable[[Path], None]) -> None:
    """Atomically write ``path`` with ``writer(tmp_path)`` (e.g. ``torch.save``/``np.savez``)."""
    with atomic_path(path) as tmp:
        writer(tmp)


@contextmanager
def exclusive_lock(path: str | Path, wait: bool = False) -> Iterator[None]:
    """A lock file against two runs writing the same results at once (``wait``: block until it is free)."""

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another run holds {path}; wait for it or remove the lock if it died") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
