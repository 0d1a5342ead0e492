"""Per-attack work (stages ``data`` and ``embeddings``) on an executor: local processes or a Ray cluster.

Each attack is independent and locked on its own, so ``workers`` spawned processes (one torch / OpenMP thread
each) take attacks from a queue, and a 2-core machine runs the MNIST pipeline end to end in about half the
time; with ``executor="ray"`` each attack is a Ray task (``core.experiments.executors``).  Results are the
same as with one process: every draw is seeded per attack and per chunk, never by the order of the work or where it ran.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

from core.experiments.executors import Executor
from core.experiments.pipeline.config import PipelineConfig


def per_attack(cfg: PipelineConfig, job: Callable[[PipelineConfig, str, Callable | None], Any],
               workers: int = 1, progress: Callable | None = None, desc: str | None = None,
               executor: str = "process", address: str | None = None) -> dict[str, Any]:
    """``job(cfg, attack, progress)`` for every attack of ``cfg``, keyed and ordered by ``cfg.attacks``.

    ``executor="process"``: in ``workers`` (≥ 1, checked by ``pipeline.run``) spawned processes when > 1, each
    job's bars on a terminal line of their own (tqdm ``position``).  ``executor="ray"``: one Ray task per attack
    on the cluster at ``address`` (else a local one with ``workers`` CPUs), without the jobs' own bars.
    ``desc``: also show a bar over finished attacks.  ``job`` and ``progress`` are pickled to the workers, so
    they must be module-level functions (or partials of them).
    """
    ex = Executor(executor, workers, address)

    def bar(i: int) -> Callable | None:  # a job's own bars: inline as given, a line each in processes, none on Ray
        if progress is None or ex.kind == "ray":
            return None
        inline = workers == 1 or len(cfg.attacks) == 1
        return progress if inline else functools.partial(progress, position=i + 1)

    args = [(cfg, a, bar(i)) for i, a in enumerate(cfg.attacks)]
    return dict(zip(cfg.attacks, ex.map(job, args, progress, desc)))
