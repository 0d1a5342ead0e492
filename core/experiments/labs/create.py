"""``python -m core lab create NAME --model-1 M1 --model-2 M2 --data DIR``: a user's pair and images become a lab.

Everything is checked before anything is written: the image folder (class folders, at least one image), the two
models (each file loads, takes the lab's image size, gives one logit per class, both the same number), the name.
Then the lab's folder is written in one step (a temporary folder renamed into place): ``lab.json``, the models'
files, ``manifest.json`` with every hash, and ``samples.npz`` (up to 20 evaluation images per class, so the app
works on the lab without the image folder).  The held-out images are cut into the roles of the built-in test
splits (``core.data.test_roles``: detector 50 %, calibration 20 %, evaluation 30 %).
"""
from __future__ import annotations

import os
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from core.data import SPLIT_SEED, resolve_root, sample_indices, test_roles, to_float, write_cache
from core.data.datasets import lab_decoded_files
from core.data.folders import class_folders, image_shape, list_images, listing_sha256, read_images
from core.io.files import save_with, sha256_file
from core.io.labs import LAB_FILE, LabSpec, budgets_for, check_name, lab_id, labs_dir, write_lab
from core.io.manifest import register_file
from core.io.roots import PROJECT_ROOT
from core.models import accuracy
from core.models.foreign import ModelSource, read_module, wrap

LAB_SPLIT = "heldout"  # the default folder of images the models never trained on


@dataclass(frozen=True)
class LabConfig:
    """What ``lab create`` is told."""

    name: str
    model_1: str  # ``ARCH=STATE_DICT`` (torchvision), ``FILE.pt2`` (torch.export) or a TorchScript file
    model_2: str
    data: str  # an ImageFolder tree holding ``split``
    split: str = LAB_SPLIT  # the folder of ``data`` whose images the models never trained on
    classes: tuple[str, ...] | None = None  # class folder names in the models' output order (default: sorted)
    exclude: str | None = None  # a text file naming images (``class/file``) of ``split`` the models trained on
    size: tuple[int, int] | None = None  # H, W the models take (default: the first image's)
    channels: int | None = None  # 1 or 3 (default: the first image's)
    mean: tuple[float, ...] | None = None  # normalisation to put in front of the models (default: inside them)
    std: tuple[float, ...] | None = None
    linf_step: int = 1  # pixel levels (of 255) per step of the L∞ grids (core.io.labs.budgets_for)
    data_root: str | None = None
    force: bool = False  # replace a lab of that name
    command: str = ""
    note: dict[str, Any] | None = None  # extra provenance (demos: how the pair was made)


def _check_data(cfg: LabConfig) -> tuple[Path, list[str], list[Path], np.ndarray, frozenset[str]]:
    folder = Path(cfg.data) / cfg.split
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder: --data DIR must hold a '{cfg.split}' folder of images "
                                "the models never trained on (ImageFolder layout: <class>/<image>), or name the "
                                "folder with --split")
    found = class_folders(folder)
    classes = list(cfg.classes) if cfg.classes else found
    missing = [c for c in classes if c not in found]
    if missing:
        raise FileNotFoundError(f"{folder} has no folder for class(es) {', '.join(missing)} (found: "
                                f"{', '.join(found) or 'none'})")
    if len(classes) < 2:
        raise ValueError(f"{folder} holds {len(classes)} class folder(s): a classifier pair needs at least 2")
    exclude = frozenset()
    if cfg.exclude:
        exclude = frozenset(line.strip() for line in Path(cfg.exclude).read_text().splitlines() if line.strip())
    files, labels = list_images(folder, classes, exclude)
    if not len(files):
        raise ValueError(f"{folder} holds no images ({', '.join(f'*{s}' for s in ('.png', '.jpg'))} ... under "
                         "its class folders" + (f", after leaving out the {len(exclude)} of --exclude)" if exclude
                                                  else ")"))
    return folder, classes, files, labels, exclude


def _check_model(which: int, src: ModelSource, classes: list[str], shape: tuple[int, int, int], mean, std):
    net = wrap(read_module(src.kind, src.path, src.arch, len(classes)), mean, std)
    try:
        with torch.no_grad():
            out = net(torch.rand(2, *shape, generator=torch.Generator().manual_seed(0)))
    except Exception as e:  # the user's network refuses the input: say which size it was given
        raise ValueError(f"model {which} ({src.describe()}) refuses {shape[0]}x{shape[1]}x{shape[2]} images: "
                         f"{type(e).__name__}: {str(e).splitlines()[0][:300]}; give the size it takes with --size "
                         "H W (and --channels)") from None
    if not isinstance(out, torch.Tensor) or out.shape != (2, len(classes)):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"model {which} ({src.describe()}) gives {got} for 2 images, not (2, {len(classes)}): "
                         f"the folder has {len(classes)} classes; a lab's models give one logit per class")
    return net


def plan(cfg: LabConfig) -> dict[str, Any]:
    """Every check of ``lab create``, before any work: the image folder, the models, the name.  What it found."""
    check_name(cfg.name)
    target = labs_dir() / cfg.name
    if (target / LAB_FILE).exists() and not cfg.force:
        raise FileExistsError(f"lab {cfg.name!r} exists at {target}; pass --force to replace it")
    if (cfg.mean is None) != (cfg.std is None):
        raise ValueError("give both --mean and --std, or neither (normalisation inside the models)")
    folder, classes, files, labels, exclude = _check_data(cfg)
    c0, h0, w0 = image_shape(files[0])
    shape = (cfg.channels or c0, *(cfg.size or (h0, w0)))
    if shape[0] not in (1, 3):
        raise ValueError(f"--channels must be 1 or 3, got {shape[0]}")
    if cfg.mean is not None and len(cfg.mean) not in (1, shape[0]):
        raise ValueError(f"--mean has {len(cfg.mean)} values for {shape[0]}-channel images")
    sources = [ModelSource.parse(cfg.model_1), ModelSource.parse(cfg.model_2)]
    nets = [_check_model(i + 1, s, classes, shape, cfg.mean, cfg.std) for i, s in enumerate(sources)]
    return {"folder": folder, "classes": classes, "files": files, "labels": labels, "exclude": exclude,
            "shape": shape, "sources": sources, "nets": nets}


def _data_record(cfg: LabConfig, folder: Path, classes: list[str], files: list[Path], exclude) -> dict[str, Any]:
    base = Path(cfg.data).resolve()
    root, _ = resolve_root(cfg.data_root)
    try:
        rel = base.relative_to(root.resolve()).as_posix()
    except ValueError:
        rel = None
    try:  # a folder inside the project (e.g. a demo's, in .cache) is recorded relative to it, so no home path leaks
        where = base.relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        where = str(base)
    return {"dir": where, "data_root_relative": rel, "split": cfg.split, "class_folders": classes,
            "images": len(files), "exclude": sorted(exclude), "listing_sha256": listing_sha256(files, folder)}


def create(cfg: LabConfig, progress: Callable | None = None, log: Callable[[str], None] = print) -> LabSpec:
    """Check, then write the lab (``labs_dir()/NAME``); returns its ``LabSpec``.  Prints each step and its time."""
    t0 = time.time()
    p = plan(cfg)
    log(f"[check] {len(p['files'])} images of {len(p['classes'])} classes in {p['folder']}, "
        f"{'x'.join(map(str, p['shape']))}; both models load and give {len(p['classes'])} logits "
        f"({time.time() - t0:.1f} s)")
    t1 = time.time()
    x = read_images(p["files"], p["shape"]) if progress is None else np.concatenate(
        [read_images(p["files"][i:i + 500], p["shape"]) for i in progress(
            range(0, len(p["files"]), 500), desc=f"lab {cfg.name}: read images", unit="500 images")])
    y = p["labels"]
    log(f"[images] decoded {len(x)} images ({time.time() - t1:.1f} s)")
    roles = test_roles(len(y))
    ev = roles["evaluation"]
    xe, ye = to_float(x[ev]), torch.from_numpy(y[ev])
    acc = {f"model_{i + 1}": round(accuracy(net, xe, ye), 2) if len(ev) else None for i, net in enumerate(p["nets"])}
    log(f"[accuracy] model 1 {acc['model_1']} %, model 2 {acc['model_2']} % on {len(ev)} evaluation images")

    target = labs_dir() / cfg.name
    tmp = labs_dir() / f".{cfg.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "models").mkdir(parents=True)
    models = []
    for i, src in enumerate(p["sources"]):
        rel = f"models/model_{i + 1}{src.path.suffix or '.pt'}"
        shutil.copyfile(src.path, tmp / rel)
        models.append({"kind": src.kind, "arch": src.arch, "source": str(src.path), "file": rel,
                       "sha256": sha256_file(tmp / rel), "describe": src.describe(),
                       "parameters": int(sum(q.numel() for q in p["nets"][i].parameters()))})
    spec = LabSpec(name=cfg.name, shape=tuple(p["shape"]), classes=tuple(p["classes"]), models=tuple(models),
                   data=_data_record(cfg, p["folder"], p["classes"], p["files"], p["exclude"]),
                   budgets=budgets_for(cfg.linf_step), mean=cfg.mean, std=cfg.std, accuracy=acc,
                   created={"command": cfg.command, "torch": torch.__version__, "python": platform.python_version(),
                            "split_seed": SPLIT_SEED, **({"note": cfg.note} if cfg.note else {})})
    write_lab(tmp, spec)
    command = cfg.command or f"python -m core lab create {cfg.name}"
    for m in models:
        register_file(tmp / m["file"], command)
    pick = sample_indices(y, len(p["classes"]))
    save_with(tmp / "samples.npz", lambda q: np.savez_compressed(q, x=x[pick], y=y[pick], index=pick))
    register_file(tmp / "samples.npz", command)
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    write_cache(lab_decoded_files(spec), x, y)  # the pipeline's reads start from the decoded images
    log(f"[lab] {lab_id(cfg.name)} written to {target} in {time.time() - t0:.1f} s; next: "
        f"`python -m core pipeline --lab {cfg.name}`")
    return spec

