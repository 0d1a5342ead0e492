"""Table II: attack quality (MSE and success rate) on n random test images.

Protocol (paper Sec. IV-A): n test images drawn with a seeded permutation; each is attacked
on model 1 or model 2 by a seeded coin; every attack runs its budget search.
* success rate = fooled / images the attacked model classifies correctly when clean (the
  paper's "fraction of the 500 images that yielded a prediction mistake"; images already
  wrong are not attacks); the rate over all n is stored too.
* MSE = mean over successful attacks of the per-image mean of (x_adv − x)² in [0,1] pixel
  units (failures contribute their clean image, MSE 0, so they are left out).
Per-attack results are cached so a killed run resumes at the next attack.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from core.attacks import ATTACK_SPECS, ATTACKS, budget_search, get_attack
from core.data import load_split
from core.io.files import exclusive_lock, read_json, write_json
from core.io.manifest import code_version, register_file
from core.io.paper import paper_results
from core.io.paths import cache_dir, make_command, result_path
from core.models import load_pair

CHUNK = 50  # images per budget_search call (progress granularity)


@dataclass(frozen=True)
class QualityConfig:
    dataset: str
    n: int = 500
    seed: int = 0
    data_root: str | None = None
    device: str = "cpu"  # where the networks run (core.models.device)


def pick(cfg: QualityConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The n seeded test images, their labels, and which model (1 or 2) attacks each."""

    x, y = load_split(cfg.dataset, "test", root=cfg.data_root)
    g = torch.Generator().manual_seed(cfg.seed)
    idx = torch.randperm(len(x), generator=g)[: cfg.n]
    which = torch.randint(1, 3, (len(idx),), generator=g)
    return x[idx], y[idx], which


def attack_quality(name: str, models: dict[int, torch.nn.Module], x: torch.Tensor, y: torch.Tensor,
                   which: torch.Tensor, seed: int, tick: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """Success rate and MSE of one attack under the Table II protocol."""
    succ, mis, mse, budget = (torch.zeros(len(x), dtype=torch.bool), torch.zeros(len(x), dtype=torch.bool),
                              torch.zeros(len(x)), torch.zeros(len(x)))
    for m in (1, 2):
        rows = (which == m).nonzero().squeeze(1)
        for c, i in enumerate(range(0, len(rows), CHUNK)):
            r = rows[i : i + CHUNK]
            res = budget_search(name, models[m], x[r], y[r], seed=seed * 1000 + 100 * m + c)
            succ[r], mis[r], budget[r] = res.fooled, res.misclassified, res.budget
            mse[r] = ((res.x_adv - x[r]) ** 2).flatten(1).mean(1)
            tick()
    attackable = int((~mis).sum())
    n_succ = int(succ.sum())
    return {
        "success_rate_percent": 100.0 * n_succ / max(attackable, 1),
        "success_rate_all_percent": 100.0 * n_succ / len(x),
        "mse": float(mse[succ].mean()) if n_succ else None,
        "mse_median": float(mse[succ].median()) if n_succ else None,
        "mean_budget": float(budget[succ].mean()) if n_succ else None,
        "budget_name": ATTACK_SPECS[name].budget_name,
        "n_success": n_succ, "n_attackable": attackable, "n": len(x),
    }


def _attack_key(name: str) -> str:
    """What identifies an attack's configuration (spec and search settings) for resuming."""

    att = get_attack(name)
    return repr((att.spec, getattr(att, "grid_points", None), getattr(att, "bisect_steps", None),
                 getattr(att, "repeats", None), getattr(att, "max_steps", None)))


def run_table2(
    cfg: QualityConfig, attacks: tuple[str, ...] = ATTACKS, progress=None, command: str = ""
) -> dict[str, Any]:
    """Table II for ``cfg.dataset``; writes ``artifacts/results/<D>/table2.json`` and registers it."""

    m1, m2 = load_pair(cfg.dataset, device=cfg.device)
    x, y, which = pick(cfg)
    paper = paper_results()["table2_attack_quality_500_images"]
    out_path = result_path(cfg.dataset, "table2")
    part_dir = cache_dir() / "table2" / f"{cfg.dataset}-n{cfg.n}-seed{cfg.seed}"
    n_chunks = sum((int((which == m).sum()) + CHUNK - 1) // CHUNK for m in (1, 2))
    results: dict[str, Any] = {}
    with exclusive_lock(out_path.parent / ".table2.lock"):
        bar = progress(total=n_chunks * len(attacks), desc=f"Table II {cfg.dataset}") if progress else None
        for name in attacks:
            part = part_dir / f"{name}.json"
            key = _attack_key(name)
            if part.exists() and read_json(part).get("key") == key:  # resume; a changed attack reruns
                results[name] = read_json(part)["result"]
                if bar:
                    bar.update(n_chunks)
                continue
            if bar:
                bar.set_postfix_str(name)
            results[name] = attack_quality(
                name, {1: m1, 2: m2}, x, y, which, cfg.seed, tick=(lambda: bar.update(1)) if bar else (lambda: None)
            )
            write_json(part, {"key": key, "result": results[name]})
        if bar:
            bar.close()
        for name in attacks:
            results[name]["paper_mse"] = paper["mse"][cfg.dataset][name]
            results[name]["paper_success_rate_percent"] = paper["success_rate_percent"][cfg.dataset][name]
        doc = {
            "dataset": cfg.dataset,
            "n": cfg.n,
            "seed": cfg.seed,
            "command": command,
            "code_version": code_version(),
            "protocol": "n seeded test images, each attacked on model 1 or 2 by a seeded coin; success rate over "
            "images the attacked model gets right when clean; MSE in [0,1] pixel units, mean over successful attacks",
            "attacked_model_counts": {"model_1": int((which == 1).sum()), "model_2": int((which == 2).sum())},
            "attacks": results,
        }
        write_json(out_path, doc)
        register_file(out_path, command or f"{make_command('table2', cfg.dataset)} --n {cfg.n} --seed {cfg.seed}")
    return doc


def format_table2(doc: dict[str, Any]) -> str:
    """Ours beside the paper's, one attack a row."""
    lines = [
        f"Table II — {doc['dataset']}, {doc['n']} images, seed {doc['seed']}",
        f"{'attack':<17}{'MSE ours':>10}{'MSE paper':>11}{'ratio':>7}{'success ours':>14}{'paper':>8}",
    ]
    for name, r in doc["attacks"].items():
        mse = r["mse"]
        ratio = f"{mse / r['paper_mse']:.1f}" if mse and r.get("paper_mse") else "-"
        mse_s = f"{mse:.2e}" if mse is not None else "-"
        lines.append(
            f"{name:<17}{mse_s:>10}{r['paper_mse']:>11.2e}{ratio:>7}{r['success_rate_percent']:>13.1f}%"
            f"{r['paper_success_rate_percent']:>7.1f}%"
        )
    return "\n".join(lines)
