"""Stage ``data``: the detector data set per attack, built in resumable chunks.

For each attack, ``n`` images are drawn (seeded) from the train split (the paper's protocol) or from the test
split's ``detector`` role (the held-out protocol, whose detectors the product ships).  A fair coin keeps an
image clean (label 0) or attacks it; a second coin picks model 1 or 2 as the
white-box target of ``budget_search``.  An image the target model already
misclassifies, or one whose attack fails at the largest budget, goes in clean
with label 0 (the paper's rule).  Every chunk is written atomically under the
cache; the assembled set (features, labels, budgets, MSE, indices) goes to
``artifacts/results/<dataset>[/heldout]/detector_data/<attack>.npz`` and, under the paper's protocol, a
class-balanced set of adversarial images to ``artifacts/adversarial/<dataset>/<attack>.npz``.
"""
from __future__ import annotations

import functools
import json
from typing import Any, Callable

import numpy as np
import torch

from core import ATTACK_NAMES
from core.attacks import budget_search
from core.data import load_split_uint8, to_float
from core.detector import watched_features
from core.experiments.pipeline.config import PipelineConfig, stamp, write_result
from core.experiments.pipeline.parallel import per_attack
from core.io.files import exclusive_lock, read_json, save_with, write_json
from core.io.labs import is_lab
from core.io.manifest import register_file
from core.io.paths import make_command
from core.models import load_pair

# outcome codes per sample
CLEAN, ATTACKED, MISCLASSIFIED, FAILED = 0, 1, 2, 3
ROW_FIELDS = ("features", "label", "attacked_model", "attempted_model", "outcome", "budget", "mse",
              "source_index", "y", "pred_1", "pred_2")


def draws(cfg: PipelineConfig, attack: str, n_split: int) -> dict[str, np.ndarray]:
    """The seeded per-attack draws: source indices (from ``cfg.pool``), attack coin, model coin (prefix-stable in
    ``n``)."""

    rng = np.random.default_rng([cfg.seed, ATTACK_NAMES.index(attack), 7])
    pool = cfg.pool(n_split)
    n = min(cfg.n_for(attack), len(pool))
    idx = pool[rng.permutation(len(pool))[:n]]
    attack_coin = rng.random(len(pool))[:n] < 0.5
    model_coin = np.where(rng.random(len(pool))[:n] < 0.5, 1, 2)
    return {"index": idx, "attack": attack_coin, "model": model_coin}


def rows_of(cfg: PipelineConfig, attack: str, n_split: int) -> int:
    """How many rows ``attack``'s detector data set has."""
    return min(cfg.n_for(attack), len(cfg.pool(n_split)))


def build_chunk(
    cfg: PipelineConfig,
    attack: str,
    k: int,
    x: torch.Tensor,
    y: torch.Tensor,
    src: np.ndarray,
    coin: np.ndarray,
    which: np.ndarray,
    models: tuple[torch.nn.Module, torch.nn.Module],
) -> dict[str, np.ndarray]:
    """Attack one chunk of ``models`` (a pair) and return its rows (plus the exact float32 adversarial images);
    the features are the pair's softmax."""
    m = len(x)
    x_final = x.clone()
    label = np.zeros(m, np.int64)
    outcome = np.full(m, CLEAN, np.int64)
    attacked_model = np.zeros(m, np.int64)
    attempted = np.where(coin, which, 0).astype(np.int64)
    budget = np.full(m, np.nan)
    for target in (1, 2):
        sel = np.flatnonzero(coin & (which == target))
        if len(sel) == 0:
            continue
        model = models[target - 1]
        with torch.no_grad():
            ok = (model(x[sel]).argmax(1) == y[sel]).numpy()
        outcome[sel[~ok]] = MISCLASSIFIED
        go = sel[ok]
        if len(go) == 0:
            continue
        res = budget_search(attack, model, x[go], y[go], seed=int(cfg.seed * 10_000_019 + k * 1_000 + target * 100))
        # images the attack turned from right to wrong (``go`` holds only correctly classified ones)
        success = res.fooled.numpy()
        x_adv = torch.as_tensor(res.x_adv, dtype=torch.float32).clamp(0, 1)
        with torch.no_grad():  # trust but verify: the image must really fool the target
            success &= (model(x_adv).argmax(1) != y[go]).numpy()
        budget[go] = np.asarray(res.budget, np.float64)
        hit = go[success]
        x_final[hit] = x_adv[success]
        label[hit] = 1
        attacked_model[hit] = target
        outcome[hit] = ATTACKED
        outcome[go[~success]] = FAILED
    f = watched_features(models, x_final)
    mse = ((x_final - x) ** 2).flatten(1).mean(1).numpy()
    adv_rows = np.flatnonzero(label == 1)
    return {
        "features": f.numpy().astype(np.float32),
        "label": label,
        "attacked_model": attacked_model,
        "attempted_model": attempted,
        "outcome": outcome,
        "budget": budget,
        "mse": mse.astype(np.float64),
        "source_index": src.astype(np.int64),
        "y": y.numpy().astype(np.int64),
        "pred_1": f[:, :10].argmax(1).numpy(),
        "pred_2": f[:, 10:20].argmax(1).numpy(),
        "adv_rows": adv_rows,
        "x_adv": x_final[adv_rows].numpy().astype(np.float32),
    }


def build_attack(
    cfg: PipelineConfig,
    attack: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    models: tuple[torch.nn.Module, torch.nn.Module],
    progress: Callable | None = None,
    after_chunk: Callable[[int], None] | None = None,
) -> None:
    """Every missing chunk of ``attack``; chunks already on disk are kept (resume).

    Callers hold the attack's lock, so a temporary file beside the chunks is a killed writer's (a worker lost
    mid-chunk, whose task is being retried): it is removed, and its chunk rebuilt.
    """

    for stale in cfg.chunk_path(attack, 0).parent.glob(".chunk_*.tmp*"):
        stale.unlink()
    d = draws(cfg, attack, len(x_train))
    n = len(d["index"])
    ks = range((n + cfg.chunk - 1) // cfg.chunk)
    it = progress(ks, desc=f"{cfg.dataset}/{attack}", unit="chunk") if progress else ks
    for k in it:
        path = cfg.chunk_path(attack, k)
        if path.exists():
            continue
        rows = slice(k * cfg.chunk, min(n, (k + 1) * cfg.chunk))
        src = d["index"][rows]
        x = to_float(np.asarray(x_train[src]))
        y = torch.from_numpy(np.asarray(y_train[src], np.int64))
        torch.manual_seed(cfg.seed * 7919 + k)
        chunk = build_chunk(cfg, attack, k, x, y, src, d["attack"][rows], d["model"][rows], models)
        save_with(path, lambda p: np.savez(p, **chunk))
        if after_chunk:
            after_chunk(k)


def load_chunks(cfg: PipelineConfig, attack: str, n_rows: int) -> dict[str, np.ndarray]:
    """All chunks of ``attack`` concatenated; ``x_adv`` rows line up with ``adv_rows`` (global indices)."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ROW_FIELDS + ("adv_rows", "x_adv")}
    offset = 0
    for k in range((n_rows + cfg.chunk - 1) // cfg.chunk):
        with np.load(cfg.chunk_path(attack, k), allow_pickle=False) as z:
            for f in ROW_FIELDS:
                parts[f].append(z[f])
            parts["adv_rows"].append(z["adv_rows"] + offset)
            parts["x_adv"].append(z["x_adv"])
            offset += len(z["label"])
    return {k: np.concatenate(v) for k, v in parts.items()}


def select_shipped(data: dict[str, np.ndarray], per_attack: int, models, seed: int) -> dict[str, np.ndarray]:
    """A class-balanced set of adversarial images that still fool their target after float16 storage.

    Candidates are visited in a seeded order, round-robin over clean labels; an
    image is kept in float16 if the reloaded image still fools the attacked
    model.  If fewer than ``per_attack`` survive in float16, the set is stored
    in exact float32 instead.
    """
    rows = data["adv_rows"]
    x = torch.from_numpy(data["x_adv"])
    target = data["attacked_model"][rows]
    y = data["y"][rows]

    def fools(xs: torch.Tensor) -> np.ndarray:
        out = np.zeros(len(xs), bool)
        with torch.no_grad():
            for t in (1, 2):
                s = np.flatnonzero(target == t)
                if len(s):
                    out[s] = models[t - 1](xs[s]).argmax(1).numpy() != y[s]
        return out

    x16 = x.half()
    ok16 = fools(x16.float())
    ok32 = fools(x)
    use16 = ok16.sum() >= min(per_attack, ok32.sum())
    ok = ok16 if use16 else ok32
    rng = np.random.default_rng([seed, 11])
    classes = range(int(y.max()) + 1 if len(y) else 0)
    order = {c: list(rng.permutation(np.flatnonzero(ok & (y == c)))) for c in classes}
    chosen: list[int] = []
    while len(chosen) < per_attack and any(order.values()):
        for c in classes:
            if order[c] and len(chosen) < per_attack:
                chosen.append(order[c].pop(0))
    pick = np.sort(np.asarray(chosen, np.int64))
    g = rows[pick]
    xs = (x16 if use16 else x)[pick].numpy()
    return {
        "x": xs,
        "y": y[pick],
        "attacked_model": target[pick],
        "budget": data["budget"][g],
        "mse": data["mse"][g],
        "source_index": data["source_index"][g],
        "row": g,
        "adv_pred": np.where(target[pick] == 1, data["pred_1"][g], data["pred_2"][g]),
        "dtype": np.array(str(xs.dtype)),
    }


def assemble(cfg: PipelineConfig, attack: str, n_rows: int, models) -> dict[str, Any]:
    """Write the shipped detector data set and adversarial examples of ``attack``; return a summary."""

    data = load_chunks(cfg, attack, n_rows)
    path = cfg.detector_data(attack)
    meta = json.dumps(stamp(cfg, attack=attack))
    save_with(path, lambda p: np.savez_compressed(p, **{f: data[f] for f in ROW_FIELDS}, meta=np.array(meta)))
    register_file(path, cfg_command(cfg))
    if cfg.protocol != "paper" and not is_lab(cfg.dataset):  # a built-in dataset ships the paper protocol's
        return summary(data, attack) | {"n": int(n_rows)}
    ship = select_shipped(data, cfg.shipped(), models, cfg.seed)
    apath = cfg.adversarial(attack)
    save_with(apath, lambda p: np.savez_compressed(p, **ship, meta=np.array(meta)))
    register_file(apath, cfg_command(cfg))
    return summary(data, attack) | {
        "n": int(n_rows),
        "shipped": int(len(ship["x"])),
        "shipped_dtype": str(ship["x"].dtype),
    }


def cfg_command(cfg: PipelineConfig) -> str:
    extra = "".join(f" --n-attack {a}={n}" for a, n in cfg.n_per_attack)
    what = "adversarial" if cfg.protocol == "paper" else "heldout_data"
    return f"{make_command(what, cfg.dataset)} --n {cfg.n}{extra}"


def summary(data: dict[str, np.ndarray], attack: str) -> dict[str, Any]:
    """Table II style figures: success rate among attempted images, MSE of successful attacks."""
    o = data["outcome"]
    attempted = int(((o == ATTACKED) | (o == FAILED)).sum())
    hit = o == ATTACKED
    return {
        "attack": attack,
        "rows": int(len(o)),
        "attacks": int(hit.sum()),
        "clean": int((data["label"] == 0).sum()),
        "attempted": attempted,
        "misclassified_clean": int((o == MISCLASSIFIED).sum()),
        "success_rate": float(hit.sum() / attempted) if attempted else float("nan"),
        "mse_mean": float(data["mse"][hit].mean()) if hit.any() else float("nan"),
        "budget_mean": float(np.nanmean(data["budget"][hit])) if hit.any() else float("nan"),
        "by_model": {str(t): int((data["attacked_model"] == t).sum()) for t in (1, 2)},
    }


def load_detector_data(cfg: PipelineConfig, attack: str) -> dict[str, np.ndarray]:
    with np.load(cfg.detector_data(attack), allow_pickle=False) as z:
        return {f: z[f] for f in ROW_FIELDS}


def build_and_assemble(
    cfg: PipelineConfig, attack: str, progress: Callable | None = None, after_chunk: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """One attack's chunks (resumed), then its assembled set and summary, under the attack's lock."""

    models = load_pair(cfg.dataset, device=cfg.device)
    x_src, y_src = load_split_uint8(cfg.dataset, cfg.source_split(), cfg.data_root)
    with exclusive_lock(cfg.lock(attack)):
        build_attack(cfg, attack, x_src, y_src, models, progress, after_chunk)
        row = assemble(cfg, attack, rows_of(cfg, attack, len(x_src)), models)
        write_json(cfg.cache() / "summary" / f"{attack}.json", row)
    return row


def run(
    cfg: PipelineConfig,
    progress: Callable | None = None,
    after_chunk: Callable[[int], None] | None = None,
    workers: int = 1,
    executor: str = "process",
    address: str | None = None,
) -> dict:
    """Stage ``data`` for every attack of ``cfg`` (``workers`` processes, or Ray tasks: ``parallel.per_attack``);
    writes ``detector_data.json``.

    (``table2.json`` belongs to ``python -m core attack-quality``, the paper's 500-image protocol.)
    """

    per_attack(cfg, functools.partial(build_and_assemble, after_chunk=after_chunk), workers, progress,
               executor=executor, address=address)
    # every attack assembled so far (processes may build different attacks in parallel)
    rows = [read_json(p) for a in ATTACK_NAMES if (p := cfg.cache() / "summary" / f"{a}.json").exists()]
    out = stamp(
        cfg,
        note="success rate among attempted (correctly classified) images; MSE over successful attacks",
        attacks=rows,
    )
    write_result(cfg, "detector_data", out)
    return out
