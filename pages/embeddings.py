"""Embeddings: 2-D t-SNE / UMAP maps of clean and attacked images, in pixel space and in the 20-feature space.

The coordinates are precomputed by the pipeline; this page never imports ``umap``.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from core.app.figures import display, embedding_scatter
from core.app.glossary import help_for
from core.io.labs import dataset_label
from core.results.readers import (
    commands,
    embedding,
    embedding_attacks,
    embedding_coords,
    embedding_images,
    embedding_separability,
)
from pages import common

ds = common.dataset()
st.caption(
    "Each point is an image: clean (green) or adversarial (red; symbol = the attacked model). "
    "In pixel space attacks hide among clean images; in the 20 softmax features of the two models they separate. "
    "Draw a box or lasso to see the images.",
    help=help_for("t-SNE / UMAP", "PCA-50", "softmax"),
)

have = embedding_attacks(ds)
if not have:
    st.info(
        f"No embeddings for {dataset_label(ds)} yet: make them with `{commands(ds)['embeddings']}`.",
        icon=":material/info:",
    )
    st.stop()

c1, c2, c3 = st.columns(3)
attack = c1.selectbox("Attack", have, format_func=common.attack_label, key="emb_attack")
method = c2.radio(
    "Method", ["tsne", "umap"], horizontal=True, key="emb_method", format_func={"tsne": "t-SNE", "umap": "UMAP"}.get
)
space = c3.radio(
    "Space",
    ["pixels", "features"],
    horizontal=True,
    key="emb_space",
    format_func={"pixels": "pixels (PCA-50)", "features": "20 softmax features"}.get,
)


@st.cache_data(show_spinner=False)
def load(ds: str, attack: str) -> dict[str, np.ndarray]:
    return embedding(ds, attack)


emb = common.try_call(load, ds, attack, what=f"Embeddings of {common.attack_label(attack)}")
if emb is None:
    st.stop()
xy = embedding_coords(emb, method, space)
fig = embedding_scatter(
    xy,
    emb["label"] == 1,
    emb.get("attacked_model"),
    f"{common.attack_label(attack)} · {method} of {space} · {len(xy)} points",
)

metrics = st.container()  # filled after the plot is on screen: the 10-NN figures take a moment
event = st.plotly_chart(
    fig,
    key=f"emb_plot_{attack}_{method}_{space}",
    on_select="rerun",
    selection_mode=("box", "lasso"),
    config={"displayModeBar": True},
)


@st.cache_data(show_spinner=False)
def separation(ds: str, attack: str) -> dict[str, float]:
    return embedding_separability(ds, attack)


with metrics:
    sep = common.try_call(separation, ds, attack, what="Separability")
    if sep:
        m1, m2 = st.columns(2)
        label = {"tsne": "t-SNE", "umap": "UMAP"}[method]
        m1.metric(
            f"Attack vs clean, {label} of pixels",
            f"{sep.get(f'{method}_pixels', float('nan')):.2f}",
            help=help_for("10-NN accuracy") + " (3-fold cross-validation on the 2-D map of the pixels.)",
        )
        m2.metric(
            f"Attack vs clean, {label} of features",
            f"{sep.get(f'{method}_features', float('nan')):.2f}",
            help=help_for("10-NN accuracy") + " (On the map of the 20 softmax features: the paper's Figure 4 point "
            "in one number.)",
        )

rows = sorted({int(c[0]) for c in common.selected_customdata(event)})
if rows:
    n_att = int((emb["label"][rows] == 1).sum())
    st.markdown(f"**{len(rows)} selected** — {n_att} adversarial, {len(rows) - n_att} clean (showing up to 40)")
    try:
        imgs = embedding_images(ds, attack, emb, np.asarray(rows[:40]))
    except FileNotFoundError as e:
        common.missing(e, "Images of the selection")
        imgs = None
    if imgs is not None and len(imgs):
        cols = st.columns(10)
        for k, (r, img) in enumerate(zip(rows[:40], imgs)):
            tag = "attacked" if emb["label"][r] == 1 else "clean"
            cols[k % 10].image(display(img, 3), caption=f"{tag}, point {r}")
else:
    st.caption("Use the box or lasso tool on the plot to select points.")
