"""Where independent jobs run: inline, in local worker processes, or as tasks on a Ray cluster.

The per-attack work of ``python -m core pipeline`` (stages ``data`` and ``embeddings``) and of ``python -m core
security`` is a list of independent jobs.  Each job writes its own files atomically (``core.io.files.save_with``)
and skips what is already on disk, so a job run a second time (Ray's retry after its worker died) redoes only
what the lost attempt had not finished, and nothing is written twice or half.  Every job runs with one torch /
OpenMP thread and draws its randomness from its own seeds, so its results do not depend on the executor.

Ray is imported only when ``kind == "ray"``.
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from threadpoolctl import threadpool_limits

EXECUTORS = ("process", "ray")
RAY_REQUIREMENT = "ray==2.60.0"
# where jobs read and write: a task sees the driver's values (a Ray worker may have been started before they were set)
ENV_VARS = ("ADV_ARTIFACTS", "ADV_CACHE_DIR", "ADV_DATA_ROOT")


@dataclass(frozen=True)
class Executor:
    """How to run jobs.

    ``process``: ``workers`` spawned processes (``workers == 1``: inline, in this process, as before executors).
    ``ray``: one task per job on the Ray cluster at ``address`` (else a local one with ``workers`` CPUs), each
    task one CPU, retried up to ``max_retries`` times when its worker dies (exceptions raised by a job are not
    retried: they are bugs or bad inputs, and are raised here).
    """

    kind: str = "process"
    workers: int = 1
    address: str | None = None
    max_retries: int = 3

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise ValueError(f"unknown executor {self.kind!r}: choose one of {', '.join(EXECUTORS)}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.address and self.kind != "ray":
            raise ValueError("--address needs --executor ray")

    def map(self, fn: Callable[..., Any], args: Sequence[tuple], progress: Callable | None = None,
            desc: str | None = None) -> list[Any]:
        """``[fn(*a) for a in args]``, in the order of ``args`` whatever order the jobs finish in.

        ``fn`` and ``args`` travel to the workers by pickle: ``fn`` must be a module-level function (or a partial
        of one).  ``progress`` and ``desc``: a tqdm-like bar over finished jobs.
        """
        outer = (lambda it, **kw: progress(it, desc=desc, unit="attack", **kw)) if progress and desc else (
            lambda it, **kw: it)
        if self.kind == "ray":
            return _ray_map(self, fn, args, outer)
        if self.workers == 1 or len(args) == 1:
            return [fn(*a) for a in outer(args)]
        ctx = multiprocessing.get_context("spawn")  # no fork of a process that already runs OpenMP threads
        with ProcessPoolExecutor(min(self.workers, len(args)), mp_context=ctx, initializer=one_thread) as pool:
            futures = {pool.submit(fn, *a): i for i, a in enumerate(args)}
            out = {futures[f]: f.result() for f in outer(as_completed(futures), total=len(futures))}
        return [out[i] for i in range(len(args))]


def one_thread() -> None:
    """One torch / OpenMP / BLAS thread in this worker: the executor's workers, not threads, share the CPUs."""

    torch.set_num_threads(1)
    threadpool_limits(1)  # t-SNE's OpenMP, BLAS


def import_ray() -> Any:
    """The ``ray`` module, or a ``RuntimeError`` saying how to install it."""
    try:
        import ray
    except ImportError as e:
        raise RuntimeError(f"--executor ray needs Ray, which is not installed here: pip install {RAY_REQUIREMENT} "
                           "(requirements.txt pins it)") from e
    return ray


def connect(ex: Executor) -> Any:
    """Ray, initialised once per process: the cluster at ``ex.address`` or a local one with ``ex.workers`` CPUs.

    A process already connected (a test's shared local cluster, a benchmark) keeps its connection.
    """
    ray = import_ray()
    if not ray.is_initialized():
        if ex.address:
            try:
                ray.init(address=ex.address)
            except ConnectionError as e:
                raise RuntimeError(
                    f"no Ray cluster let us in at {ex.address} ({e}): start one with `ray start --head`; with token "
                    "authentication, set RAY_AUTH_MODE=token and the cluster's token here (docs/detection.md)"
                ) from e
        else:
            # "local": a new Ray of our own, not whichever `ray start` cluster this machine runs or $RAY_ADDRESS names
            ray.init(address="local", num_cpus=ex.workers, include_dashboard=False)
    return ray


def in_task(env: dict[str, str | None], fn: Callable[..., Any], args: tuple) -> Any:
    """A Ray task's body: the driver's paths, one thread, then the job."""
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    one_thread()
    return fn(*args)


def _ray_map(ex: Executor, fn: Callable[..., Any], args: Sequence[tuple], outer: Callable) -> list[Any]:
    ray = connect(ex)
    task = ray.remote(num_cpus=1, max_retries=ex.max_retries)(in_task)
    env = {k: os.environ.get(k) for k in ENV_VARS}
    refs = [task.remote(env, fn, tuple(a)) for a in args]
    where = {ref: i for i, ref in enumerate(refs)}
    out: list[Any] = [None] * len(refs)
    pending = list(refs)
    try:
        for _ in outer(range(len(refs)), total=len(refs)):
            (ref,), pending = ray.wait(pending, num_returns=1)
            out[where[ref]] = ray.get(ref)  # a job's exception is raised here (as a subclass of its own type)
    except BaseException:
        for ref in pending:
            ray.cancel(ref)
        raise
    return out

