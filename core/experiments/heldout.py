"""The held-out report: the shipped detectors on evaluation images (``python -m core heldout``).

Images: the first ``n`` (seeded order) of the test split's evaluation role, which neither the classifiers
(train split), nor the detectors (detector role), nor their thresholds (calibration role) were fitted on.  Each
of the paper's seven attacks (their budget search) and the attacks no detector trained on
(``core.attacks.unseen``: minimal L∞ PGD, C&W L2, Square; on the first ``n_unseen``) runs against model 1 and
against model 2, on the images that model classifies correctly; the images it fools are kept (cached as
float32) and scored by the shipped detectors against the clean evaluation images.  Each (attack, model) is
cached (resume after a kill); the report also holds the transfer of each per-attack detector, a
leave-one-attack-out refit on the detector role, and what else was tried (``IDEAS``).
Written to ``artifacts/results/<dataset>/heldout.json`` through ``core.results.heldout``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from core import ATTACK_LABELS, ATTACK_NAMES, UNSEEN_LABELS
from core.attacks import budget_search
from core.attacks.unseen import UNSEEN_ATTACKS, unseen_attack
from core.data import load_split, roles_record, test_roles
from core.detector import check_unseen, load, watched_features
from core.detector.feature_map import FeatureMap
from core.detector.thresholds import FPRS, fpr_key, threshold_at
from core.experiments.pipeline.config import PipelineConfig
from core.experiments.pipeline.cv import make_svc
from core.experiments.pipeline.detector_data import load_detector_data
from core.experiments.pipeline.detectors import fit_svc, training_rows
from core.io.files import read_json, save_with, write_json
from core.io.labs import PerDataset
from core.io.manifest import code_version
from core.io.paths import cache_dir, cache_name
from core.models import load_pair, predict_logits
from core.results.heldout import COMMAND, PROTOCOL_NOTE, write_heldout
from core.results.metrics import roc, tpr_at_fpr

DEFAULT_N = PerDataset({"mnist": 1000, "cifar10": 1000}, lambda lab: 1000)
DEFAULT_N_UNSEEN = PerDataset({"mnist": 300, "cifar10": 300}, lambda lab: 300)
# the project's bars at 5 % false positives: (paper's attacks, unseen attacks, clean FPR at most); a lab has none
BARS = PerDataset({"mnist": (0.97, 0.97, 0.07), "cifar10": (0.80, 0.70, 0.07)}, lambda lab: None)


@dataclass(frozen=True)
class HeldoutConfig:
    """One held-out evaluation; every random choice derives from ``seed``."""

    dataset: str
    n: int | None = None  # evaluation images per paper attack and model (default DEFAULT_N)
    n_unseen: int | None = None  # ... per unseen attack and model (default DEFAULT_N_UNSEEN)
    seed: int = 0
    attacks: tuple[str, ...] = ATTACK_NAMES + UNSEEN_ATTACKS
    refits: bool = True  # the SVMs fitted for the report itself: leave one attack out and the ideas tried
    data_root: str | None = None
    command: str = ""
    device: str = "cpu"

    def __post_init__(self) -> None:
        unknown = [a for a in self.attacks if a not in ATTACK_NAMES + UNSEEN_ATTACKS]
        if unknown:
            raise ValueError(f"unknown attack(s) {', '.join(unknown)}: choose from "
                             f"{', '.join(ATTACK_NAMES + UNSEEN_ATTACKS)}")
        for v in (self.n, self.n_unseen):
            if v is not None and v < 1:
                raise ValueError("--n and --n-unseen must be at least 1")

    def images(self, attack: str) -> int:
        return (self.n or DEFAULT_N[self.dataset]) if attack in ATTACK_NAMES else (
            self.n_unseen or DEFAULT_N_UNSEEN[self.dataset])

    def cache(self) -> Path:
        return cache_dir() / "heldout" / cache_name(self.dataset) / f"seed{self.seed}"

    def rows_path(self, attack: str, target: int) -> Path:
        return self.cache() / f"{attack}-model{target}-n{self.images(attack)}.npz"


def evaluation_order(cfg: HeldoutConfig, n_test: int) -> np.ndarray:
    """The evaluation role's indices in a seeded order (each attack takes a prefix)."""
    ev = test_roles(n_test)["evaluation"]
    return ev[np.random.default_rng([cfg.seed, 67]).permutation(len(ev))]


def attack_rows(cfg: HeldoutConfig, attack: str, target: int, x: torch.Tensor, y: torch.Tensor,
                models: tuple) -> dict[str, np.ndarray]:
    """``attack`` against model ``target`` on the images it gets right: what it fooled, budgets, features."""
    model = models[target - 1]
    ok = (predict_logits(model, x).argmax(1) == y).numpy()
    xs, ys = x[ok], y[ok]
    seed = cfg.seed * 1_000 + (ATTACK_NAMES + UNSEEN_ATTACKS).index(attack) * 10 + target
    torch.manual_seed(seed)
    t0 = time.time()
    if attack in ATTACK_NAMES:
        res = budget_search(attack, model, xs, ys, seed=seed)
        x_adv = torch.as_tensor(res.x_adv, dtype=torch.float32).clamp(0, 1)
        budget = res.budget.numpy().astype(np.float64)
    else:
        res = unseen_attack(attack, cfg.dataset)(model, xs, ys, seed=seed)
        x_adv, budget = res.x_adv, res.budget.numpy().astype(np.float64)
    with torch.no_grad():  # a fresh pass: the images that really fool the target
        fooled = (predict_logits(model, x_adv).argmax(1) != ys).numpy()
    d = (x_adv - xs).flatten(1)
    return {"right": ok, "fooled": fooled, "budget": np.where(fooled, budget, np.inf),
            "linf": d.abs().amax(1).numpy(), "l2": d.norm(dim=1).numpy(),
            "x_adv": x_adv[fooled].numpy(), "seconds": np.array(time.time() - t0)}


def clean_features(cfg: HeldoutConfig, x: torch.Tensor, models: tuple) -> dict[str, np.ndarray]:
    """The pair's features of every calibration-role and evaluation-role image (cached)."""
    path = cfg.cache() / "clean.npz"
    if not path.exists():
        roles = test_roles(len(x))
        f = {r: watched_features(models, x[roles[r]]).numpy() for r in ("calibration", "evaluation")}
        save_with(path, lambda p: np.savez(p, **f))
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def detection(p_adv: np.ndarray, thresholds: dict[str, float]) -> dict[str, float | None]:
    """The share of ``p_adv`` above each operating point's threshold (``None`` when there is no image)."""
    return {k: (float((p_adv > t).mean()) if len(p_adv) else None) for k, t in thresholds.items()}


def loao(cfg: HeldoutConfig, rows: dict[str, np.ndarray], clean: dict[str, np.ndarray],
         progress: Callable | None) -> dict[str, Any]:
    """Per paper attack: an SVM fitted (as the shipped ones) on the other six attacks' detector-role rows, its
    5 % threshold on the calibration role, its detection of the left-out attack's evaluation rows."""
    names = [a for a in ATTACK_NAMES if a in rows]
    pcfg = PipelineConfig(cfg.dataset, protocol="heldout", data_root=cfg.data_root)
    data = {a: load_detector_data(pcfg, a) for a in names}
    out = {}
    for left in progress(names, desc="leave one attack out", unit="attack") if progress else names:
        path = cfg.cache() / "loao" / f"{left}.json"
        if not path.exists():
            rest = replace(pcfg, attacks=tuple(a for a in names if a != left))
            f, y, _ = training_rows(rest, data, "all")
            svc, fmap, params = fit_svc(rest, f, y)
            t = threshold_at(svc.decision_function(fmap(clean["calibration"])), 0.05)
            s_clean = svc.decision_function(fmap(clean["evaluation"]))
            s_adv = svc.decision_function(fmap(rows[left]))
            write_json(path, {"detection": float((s_adv > t).mean()), "clean_fpr": float((s_clean > t).mean()),
                              "auc": roc(s_clean, s_adv)["auc"], "params": params, "train_rows": int(len(y))})
        out[left] = read_json(path)
    return out


# what was tried for the universal detector, measured inside the detector role (fit on images of even index,
# measure on the others): (label, feature map, gamma, C, clean-class weight, rows per attack)
IDEAS = (("softmax features, γ 1, C 10 (the paper's detector)", "softmax", 1.0, 10.0, 1.0, 1000),
         ("softmax features, γ 10, C 10", "softmax", 10.0, 10.0, 1.0, 1000),
         ("margins map, γ 0.03, C 10 (shipped)", "margins", 0.03, 10.0, 1.0, 1000),
         ("margins map, clean rows weighted 3×", "margins", 0.03, 10.0, 3.0, 1000),
         ("margins map, 2,500 rows per attack", "margins", 0.03, 10.0, 1.0, 2500))


def ideas(cfg: HeldoutConfig) -> list[dict[str, Any]]:
    """Each of ``IDEAS`` fitted on the detector-role rows of even-indexed images, its threshold for 5 % false
    positives and its detection per attack on the odd-indexed ones (no evaluation image is touched); cached."""
    path = cfg.cache() / "ideas.json"
    if path.exists():
        return read_json(path)
    pcfg = PipelineConfig(cfg.dataset, protocol="heldout")
    data = {a: load_detector_data(pcfg, a) for a in ATTACK_NAMES if a in cfg.attacks}
    rng = np.random.default_rng([cfg.seed, 71])
    out = []
    for label, name, gamma, c, weight, per in IDEAS:
        fit, test = [], {}
        for a, d in data.items():
            even = d["source_index"] % 2 == 0
            i = np.flatnonzero(even)
            i = np.sort(rng.choice(i, min(per, len(i)), replace=False))
            fit.append((d["features"][i], d["label"][i]))
            test[a] = (d["features"][~even], d["label"][~even])
        f = np.concatenate([x for x, _ in fit]).astype(np.float64)
        y = np.concatenate([v for _, v in fit])
        fmap = FeatureMap.fit(name, f)
        svc = make_svc({"C": c, "gamma": gamma}).set_params(class_weight={0: weight, 1: 1.0}).fit(fmap(f), y)
        s_clean = svc.decision_function(fmap(np.concatenate([x[v == 0] for x, v in test.values()])))
        det = {a: tpr_at_fpr(s_clean, svc.decision_function(fmap(x[v == 1])), 0.05) for a, (x, v) in test.items()}
        out.append({"idea": label, "detection_at_5": det, "lowest": min(det.values()),
                    "mean": float(np.mean(list(det.values())))})
    write_json(path, out)
    return out


def project_targets(bars: tuple[float, float, float] | None, clean_fpr: dict[str, float],
                    by_attack: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The project's bars (``BARS``) at 5 % and whether each holds; none for a lab (the project sets no bar for a
    user's pair)."""
    if bars is None:
        return []
    bar_paper, bar_unseen, bar_fpr = bars
    targets = [{"what": "clean false positives at 5 %", "value": clean_fpr["0.05"], "bar": bar_fpr,
                "met": clean_fpr["0.05"] <= bar_fpr}]
    for kind, bar in (("paper", bar_paper), ("unseen", bar_unseen)):
        vals = [(a, v["detection"]["0.05"]) for a, v in by_attack.items()
                if (a in ATTACK_NAMES) == (kind == "paper") and v["detection"]["0.05"] is not None]
        if vals:
            a, worst = min(vals, key=lambda av: av[1])
            label = ATTACK_LABELS.get(a) or UNSEEN_LABELS[a]
            targets.append({"what": f"lowest detection at 5 % of the {kind} attacks ({label})", "value": worst,
                            "bar": bar, "met": worst >= bar})
    return targets


def run(cfg: HeldoutConfig, progress: Callable | None = None) -> dict[str, Any]:
    """Attack what is not cached, then score it with the shipped detectors and write ``heldout.json``."""
    x_all, y_all = load_split(cfg.dataset, "test", cfg.data_root)
    models = load_pair(cfg.dataset, device=cfg.device)
    order = evaluation_order(cfg, len(x_all))
    jobs = [(a, t) for a in cfg.attacks for t in (1, 2)]
    results: dict[tuple[str, int], dict[str, np.ndarray]] = {}
    for a, t in progress(jobs, desc=f"held-out {cfg.dataset}", unit="attack×model") if progress else jobs:
        path = cfg.rows_path(a, t)
        if not path.exists():
            idx = order[: cfg.images(a)]
            r = attack_rows(cfg, a, t, x_all[idx], y_all[idx], models)
            save_with(path, lambda p, r=r: np.savez(p, **r))
        with np.load(path) as z:
            results[(a, t)] = {k: z[k] for k in z.files}
        results[(a, t)]["features"] = watched_features(models, torch.from_numpy(results[(a, t)]["x_adv"])).numpy()
    clean = clean_features(cfg, x_all, models)
    det = load(cfg.dataset, "all")
    check_unseen(det, "test", "evaluation", "evaluate")
    p_clean = det.predict_proba_features(clean["evaluation"])
    thresholds = {fpr_key(f): det.threshold(f) for f in FPRS}
    own = {a: load(cfg.dataset, a) for a in cfg.attacks if a in ATTACK_NAMES}
    for d in own.values():
        check_unseen(d, "test", "evaluation", "evaluate")
    out_rows = []
    feats: dict[str, list[np.ndarray]] = {}  # per attack, the fooling images' features and P(attack), both targets
    scores: dict[str, list[np.ndarray]] = {}
    for (a, t), r in results.items():
        f = r["features"]
        p = det.predict_proba_features(f) if len(f) else np.zeros(0)
        feats.setdefault(a, []).append(f)
        scores.setdefault(a, []).append(p)
        own_det = None
        if a in own and len(f):
            own_det = float(own[a].predict_features(f, 0.05).mean())
        fin = r["budget"][np.isfinite(r["budget"])]
        out_rows.append({"attack": a, "kind": "paper" if a in ATTACK_NAMES else "unseen", "target": t,
                         "images": int(len(r["right"])), "attacked": int(r["right"].sum()),
                         "fooled": int(r["fooled"].sum()),
                         "budget_median": float(np.median(fin)) if len(fin) else None,
                         "linf_median": float(np.median(r["linf"][r["fooled"]])) if r["fooled"].any() else None,
                         "l2_median": float(np.median(r["l2"][r["fooled"]])) if r["fooled"].any() else None,
                         "detection": detection(p, thresholds),
                         "auc": roc(p_clean, p)["auc"] if len(p) else None, "own_detection": own_det,
                         "seconds": round(float(r["seconds"]), 1)})
    pooled = {a: np.concatenate(fs) for a, fs in feats.items()}
    by_attack = {}
    for a, ps in scores.items():
        p = np.concatenate(ps)
        by_attack[a] = {"fooled": int(len(p)), "detection": detection(p, thresholds),
                        "auc": roc(p_clean, p)["auc"] if len(p) else None}
    transfer = {"train": list(own), "test": list(pooled), "detection": [
        [float(own[tr].predict_features(pooled[te], 0.05).mean()) if len(pooled[te]) else None for te in pooled]
        for tr in own],
        "clean_fpr": [float(own[tr].predict_features(clean["evaluation"], 0.05).mean()) for tr in own]}
    clean_fpr = {k: float((p_clean > t).mean()) for k, t in thresholds.items()}
    targets = project_targets(BARS[cfg.dataset], clean_fpr, by_attack)
    doc = {"dataset": cfg.dataset, "command": cfg.command or COMMAND.format(dataset=cfg.dataset),
           "code_version": code_version(), "seed": cfg.seed, "protocol": PROTOCOL_NOTE,
           "roles": roles_record(cfg.dataset),
           "n": {"paper": cfg.images(ATTACK_NAMES[0]), "unseen": cfg.images(UNSEEN_ATTACKS[0])},
           "detector": {"trained_on": "all", "thresholds": thresholds, "params": det.meta.get("params", {})},
           "clean": {"images": int(len(p_clean)), "fpr": clean_fpr},
           "rows": out_rows, "by_attack": by_attack, "transfer": transfer,
           "loao": loao(cfg, pooled, clean, progress) if cfg.refits else {},
           "targets": targets, "ideas": ideas(cfg) if cfg.refits else [],
           "note": "detection: fraction of the images an attack fooled its target with that the universal detector "
                   "flags at each clean false-positive rate (thresholds from the calibration role); AUC against the "
                   "clean evaluation images; own_detection: the detector trained on that attack alone, at 5 %"}
    write_heldout(cfg.dataset, doc)
    return doc
