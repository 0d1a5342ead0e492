"""Security evaluation: the detector against attackers who know it (``python -m core security``).

Images: the first ``n`` (seeded order) of the evaluation role of the test split (no classifier, detector or
threshold was fitted on it: ``core.data.test_roles``) that both watched models classify correctly.  Each attack
gets, per image, the smallest L∞ budget on ``grid`` at which model 1 is wrong AND the detector does not flag the
image at ``fpr``:

* ``no_detector``: plain PGD on model 1 (the reference: it stops when model 1 errs, flagged or not);
* the paper's seven attacks on model 1 with their own budget search, blind to the detector; their budget on
  this L∞ axis is the L∞ size of the perturbation they found;
* the adaptive attacks of ``core.attacks.adaptive`` (joint PGD, feature matching, selective and orthogonal
  PGD) and the transfer attack from a surrogate pair.

Also: a convergence check at the headline budget (``long_steps`` steps on ``long_n`` images), the clean
false-positive rate at each operating point on the evaluation role, and detection rate and ROC of the paper's
seven attacks.  Each attack's outcome is cached (resume after a kill); the summary goes to
``artifacts/results/<dataset>/security.json`` through ``core.results.security``, the one module of its schema.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from core import ATTACK_NAMES
from core.attacks import budget_search as paper_search
from core.attacks.adaptive import (
    ADAPTIVE_ATTACKS,
    ADAPTIVE_SPECS,
    CAUGHT,
    EVADED,
    RIGHT,
    Judge,
    budget_search,
    get_adaptive,
    pgd,
)
from core.attacks.adaptive.grids import EXTENDED_GRIDS, GRIDS, HEADLINE_EPS
from core.data import load_split, roles_record, test_roles
from core.detector import check_unseen, fingerprint, load, load_surrogates
from core.detector.judges import BASELINES, judge_for, logit
from core.detector.thresholds import DEFAULT_FPR, FPRS, fpr_key
from core.experiments.baseline_fits import baseline_judge
from core.experiments.executors import Executor
from core.io.files import exclusive_lock, read_json, save_with, write_json
from core.io.labs import PerDataset, is_lab
from core.io.manifest import code_version
from core.io.paths import cache_dir, cache_name, security_path
from core.models import predict_logits
from core.results.metrics import eps50, outcomes_from_linf, roc
from core.results.security import COMMAND, NOTE, read_security_if_any, write_security

DEFAULT_N = PerDataset({"mnist": 500, "cifar10": 200}, lambda lab: 200)
ATTACK_ORDER = ("no_detector",) + ATTACK_NAMES + tuple(a for a in ADAPTIVE_ATTACKS if a != "no_detector")
DEFENCES = ("mismatch",) + BASELINES  # the detector attacked: ours, or a baseline beside it
BLIND = ("no_detector",) + ATTACK_NAMES
# what a baseline run leaves out, and why
NOT_RUN = {("cifar10", "feature_squeezing"): "not run: the non-local-means squeezer is OpenCV (BPDA would need one "
                                              "NLM pass per image and PGD step, hours on 2 CPU cores)",
           ("cifar10", "feinman"): "not run: CPU time (orthogonal PGD and the transfer attack took 20-40 min each "
                                   "against our detector on 2 cores; the three stronger adaptive attacks ran)"}
DEFAULT_ATTACKS = {("cifar10", "feature_squeezing"): BLIND,
                   ("cifar10", "feinman"): BLIND + ("joint_pgd", "feature_matching", "s_pgd")}
# a lab has no surrogate pair of its own (the transfer attacker's), and no train split for the baselines
LAB_NOT_RUN = {"transfer": "not run: a lab has no surrogate pair (the transfer attacker trains its own pair on the "
                           "train split, which a lab does not have)"}


def default_attacks(dataset: str, defence: str = "mismatch") -> tuple[str, ...]:
    """The attacks a security run measures unless told otherwise."""
    if is_lab(dataset):
        if defence != "mismatch":
            raise ValueError(f"{dataset} is a lab: the baselines need the train split, which a lab does not have")
        return tuple(a for a in ATTACK_ORDER if a not in LAB_NOT_RUN)
    return DEFAULT_ATTACKS.get((dataset, defence), ATTACK_ORDER)


@dataclass(frozen=True)
class SecurityConfig:
    """One security run; every random choice derives from ``seed``."""

    dataset: str
    variant: str = "paper"
    n: int | None = None  # images (default: DEFAULT_N)
    seed: int = 0
    fpr: float = DEFAULT_FPR
    steps: int = 100
    long_steps: int = 1000  # convergence check at the headline budget
    long_n: int = 100
    attacks: tuple[str, ...] = ATTACK_ORDER
    data_root: str | None = None
    command: str = ""
    defence: str = "mismatch"  # or "feature_squeezing" / "feinman": the baselines under the same attacks
    device: str = "cpu"  # where the networks run (core.models.device); not part of the cache key: the same draws

    def images(self) -> int:
        return self.n or DEFAULT_N[self.dataset]

    def grid(self) -> tuple[float, ...]:
        return (GRIDS if self.variant == "paper" else EXTENDED_GRIDS)[self.dataset]

    def cache(self) -> Path:
        # the detector's hash: attacks cached against one detector are never read for a refitted one
        name = (f"{self.variant}-seed{self.seed}-n{self.images()}-fpr{self.fpr:g}-steps{self.steps}"
                f"-det{fingerprint(self.dataset, 'all', self.variant)}")
        folder = name if self.defence == "mismatch" else f"{name}-{self.defence}"
        return cache_dir() / "security" / cache_name(self.dataset) / folder

    def attack_path(self, name: str) -> Path:
        """Where attack ``name``'s per-image outcomes are cached."""
        return self.cache() / f"{name}.npz"

    def convergence_path(self, name: str) -> Path | None:
        """Where attack ``name``'s 100 → long-steps check is cached; ``None`` where none runs (the paper's attacks,
        the baselines)."""
        checked = self.defence == "mismatch" and name in ADAPTIVE_ATTACKS
        return self.cache() / "convergence" / f"{name}.json" if checked else None


def pick_images(cfg: SecurityConfig, x: torch.Tensor, y: torch.Tensor, pair) -> np.ndarray:
    """Indices into the test split: evaluation role, seeded order, both models right, the first ``n``."""

    held = test_roles(len(x))["evaluation"]
    order = held[np.random.default_rng([cfg.seed, 53]).permutation(len(held))]
    ok = np.ones(len(order), bool)
    for m in pair:
        ok &= (predict_logits(m, x[order]).argmax(1) == y[order]).numpy()
    return order[ok][: cfg.images()]


def run_attack(
    cfg: SecurityConfig, name: str, judge: Judge, x: torch.Tensor, y: torch.Tensor, pair, surrogate_of
) -> dict:
    """One attack's per-image outcomes on the grid (cached arrays)."""
    grid = np.asarray(cfg.grid())
    seed = cfg.seed * 1_000 + ATTACK_ORDER.index(name)
    torch.manual_seed(seed)
    t0 = time.time()
    if name in ATTACK_NAMES:
        res = paper_search(name, pair[0], x, y, seed=seed)
        fooled = res.fooled.numpy()
        linf = (res.x_adv - x).abs().flatten(1).amax(1).numpy()
        _, flagged = judge.verdict(res.x_adv, y)
        outcome = outcomes_from_linf(linf, fooled, flagged.numpy(), grid)
        budget = np.where(fooled & ~flagged.numpy(), linf, np.inf)
        x_adv, steps = res.x_adv, res.steps.numpy()
    else:
        attack = get_adaptive(name, surrogate_of() if name == "transfer" else None)
        curve = budget_search(attack, judge, x, y, grid, cfg.steps, seed)
        outcome, budget, x_adv, steps = curve.outcome, curve.budget, curve.x_adv, curve.steps
    seconds = time.time() - t0
    wrong, score = judge.scores(x_adv, y)  # fresh pass on the final images: the success the record claims
    flagged = score > judge.threshold
    claimed = np.isfinite(budget) if name != "no_detector" else np.zeros(len(y), bool)
    verified = float((wrong & ~flagged).numpy()[claimed].mean()) if claimed.any() else 1.0
    return {"outcome": outcome, "budget": budget, "steps": steps, "seconds": np.array(seconds),
            "verified": np.array(verified), "score": score.numpy(), "wrong": wrong.numpy()}


def convergence(cfg: SecurityConfig, name: str, judge: Judge, x: torch.Tensor, y: torch.Tensor,
                surrogate_of) -> list[float]:
    """Success of adaptive attack ``name`` at the headline budget after ``steps`` and after ``long_steps`` PGD
    steps, on the first ``long_n`` images (no_detector: model 1 fooled, flagged or not)."""
    eps = HEADLINE_EPS[cfg.dataset]
    xs, ys = x[: cfg.long_n], y[: cfg.long_n]
    attack = get_adaptive(name, surrogate_of() if name == "transfer" else None)
    state = attack.prepare(judge, xs, ys, cfg.seed)
    rates = []
    for steps in (cfg.steps, cfg.long_steps):
        torch.manual_seed(cfg.seed)
        r = pgd(attack, judge, xs, ys, torch.full((len(xs),), eps), steps, state)
        ok = (r.outcome == (CAUGHT if attack.stop_on_fooled else EVADED)) | (r.outcome == EVADED)
        rates.append(float(ok.float().mean()))
    return rates


def prepare_judge(cfg: SecurityConfig, x_all: torch.Tensor) -> tuple[Judge, Any, tuple, Callable[[float], float]]:
    """(judge at ``cfg.fpr``, the calibrated detector, the watched pair, threshold of an fpr in judge units)."""

    det = load(cfg.dataset, "all", variant=cfg.variant)
    check_unseen(det, "test", "evaluation", "evaluate")  # the sweep's images are the evaluation role's
    pair = det.pair(cfg.device)
    if cfg.defence == "mismatch":
        return judge_for(det, cfg.fpr, cfg.device), det, pair, lambda a: logit(det.threshold(a))

    cal = test_roles(len(x_all))["calibration"]
    module, base = baseline_judge(cfg.defence, cfg.dataset, pair, x_all[cal], cfg.data_root, cfg.seed)
    to_judge = (
        (lambda a: base.threshold(a)) if cfg.defence == "feature_squeezing" else (lambda a: logit(base.threshold(a)))
    )
    return Judge(module, to_judge(cfg.fpr), name=cfg.defence), base, pair, to_judge


def summarise(cfg: SecurityConfig, results: dict[str, dict], judge: Judge, clean_scores: np.ndarray,
              threshold_of: Callable[[float], float], base: Any) -> dict[str, Any]:
    """Curves, ε50, per-attack facts, headline and operating points of one defence from its per-attack outcomes."""
    grid = np.asarray(cfg.grid())
    op: dict[str, Any] = {
        "thresholds": {fpr_key(a): float(base.threshold(a)) for a in FPRS},
        "clean_fpr_held_out": {fpr_key(a): float((clean_scores > threshold_of(a)).mean()) for a in FPRS},
        "clean_images": int(len(clean_scores)),
        "detection": {},
        "roc": {},
    }
    for name in (a for a in ATTACK_NAMES if a in results):  # the paper's attacks: the images that fool model 1
        r = results[name]
        s_adv = r["score"][r["wrong"]].astype(np.float64)
        op["detection"][name] = {fpr_key(a): float((s_adv > threshold_of(a)).mean()) if len(s_adv) else None
                                 for a in FPRS}
        op["roc"][name] = roc(clean_scores, s_adv)
    if cfg.defence == "mismatch":  # what the old fixed rule, P(attack) > 0.5 (logit > 0), flagged
        op["clean_flagged_at_p_half"] = float((clean_scores > 0).mean())
    head_j = int(np.argmin(np.abs(grid - HEADLINE_EPS[cfg.dataset])))
    curves, e50, info = {}, {}, {}
    for name, r in results.items():
        o = r["outcome"]
        curves[name] = {"eps": grid.round(6).tolist(), "success": (o == EVADED).mean(1).round(4).tolist(),
                        "detected": (o == CAUGHT).mean(1).round(4).tolist(),
                        "fooled": (o != RIGHT).mean(1).round(4).tolist()}
        e50[name] = eps50(np.where(r["budget"] <= grid[-1] + 1e-9, r["budget"], np.inf))  # on the grid's axis
        spec = ADAPTIVE_SPECS.get(name)
        kind = "paper" if name in ATTACK_NAMES else ("reference" if name == "no_detector" else
                                                     "transfer" if name == "transfer" else "adaptive")
        info[name] = {"kind": kind, "label": spec.label if spec else name,
                      "reference": spec.reference if spec else "the paper's attack, blind to the detector",
                      "objective": spec.objective if spec else "the paper's budget search on model 1",
                      "seconds": round(float(r["seconds"]), 1), "verified": float(r["verified"]),
                      "mean_steps": float(np.mean(r["steps"]))}
    adaptive = [a for a in results if info[a]["kind"] in ("adaptive", "transfer")]
    head = {a: curves[a]["success"][head_j] for a in results}
    best = max(adaptive, key=lambda a: head[a]) if adaptive else None
    return {"threshold": float(base.threshold(cfg.fpr)), "judge_threshold": judge.threshold,
            "curves": curves, "eps50": e50, "attacks": info,
            "headline": {"eps": float(grid[head_j]), "success": head, "best_adaptive": best,
                         "best_success": head.get(best) if best else None, "joint_pgd_success": head.get("joint_pgd")},
            "operating_points": op}


def run(cfg: SecurityConfig, progress: Callable | None = None, write: bool = True, executor: str = "process",
        address: str | None = None) -> dict[str, Any]:
    """The whole evaluation of ``cfg.defence``; attacks already in the cache are not rerun.

    ``write=False`` only fills the cache with ``cfg.attacks`` (and their convergence checks), so that several
    processes can share one evaluation; a last run with every attack assembles and writes the file.
    ``executor="ray"``: each attack missing from the cache is computed by such a ``write=False`` run in a Ray task
    of its own (one thread; on the cluster at ``address``, else a local Ray with this process's torch thread
    count as CPUs), then assembled here as before.
    """

    if cfg.defence not in DEFENCES:
        raise ValueError(f"unknown defence {cfg.defence!r}: choose one of {', '.join(DEFENCES)}")
    x_all, y_all = load_split(cfg.dataset, "test", cfg.data_root)
    judge, base, pair, threshold_of = prepare_judge(cfg, x_all)
    idx = pick_images(cfg, x_all, y_all, pair)
    x, y = x_all[idx], y_all[idx]
    surrogate_of = lambda: load_surrogates(cfg.dataset, cfg.variant, cfg.device)  # noqa: E731
    results: dict[str, dict] = {}
    names = [a for a in ATTACK_ORDER if a in cfg.attacks]
    converged: dict[str, list[float]] = {}
    if executor != "process" or address:  # attacks are independent: each missing one's cache in a task


        def cached(a: str) -> bool:  # what the loop below would otherwise compute
            conv = cfg.convergence_path(a)
            return cfg.attack_path(a).exists() and (conv is None or conv.exists())

        todo = [a for a in names if not cached(a)]
        Executor(executor, torch.get_num_threads(), address).map(
            run, [(replace(cfg, attacks=(a,)), None, False) for a in todo], progress,
            f"security {cfg.dataset} {cfg.defence} ({executor})")
    for name in progress(names, desc=f"security {cfg.dataset} {cfg.defence}", unit="attack") if progress else names:
        path = cfg.attack_path(name)
        if not path.exists():
            r = run_attack(cfg, name, judge, x, y, pair, surrogate_of)
            save_with(path, lambda p, r=r: np.savez(p, **r))
        with np.load(path) as z:
            results[name] = {k: z[k] for k in z.files}
        conv_path = cfg.convergence_path(name)
        if conv_path is not None:
            if not conv_path.exists():
                write_json(conv_path, convergence(cfg, name, judge, x, y, surrogate_of))
            converged[name] = read_json(conv_path)
    if not write:
        return {}
    held = test_roles(len(x_all))["evaluation"]
    clean = judge.scores(x_all[held], y_all[held])[1].numpy().astype(np.float64)  # what each operating point costs
    section = summarise(cfg, results, judge, clean, threshold_of, base)
    path = security_path(cfg.dataset, cfg.variant)
    with exclusive_lock(path.with_suffix(".lock"), wait=True):  # runs of several defences share the file
        old = read_security_if_any(path)
        command = cfg.command or COMMAND.format(dataset=cfg.dataset)
        if cfg.defence != "mismatch":
            if not old:
                raise FileNotFoundError(
                    f"run `{COMMAND.format(dataset=cfg.dataset)}` first: the baselines go beside it"
                )
            section.update({"command": command, "code_version": code_version(), "n": int(len(idx)),
                            "differentiable": type(judge.module).differentiable,
                            "not_run": {a: NOT_RUN[(cfg.dataset, cfg.defence)] for a in ATTACK_ORDER
                                        if a not in cfg.attacks and (cfg.dataset, cfg.defence) in NOT_RUN}})
            doc = {**old, "baselines": {**old.get("baselines", {}), cfg.defence: section}}
        else:
            doc = {"dataset": cfg.dataset, "variant": cfg.variant, "fpr": cfg.fpr, "n": int(len(idx)), "seed": cfg.seed,
                   "steps": cfg.steps, "step_size": "eps/10", "restarts": 1, "command": command,
                   "code_version": code_version(), "config": {**asdict(cfg), "attacks": list(cfg.attacks)},
                   "images": {"split": "test", "role": "evaluation", "indices": idx.tolist()},
                   "roles": roles_record(cfg.dataset), **section,
                   "logit_threshold": judge.threshold,
                   "convergence": {"eps": HEADLINE_EPS[cfg.dataset], "n": int(min(cfg.long_n, len(idx))),
                                   "steps": [cfg.steps, cfg.long_steps], "success": converged,
                                   "note": "no_detector counts model 1 fooled (flagged or not); the others count "
                                           "undetected successes"},
                   "note": NOTE, "baselines": old.get("baselines", {}),
                   **({"not_run": {a: why for a, why in LAB_NOT_RUN.items() if a not in cfg.attacks}}
                      if is_lab(cfg.dataset) else {})}
        write_security(path, doc, command)
        return doc


