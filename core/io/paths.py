"""Where the engine reads and writes: shipped artifacts, local caches."""
from __future__ import annotations

import os
from pathlib import Path

from core import DATASETS

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def artifacts_dir() -> Path:
    """Committed artifacts (weights, samples, results); ``$ADV_ARTIFACTS`` overrides (tests)."""
    return Path(os.environ.get("ADV_ARTIFACTS", PROJECT_ROOT / "artifacts"))


def cache_dir() -> Path:
    """Local, uncommitted cache (decoded data sets, checkpoints); ``$ADV_CACHE_DIR`` overrides."""
    return Path(os.environ.get("ADV_CACHE_DIR", PROJECT_ROOT / ".cache"))


def check_dataset(dataset: str) -> str:
    """Validate a dataset name with a clear message."""

    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}: choose one of {', '.join(DATASETS)}")
    return dataset


# -- shipped result files: one place per path --------------------------------------------------------------


def results_dir(dataset: str, protocol: str = "paper") -> Path:
    """``artifacts/results/<dataset>``: every result file of one dataset; the held-out protocol's pipeline files
    in its ``heldout/`` folder."""
    root = artifacts_dir() / "results" / check_dataset(dataset)
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
    """One attack's t-SNE/UMAP coordinates, written by the pipeline's stage ``embeddings``."""
    return results_dir(dataset) / "embeddings" / f"{attack}.npz"


def adversarial_path(dataset: str, attack: str) -> Path:
    """One attack's shipped class-balanced adversarial examples, written by the pipeline's stage ``data``."""
    return artifacts_dir() / "adversarial" / check_dataset(dataset) / f"{attack}.npz"


def samples_path(dataset: str) -> Path:
    """The shipped sample test images of ``dataset`` (``core.data.samples``)."""
    return artifacts_dir() / "samples" / f"{dataset}.npz"


def detector_relpath(dataset: str, trained_on: str, variant: str = "paper") -> str:
    """Manifest key stem (without suffix) of a shipped detector."""
    return f"detectors/{dataset}/{trained_on}" + ("" if variant == "paper" else f"-{variant}")


def operating_points_path(dataset: str, variant: str = "paper") -> Path:
    """``operating_points.json`` for the paper's detectors, ``operating_points_<variant>.json`` for a variant."""
    name = "operating_points.json" if variant == "paper" else f"operating_points_{variant}.json"
    return artifacts_dir() / "results" / dataset / name


def security_path(dataset: str, variant: str = "paper") -> Path:
    """``security.json`` for the paper's detector, ``security_<variant>.json`` for a hardened variant."""
    return (
        artifacts_dir() / "results" / dataset / ("security.json" if variant == "paper" else f"security_{variant}.json")
    )


def variant_relpath(dataset: str, variant: str) -> str:
    """``results/<dataset>/variant_<variant>.json`` under ``artifacts/``: a variant's build record."""
    return f"results/{dataset}/variant_{variant}.json"


def paper_path() -> Path:
    """The paper's own numbers (Tables I–IV, Figures 5–6), as shipped."""
    return artifacts_dir() / "paper" / "paper_results.json"


def manifest_path() -> Path:
    """``artifacts/manifest.json``: every shipped file's sha256 and the command that made it."""
    return artifacts_dir() / "manifest.json"


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


def make_command(what: str, dataset: str, **fields: str) -> str:
    """The command that (re)makes ``what`` (a key of ``MAKE_COMMANDS``) for ``dataset`` (and e.g. ``variant``)."""
    return MAKE_COMMANDS[what].format(dataset=dataset, **fields)
