"""Stage ``embeddings``: 2-D t-SNE / UMAP of raw pixels and of the 20 features, per attack.

Points: the shipped adversarial examples of the attack (label 1; ``image_index``
indexes ``artifacts/adversarial/<dataset>/<attack>.npz``) plus clean images
drawn from the detector rows that were kept clean by the coin (label 0;
``image_index`` indexes ``clean_x`` stored in the same file), up to
``embed_points`` in all.  Pixels go through PCA to 50 dimensions first.
"""
from __future__ import annotations

import json
from typing import Callable

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from core.data import load_split_uint8, to_float
from core.experiments.pipeline.config import PipelineConfig, stamp
from core.experiments.pipeline.detector_data import CLEAN, load_detector_data
from core.experiments.pipeline.parallel import per_attack
from core.io.files import exclusive_lock, save_with
from core.io.manifest import register_file
from core.io.paths import embedding_path, make_command

TSNE_ITER = 500  # sklearn's default is 1,000; 500 keeps 28 embeddings affordable on a shared 2-core CPU
UMAP_EPOCHS = 200  # umap-learn's default for < 10,000 points is 500


def embed(method: str, x: np.ndarray, seed: int) -> np.ndarray:
    n = len(x)
    if method == "tsne":
        return TSNE(2, perplexity=float(min(30.0, max(2.0, (n - 1) / 3.5))), init="pca", max_iter=TSNE_ITER,
                    random_state=seed).fit_transform(x)
    if method == "umap":
        import umap

        return umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), n_epochs=UMAP_EPOCHS, random_state=seed,
                         n_jobs=1).fit_transform(x)
    raise ValueError(f"unknown embedding {method!r}: choose tsne or umap")


def pca(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    k = min(k, x.shape[0], x.shape[1])
    return PCA(k, random_state=seed).fit_transform(x)


def run(cfg: PipelineConfig, progress: Callable | None = None, workers: int = 1, executor: str = "process",
        address: str | None = None) -> dict:
    """Stage ``embeddings`` for every attack of ``cfg`` (``workers`` processes, or Ray tasks)."""

    return per_attack(cfg, embed_one, workers, progress, desc="embeddings", executor=executor, address=address)


def embed_one(cfg: PipelineConfig, attack: str, progress: Callable | None = None) -> dict:
    """One attack's embeddings, under the attack's lock."""

    x_train, _ = load_split_uint8(cfg.dataset, cfg.source_split(), cfg.data_root)
    with exclusive_lock(cfg.lock(f"embeddings-{attack}")):
        return embed_attack(cfg, attack, x_train)


def embed_attack(cfg: PipelineConfig, attack: str, x_train: np.ndarray) -> dict:
    """Write ``embeddings/<attack>.npz``.

    The 20 features of every point are the ones stage ``data`` stored (for an adversarial point: those of
    the attack's float32 output), never recomputed: a recomputation may differ in the last bit with the
    thread count, and t-SNE turns such a bit into a different map.
    """


    with np.load(cfg.adversarial(attack), allow_pickle=False) as z:
        adv = {k: z[k] for k in ("x", "y", "attacked_model", "source_index", "row")}
    d = load_detector_data(cfg, attack)
    n_adv = min(len(adv["x"]), cfg.embed_points // 2)
    rng = np.random.default_rng([cfg.seed, 31])
    adv_idx = np.sort(rng.choice(len(adv["x"]), n_adv, replace=False))
    clean_rows = np.flatnonzero(d["outcome"] == CLEAN)
    clean_rows = np.sort(rng.choice(clean_rows, min(len(clean_rows), cfg.embed_points - n_adv), replace=False))
    clean_x = np.asarray(x_train[d["source_index"][clean_rows]])
    xa = torch.from_numpy(adv["x"][adv_idx].astype(np.float32))
    xc = to_float(clean_x)
    pixels = torch.cat([xa, xc]).flatten(1).numpy()
    feats = d["features"][np.r_[adv["row"][adv_idx], clean_rows]]
    arrays = {
        "label": np.r_[np.ones(n_adv, np.int64), np.zeros(len(clean_rows), np.int64)],
        "attacked_model": np.r_[adv["attacked_model"][adv_idx], np.zeros(len(clean_rows), np.int64)],
        "y": np.r_[adv["y"][adv_idx], d["y"][clean_rows]],
        "image_index": np.r_[adv_idx, np.arange(len(clean_rows))].astype(np.int64),
        "source_index": np.r_[adv["source_index"][adv_idx], d["source_index"][clean_rows]],
        "clean_x": clean_x.astype(np.uint8),
    }
    p50 = pca(pixels, 50, cfg.seed)
    for method in cfg.embed_methods:
        arrays[f"{method}_pixels"] = embed(method, p50, cfg.seed).astype(np.float32)
        arrays[f"{method}_features"] = embed(method, feats.astype(np.float64), cfg.seed).astype(np.float32)
    meta = json.dumps(stamp(cfg, attack=attack, methods=list(cfg.embed_methods), pixels="PCA-50 of raw pixels",
                             tsne={"perplexity": 30, "max_iter": TSNE_ITER, "init": "pca"},
                             umap={"n_neighbors": 15, "n_epochs": UMAP_EPOCHS}))
    path = embedding_path(cfg.dataset, attack)
    save_with(path, lambda p: np.savez_compressed(p, **arrays, meta=np.array(meta)))
    register_file(path, f"{make_command('embeddings', cfg.dataset)} --n {cfg.n}")
    return {"points": int(len(arrays["label"])), "attacks": int(n_adv)}
