"""What a pipeline run is (``PipelineConfig``) and where each stage reads and writes."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core import ATTACK_NAMES
from core.data import SPLIT_SEED, roles_record, test_roles
from core.io.files import write_json
from core.io.labs import is_lab
from core.io.manifest import code_version, register_file
from core.io.paths import (
    adversarial_path,
    cache_dir,
    cache_name,
    detector_data_path,
    make_command,
    result_path,
    results_dir,
)

STAGES = ("data", "cv", "transfer", "detectors", "baselines", "embeddings")
PROTOCOLS = ("paper", "heldout")
# the stages each protocol runs: the paper's reproduces Tables II-IV and Figures 5-6 on train-split images; the
# held-out protocol builds the shipped detectors from test images of the ``detector`` role
PROTOCOL_STAGES = {"paper": ("data", "cv", "transfer", "baselines", "embeddings"), "heldout": ("data", "detectors")}
LAB_STAGES = ("data", "detectors", "embeddings")  # a lab: the held-out protocol, and the app's embeddings of it
LAB_SHIPPED = 200  # adversarial examples a lab ships per attack (its folder travels with it)


@dataclass(frozen=True)
class PipelineConfig:
    """One detection-experiment run; every random choice derives from ``seed``."""

    dataset: str
    n: int = 10_000  # images drawn from the source split per attack (paper: 10,000 train images)
    n_per_attack: tuple[tuple[str, int], ...] = ()  # overrides of ``n`` for single attacks, e.g. (("jsma", 2000),)
    seed: int = 0
    chunk: int = 500  # images per resumable chunk of stage ``data``
    attacks: tuple[str, ...] = ATTACK_NAMES
    data_root: str | None = None
    # SVM: (C, gamma) by inner CV on a subsample, then outer k-fold CV
    cv_folds: int = 10
    inner_folds: int = 3
    inner_subsample: int = 2_000
    grid_c: tuple[float, ...] = (1.0, 10.0, 100.0)
    grid_gamma: tuple[Any, ...] = ("scale", 1.0, 10.0)
    # the shipped (held-out) detectors: their feature map (core.detector.feature_map) and gamma grid on it
    feature_map: str = "margins"
    detector_grid_gamma: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1)
    pooled_per_attack: int = 2_000  # rows per attack in pooled training sets (LOAO, "all")
    # shipped artefacts
    shipped_per_attack: int = 1_000  # class-balanced adversarial examples per attack
    # baselines
    baseline_eval: int = 2_000  # at most this many held-out rows per attack scored by FS / Feinman
    kde_reference: int = 5_000  # clean train images for Feinman's KDE
    mc_samples: int = 50  # Feinman's MC-dropout passes
    # embeddings
    embed_points: int = 2_000
    embed_methods: tuple[str, ...] = ("tsne", "umap")
    command: str = ""
    split_seed: int = SPLIT_SEED  # the test split's roles (core.data.test_roles)
    device: str = "cpu"  # where the networks run (core.models.device); not in ``key()``: the draws are the same
    protocol: str = "paper"  # "paper": images from the train split; "heldout": the test split's detector role

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}: choose one of {', '.join(PROTOCOLS)}")
        if is_lab(self.dataset) and self.protocol != "heldout":
            raise ValueError(f"{self.dataset} is a lab: it has held-out images only, so its pipeline is the held-out "
                             "protocol (--protocol heldout, the default for --lab)")
        unknown = [a for a in (*self.attacks, *dict(self.n_per_attack)) if a not in ATTACK_NAMES]
        if unknown:
            raise ValueError(f"unknown attack(s) {', '.join(unknown)}: choose from {', '.join(ATTACK_NAMES)}")

    def stages(self) -> tuple[str, ...]:
        """The stages this run is made of."""
        return LAB_STAGES if is_lab(self.dataset) else PROTOCOL_STAGES[self.protocol]

    def shipped(self) -> int:
        """Class-balanced adversarial examples shipped per attack."""
        return min(self.shipped_per_attack, LAB_SHIPPED) if is_lab(self.dataset) else self.shipped_per_attack

    def n_for(self, attack: str) -> int:
        return dict(self.n_per_attack).get(attack, self.n)

    def key(self) -> str:
        """Cache folder name: everything that changes the per-image draws.

        ``n`` is not part of it: draws are prefix-stable (the first ``n`` of a
        seeded permutation, chunk seeds by chunk number), so a larger ``n``
        reuses and extends the chunks of a smaller one.
        """
        return ("" if self.protocol == "paper" else f"{self.protocol}-") + f"seed{self.seed}-chunk{self.chunk}"

    def protocol_flag(self) -> str:
        """What a command line adds for this protocol."""
        return "" if self.protocol == "paper" else f" --protocol {self.protocol}"

    def source_split(self) -> str:
        """The split the detector data's images come from."""
        return "train" if self.protocol == "paper" else "test"

    def pool(self, n_split: int) -> np.ndarray:
        """The indices of the source split the draws may take (the whole train split, or the detector role)."""
        return np.arange(n_split) if self.protocol == "paper" else test_roles(n_split, self.split_seed)["detector"]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["attacks"] = list(self.attacks)
        d["n_per_attack"] = dict(self.n_per_attack)
        return d

    # -- locations --------------------------------------------------------------------------
    def cache(self) -> Path:
        return cache_dir() / "pipeline" / cache_name(self.dataset) / self.key()

    def chunk_path(self, attack: str, k: int) -> Path:
        return self.cache() / attack / f"chunk_{k:04d}.npz"

    def results(self) -> Path:
        return results_dir(self.dataset, self.protocol)

    def detector_data(self, attack: str) -> Path:
        return detector_data_path(self.dataset, attack, self.protocol)

    def adversarial(self, attack: str) -> Path:
        return adversarial_path(self.dataset, attack)

    def lock(self, attack: str | None = None) -> Path:
        """The run's lock (stages after ``data``) or one attack's lock (stage ``data``)."""
        name = cache_name(self.dataset) + ("" if self.protocol == "paper" else f"-{self.protocol}")
        return cache_dir() / "pipeline" / (f"{name}.lock" if attack is None else f"{name}-{attack}.lock")


def stamp(cfg: PipelineConfig, **extra: Any) -> dict[str, Any]:
    """Provenance recorded in every results file."""

    return {
        "command": cfg.command or f"{make_command('pipeline', cfg.dataset)} --n {cfg.n}" + cfg.protocol_flag(),
        "seed": cfg.seed,
        "n": cfg.n,
        "n_per_attack": {a: cfg.n_for(a) for a in cfg.attacks},
        "code_version": code_version(),
        "config": cfg.to_dict(),
        "protocol": cfg.protocol,
        "roles": {"images": f"{cfg.source_split()} split" + ("" if cfg.protocol == "paper" else ", detector role"),
                  **(roles_record(cfg.dataset, cfg.split_seed) if cfg.protocol == "heldout" else
                     {"classifiers": "train"})},
        **extra,
    }


def write_result(cfg: PipelineConfig, name: str, doc: dict[str, Any]) -> Path:
    """Write ``artifacts/results/<dataset>/<name>.json`` and register it in the manifest under its command."""

    path = result_path(cfg.dataset, name, cfg.protocol)
    write_json(path, doc)
    register_file(path, doc["command"])
    return path
