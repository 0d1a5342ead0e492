"""Detection experiments end to end: ``python -m core pipeline --dataset D [--stage S]``.

Stages, in order (``config.STAGES``):

``data``        detector data set per attack (resumable chunks), shipped adversarial examples, Table II
``cv``          RBF-SVM, (C, gamma) by inner CV, 10-fold CV accuracy / F1 / AUC (Table III)
``transfer``    7x7 train-on-A / test-on-B matrices (Figures 5-6) and leave-one-attack-out
``detectors``   the shipped no-pickle detectors, one per attack plus ``all`` (held-out protocol only)
``baselines``   Feature Squeezing and Feinman et al. on the same examples (Table IV)
``embeddings``  t-SNE / UMAP of pixels and features

``--protocol paper`` (default) runs every stage but ``detectors`` on train-split images: the paper's protocol,
whose tables the report sets beside the paper's.  ``--protocol heldout`` runs ``data`` and ``detectors`` on the
test split's detector role: the detectors the product ships (``core.data.test_roles``, docs/detection.md).

A finished stage leaves a marker under the run's cache folder and is skipped
next time (``force`` reruns it).  Stages ``data`` and ``embeddings`` lock per
attack (so several processes can work on different attacks at once); the
others take the run's lock.
"""
from __future__ import annotations

import hashlib
import importlib
import json
from typing import Any, Callable, Sequence

from core.experiments.executors import Executor, import_ray
from core.experiments.pipeline.config import STAGES, PipelineConfig
from core.io.files import exclusive_lock, read_json, write_json
from core.io.labs import is_lab

__all__ = ["PipelineConfig", "STAGES", "run", "run_stage"]
STAGE_MODULES = {"data": "detector_data"}  # stage → module where the names differ (core.data is the data layer)


def _module(stage: str):
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}: choose one of {', '.join(STAGES)} or all")
    return importlib.import_module(f"core.experiments.pipeline.{STAGE_MODULES.get(stage, stage)}")


def _done_path(cfg: PipelineConfig):
    """Stage markers, keyed by the whole config (less the command line)."""

    d = {k: v for k, v in cfg.to_dict().items() if k != "command"}
    return cfg.cache() / f"done-{hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]}.json"


def done_stages(cfg: PipelineConfig) -> list[str]:
    p = _done_path(cfg)
    return read_json(p)["stages"] if p.exists() else []


def run_stage(cfg: PipelineConfig, stage: str, progress: Callable | None = None, **kw: Any) -> Any:
    """One stage, unlocked (callers hold the lock); records the stage as done."""
    result = _module(stage).run(cfg, progress=progress, **kw)
    done = [s for s in done_stages(cfg) if s != stage] + [stage]
    write_json(_done_path(cfg), {"stages": done})
    return result


def run(cfg: PipelineConfig, stages: Sequence[str] | None = None, force: bool = False,
        progress: Callable | None = None, log: Callable[[str], None] = print, workers: int = 1,
        executor: str = "process", address: str | None = None) -> dict[str, Any]:
    """Run ``stages`` (default: all, skipping finished ones unless ``force``) under the run's lock.

    ``workers``: processes for the per-attack stages (``data``, ``embeddings``); results do not depend on it.
    ``executor="ray"``: those stages' attacks as tasks on the Ray cluster at ``address`` (else a local Ray with
    ``workers`` CPUs; ``core.experiments.executors``), with the same results.
    """

    Executor(executor, workers, address)  # bad values, or Ray missing, fail here before any stage runs
    if executor == "ray":
        import_ray()
    explicit = stages is not None
    stages = list(stages or cfg.stages())
    for s in stages:
        _module(s)
        if s not in cfg.stages():
            raise ValueError(f"stage {s!r} is not part of the {cfg.protocol} protocol"
                             + (" of a lab" if is_lab(cfg.dataset) else "") + f": its stages are "
                             f"{', '.join(cfg.stages())}")
    out: dict[str, Any] = {}
    for s in stages:
        if not force and not explicit and s in done_stages(cfg):
            log(f"[{s}] already done for {cfg.key()}; skipping (use --force to redo)")
            continue
        log(f"[{s}] running ({cfg.dataset}, {cfg.key()})")
        if s in ("data", "embeddings"):  # lock each attack: these may run in parallel processes
            out[s] = run_stage(cfg, s, progress, workers=workers, executor=executor, address=address)
        else:
            with exclusive_lock(cfg.lock()):
                out[s] = run_stage(cfg, s, progress)
    return out
