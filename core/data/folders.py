"""Image folders (ImageFolder layout: ``<folder>/<class>/<image>``) read into uint8 ``[N,C,H,W]`` arrays.

CIFAR-10's JPEG copy and every lab's held-out images are read here.  A file that is not an image is a clear
error naming it; images of another size are resized (bilinear) to the size asked for.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def class_folders(folder: Path) -> list[str]:
    """The class folder names of an ImageFolder tree, sorted (torchvision's order)."""
    if not Path(folder).is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    return sorted(d.name for d in Path(folder).iterdir() if d.is_dir() and not d.name.startswith("."))


def list_images(folder: Path, classes: list[str] | tuple[str, ...] | None = None,
                exclude: set[str] | frozenset[str] = frozenset()) -> tuple[list[Path], np.ndarray]:
    """Every image file under ``folder/<class>/`` (sorted per class) and its label: the index of its class in
    ``classes`` (default: the class folders, sorted).  ``exclude``: paths relative to ``folder`` to leave out."""
    folder = Path(folder)
    classes = list(classes) if classes is not None else class_folders(folder)
    files, labels = [], []
    for label, name in enumerate(classes):
        d = folder / name
        if not d.is_dir():
            raise FileNotFoundError(f"{folder} has no folder for class {name!r}")
        for f in sorted(d.iterdir()):
            if f.suffix.lower() in IMAGE_SUFFIXES and f"{name}/{f.name}" not in exclude:
                files.append(f)
                labels.append(label)
    return files, np.asarray(labels, dtype=np.int64)


def listing_sha256(files: list[Path], folder: Path) -> str:
    """A hash of the file list (names relative to ``folder``, with their sizes): changes when an image is added,
    removed or replaced."""
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.relative_to(folder).as_posix()}\t{f.stat().st_size}\n".encode())
    return h.hexdigest()


def read_image(path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    """One image file as uint8 ``[C,H,W]`` of ``shape`` (C 1: grey, 3: RGB)."""
    c, h, w = shape
    try:
        with Image.open(path) as im:
            im = im.convert("L" if c == 1 else "RGB")
            if im.size != (w, h):
                im = im.resize((w, h), Image.BILINEAR)
            a = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"{path} is not a readable image ({e})") from None
    return a[None] if c == 1 else a.transpose(2, 0, 1)


def read_images(files: list[Path], shape: tuple[int, int, int]) -> np.ndarray:
    """Image files as one uint8 ``[N,C,H,W]`` array of ``shape`` each."""
    out = np.empty((len(files), *shape), dtype=np.uint8)
    for i, f in enumerate(files):
        out[i] = read_image(f, shape)
    return out


def image_shape(path: Path) -> tuple[int, int, int]:
    """``(C, H, W)`` of an image file as the engine reads it: 1 channel for grey images, else 3."""
    with Image.open(path) as im:
        return (1 if im.mode in ("1", "L", "I", "I;16", "F") else 3, im.size[1], im.size[0])
