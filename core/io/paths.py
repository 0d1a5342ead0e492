"""Where the engine reads and writes: shipped artifacts, local caches."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from core import DATASETS
from core.io.labs import check_lab, is_lab, lab_dir, lab_name, read_lab
from core.io.roots import PROJECT_ROOT, artifacts_dir, cache_dir

__all__ = ["PROJECT_ROOT", "artifacts_dir", "cache_dir"]


def check_dataset(dataset: str) -> str:
    """Validate a dataset name (a built-in one, or ``lab:NAME`` of an existing lab) with a clear message."""
    if is_lab(dataset):
        return check_lab(dataset)
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}: choose one of {', '.join(DATASETS)} or lab:NAME")
    return dataset


def artifact_root(dataset: str) -> Path:
    """The folder whose ``manifest.json`` lists a dataset's files: ``artifacts/``, or a lab's own folder."""
    return lab_dir(check_dataset(dataset)) if is_lab(dataset) else artifacts_dir()


def cache_name(dataset: str) -> str:
    """A dataset's folder name in the cache: a lab's carries a hash of its models, images and normalisation, so a
    lab remade under the same name never reads the old one's cached attacks."""
    if not is_lab(dataset):
        return dataset
    lab = read_lab(check_dataset(dataset))
    what = [[m["sha256"] for m in lab.models], lab.data["listing_sha256"], lab.shape, lab.mean, lab.std]
    return f"lab-{lab.name}-{hashlib.sha256(json.dumps(what).encode()).hexdigest()[:10]}"


def _under(root: str, dataset: str) -> Path:
    """``artifacts/<root>/<dataset>`` for a built-in dataset, ``<lab>/<root>`` for a lab."""
    return artifact_root(dataset) / root / ("" if is_lab(dataset) else dataset)


# -- shipped result files: one place per path --------------------------------------------------------------


def results_dir(dataset: str, protocol: str = "paper") -> Path:
    """``artifacts/results/<dataset>``: every result file of one dataset; the held-out protocol's pipeline files
    in its ``heldout/`` folder."""
    root = _under("results", dataset)
    return root if protocol == "paper" else root / protocol


def result_path(dataset: str, name: str, protocol: str = "paper") -> Path:
    """``artifacts/results/<dataset>/<name>.json`` (table2, table3, transfer, loao, table4, detector_data, ...)."""
    return results_dir(dataset, protocol) / f"{name}.json"


def detector_data_path(dataset: str, attack: str, protocol: str = "paper") -> Path:
    """One attack's detector data set (features, labels, budgets) written by the pipeline's stage ``data``."""
    return results_dir(dataset, protocol) / "detector_data" / f"{attack}.npz"


def heldout_path(dataset: str) -> Path:
    """``heldout.json``: the shipped detectors measured on evaluation images (``python -m core heldout``)."""
    return results_dir(dataset) / "heldout.json"


def embedding_path(dataset: str, attack: str) -> Path:
    """One attack's t-SNE/UMAP coordinates, written by the pipeline's stage ``embeddings`` (a lab's, of its held-out
    protocol's data)."""
    return results_dir(dataset, "heldout" if is_lab(dataset) else "paper") / "embeddings" / f"{attack}.npz"


def adversarial_path(dataset: str, attack: str) -> Path:
    """One attack's shipped class-balanced adversarial examples, written by the pipeline's stage ``data``."""
    return _under("adversarial", dataset) / f"{attack}.npz"


def samples_path(dataset: str) -> Path:
    """The shipped sample test images of ``dataset`` (``core.data.samples``)."""
    return lab_dir(dataset) / "samples.npz" if is_lab(dataset) else artifacts_dir() / "samples" / f"{dataset}.npz"


def detector_relpath(dataset: str, trained_on: str, variant: str = "paper") -> str:
    """Manifest key stem (without suffix) of a shipped detector, relative to ``artifact_root(dataset)``."""
    folder = "detectors" if is_lab(dataset) else f"detectors/{dataset}"
    return f"{folder}/{trained_on}" + ("" if variant == "paper" else f"-{variant}")


def operating_points_path(dataset: str, variant: str = "paper") -> Path:
    """``operating_points.json`` for the paper's detectors, ``operating_points_<variant>.json`` for a variant."""
    name = "operating_points.json" if variant == "paper" else f"operating_points_{variant}.json"
    return results_dir(dataset) / name


def security_path(dataset: str, variant: str = "paper") -> Path:
    """``security.json`` for the paper's detector, ``security_<variant>.json`` for a hardened variant."""
    return results_dir(dataset) / ("security.json" if variant == "paper" else f"security_{variant}.json")


def variant_relpath(dataset: str, variant: str) -> str:
    """``results/<dataset>/variant_<variant>.json`` under ``artifacts/``: a variant's build record."""
    return f"results/{dataset}/variant_{variant}.json"


def paper_path() -> Path:
    """The paper's own numbers (Tables I–IV, Figures 5–6), as shipped."""
    return artifacts_dir() / "paper" / "paper_results.json"


def manifest_path(root: Path | None = None) -> Path:
    """``artifacts/manifest.json`` (or a lab's ``manifest.json``): every shipped file's sha256 and the command that
    made it."""
    return (artifacts_dir() if root is None else Path(root)) / "manifest.json"


# -- the command that makes each artifact: one table -------------------------------------------------------

MAKE_COMMANDS = {
    "table1": "python -m core evaluate-models --dataset {dataset}",
    "table2": "python -m core attack-quality --dataset {dataset}",
    "table3": "python -m core pipeline --dataset {dataset} --stage cv",
    "transfer": "python -m core pipeline --dataset {dataset} --stage transfer",
    "loao": "python -m core pipeline --dataset {dataset} --stage transfer",
    "table4": "python -m core pipeline --dataset {dataset} --stage baselines",
    "embeddings": "python -m core pipeline --dataset {dataset} --stage embeddings",
    "adversarial": "python -m core pipeline --dataset {dataset} --stage data",
    "detector_data": "python -m core pipeline --dataset {dataset} --stage data",
    "detectors": "python -m core pipeline --dataset {dataset} --protocol heldout --stage detectors",
    "heldout_data": "python -m core pipeline --dataset {dataset} --protocol heldout --stage data",
    "heldout": "python -m core heldout --dataset {dataset}",
    "pipeline": "python -m core pipeline --dataset {dataset}",
    "operating_points": "python -m core calibrate --dataset {dataset}",
    "security": "python -m core security --dataset {dataset}",
    "variant": "python -m core harden --dataset {dataset} --variant {variant}",
    "pair": "python -m core compare-pair --dataset {dataset} --role {role}",
    "variants_table": "python -m core compare-variants",
    "bench_detect": "python -m core bench detect --record",
    "bench_device": "python -m core bench device --dataset {dataset} --device cuda --record",
    "bench_executors": "python -m core bench executors --n {n} --record",
}


LAB_COMMANDS = {  # a lab's own commands where they differ from the built-in datasets' (it has only held-out images)
    "pipeline": "python -m core pipeline --lab {lab}",
    "detectors": "python -m core pipeline --lab {lab} --stage detectors",
    "heldout_data": "python -m core pipeline --lab {lab} --stage data",
    "adversarial": "python -m core pipeline --lab {lab} --stage data",
    "lab_report": "python -m core report --lab {lab} --format md",
}


def make_command(what: str, dataset: str, **fields: str) -> str:
    """The command that (re)makes ``what`` (a key of ``MAKE_COMMANDS``) for ``dataset`` (and e.g. ``variant``);
    a lab's commands name it with ``--lab NAME``."""
    if is_lab(dataset):
        name = lab_name(dataset)
        if what in LAB_COMMANDS:
            return LAB_COMMANDS[what].format(lab=name, **fields)
        return MAKE_COMMANDS[what].format(dataset="{dataset}", **fields).replace("--dataset {dataset}", f"--lab {name}")
    return MAKE_COMMANDS[what].format(dataset=dataset, **fields)
