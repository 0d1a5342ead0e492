"""Scan images: both models' predictions and every shipped detector's verdict for uploaded or drawn images."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import torch

from core.app.figures import display, probs_bars
from core.app.glossary import help_for
from core.app.scan import (
    batch_table,
    fpr_words,
    rows_to_csv,
    scan,
    table_rows,
    thresholds,
    verdict_column,
    verdict_word,
)
from core.app.verdicts import as_given_words, rank_sentence
from core.data import CLASSES
from core.data.uploads import UPLOAD_TYPES, load_image
from core.io.labs import dataset_label
from core.results.readers import adversarial, adversarial_attacks, commands
from pages import common

ds = common.dataset()
fpr = common.fpr()
classes = CLASSES[ds]
st.caption("Is this image an attack? Both classifiers look at it; the detectors judge the pair of softmax outputs "
           f"**at {fpr_words(fpr)}**: each flags an image when its P(attack) is above the threshold that flags that "
           "share of clean test images it never saw (change it in the sidebar).",
           help=help_for("softmax", "P(attack)", "operating point", "threshold"))

pair = common.try_call(common.models, ds, what=f"{dataset_label(ds)} models")
if pair is None:
    st.stop()
m1, m2 = pair
dets = common.detectors_or_none(ds)
if not dets:
    st.info(f"No detector is shipped for {dataset_label(ds)} yet: predictions only. "
            f"Make them with `{commands(ds)['detectors']}`.", icon=":material/info:")
for name, why in thresholds(dets, fpr)[1].items():
    st.warning(f"Detector `{name}` has no operating points, so it gives scores but no verdict: {why}",
               icon=":material/warning:")


def show_one(x: torch.Tensor, name: str, notes: list[str] | None = None, truth: str | None = None,
             key: str = "one") -> None:
    """Both models' answers and every detector's verdict (at the sidebar's operating point) for one image."""
    r = scan(ds, x, m1, m2, dets, fpr)[0]
    left, right = st.columns([1, 3])
    left.image(display(x[0].numpy(), 5), caption=f"{name} — as the models see it", width="stretch")
    if notes:
        with left.expander("Preprocessing"):
            st.markdown("\n".join(f"- {n}" for n in notes))
    with right:
        agree = (":material/check_circle: the models agree" if r["agree"] else
                 ":material/warning: the models **disagree**")
        st.markdown(f"model 1 → **{r['class_1']}** ({r['conf_1']:.2f}) · "
                    f"model 2 → **{r['class_2']}** ({r['conf_2']:.2f}) · "
                    f"{agree}" + (f" · truth: **{truth}**" if truth else ""))
        st.plotly_chart(probs_bars(r["probs_1"], r["probs_2"], classes, height=230), key=f"scan_bars_{key}",
                        config={"displayModeBar": False})
    if "all" in r["p_attack"]:
        p, thr, flag = r["p_attack"]["all"], r["threshold"]["all"], r["flagged"]["all"]
        if flag is None:
            st.warning(f"Universal detector: P(attack) = {p:.4g}, no verdict (no operating points).",
                       icon=":material/warning:")
        else:
            (st.error if flag else st.success)(
                f"Universal detector {common.at_fpr(fpr)}: **{verdict_word(flag)}** — "
                + rank_sentence(p, thr, fpr, getattr(dets["all"], "clean_scores_", None)))
            if flag:
                st.caption(as_given_words(fpr))
    per = {k: v for k, v in r["p_attack"].items() if k != "all"}
    if per:
        st.dataframe(pd.DataFrame({"detector trained on": [common.attack_label(k) for k in per],
                                   "P(attack)": [round(v, 4) for v in per.values()],
                                   "threshold": [r["threshold"][k] for k in per],
                                   verdict_column(fpr): [verdict_word(r["flagged"][k]) for k in per]}),
                     hide_index=True, width="stretch",
                     column_config={"P(attack)": st.column_config.NumberColumn(help=help_for("P(attack)")),
                                    "threshold": st.column_config.NumberColumn(help=help_for("threshold"))})


def read_uploads(files: list) -> list[dict]:
    """Decode the uploads one by one (``common.decoded``, cached), with a progress bar: a large photo takes
    seconds."""
    n = len(files)
    with st.status(f"Reading {n} file{'s' if n > 1 else ''}…", expanded=True) as status:
        bar = st.progress(0.0)
        loaded = []
        for k, f in enumerate(files):
            bar.progress(k / n, text=f"Decoding **{f.name}** ({k + 1} of {n}, {f.size / 2**20:.1f} MB)")
            loaded.append(common.decoded(f.name, f.getvalue(), ds))
        bar.empty()
        bad = sum(i["error"] is not None for i in loaded)
        status.update(label=f"Read {n} file{'s' if n > 1 else ''}" + (f", {bad} refused" if bad else ""),
                      state="error" if bad == n else "complete", expanded=False)
    return loaded


tab_up, tab_draw, tab_demo = st.tabs(["Upload", "Draw a digit", "Demo: shipped adversarial examples"])

with tab_up:
    files = st.file_uploader("PNG, JPEG, BMP, WebP or GIF (one or many, up to 10 MB each)", type=list(UPLOAD_TYPES),
                             accept_multiple_files=True, key="scan_upload")
    if files:
        loaded = read_uploads(files)
        for item in loaded:
            if item["error"]:
                st.error(f"**{item['name']}**: {item['error']}")
        good = [i for i in loaded if i["x"] is not None]
        if len(loaded) == 1 and good:
            show_one(good[0]["x"], good[0]["name"], good[0]["notes"], key="upload")
        elif len(loaded) > 1:
            results = scan(ds, torch.cat([g["x"] for g in good]), m1, m2, dets, fpr) if good else []
            by_name = iter(results)
            rows = table_rows([i["name"] for i in loaded],
                              [next(by_name) if i["x"] is not None else None for i in loaded],
                              [i["error"] for i in loaded], fpr=fpr)
            st.caption(f"Verdicts of the universal detector at {fpr_words(fpr)} (flag when `p_attack_all` > "
                       "`threshold_all`); flagged images in red, files that could not be read in grey with why; "
                       "`p_<attack>`: the per-attack detectors' P(attack).")
            st.dataframe(batch_table(rows, verdict_column(fpr)), hide_index=True, width="stretch")
            st.download_button("Results (CSV)", rows_to_csv(rows), f"scan_{ds}_fpr{fpr:g}.csv", "text/csv",
                               key="scan_csv", on_click="ignore", icon=":material/download:")
            if good:
                pick = st.selectbox("Details for", [g["name"] for g in good], key="scan_detail")
                g = next(g for g in good if g["name"] == pick)
                show_one(g["x"], g["name"], g["notes"], key="detail")

with tab_draw:
    if ds != "mnist":
        st.info("Drawing is for MNIST digits; switch the dataset in the sidebar.")
    else:
        try:
            from streamlit_drawable_canvas import st_canvas
        except Exception as e:  # not installed, or incompatible with this Streamlit
            st_canvas = None
            st.info(f"The drawing canvas needs `streamlit-drawable-canvas` ({e}); upload an image instead.")
        if st_canvas is not None:
            pad, canvas_col, hint = st.columns([0.02, 0.3, 0.68])  # the canvas draws its toolbar above itself
            hint.caption("Draw a digit in white on black, then release the mouse.  The icons above the canvas "
                         "undo, redo and clear the drawing.")
            with canvas_col:
                st.space("medium")  # room for the toolbar
                res = st_canvas(stroke_width=18, stroke_color="#FFFFFF", background_color="#000000", height=224,
                                width=224, drawing_mode="freedraw", return_image_data=True, key="scan_canvas")
            data = res.image_bytes if res is not None else None
            if data:
                x, notes = load_image(data, ds)
                if float(x.max()) > 0:
                    show_one(x, "drawing", notes, key="draw")

with tab_demo:
    have = adversarial_attacks(ds)
    if not have:
        st.info(f"No shipped adversarial examples for {dataset_label(ds)} yet: make them with "
                f"`{commands(ds)['adversarial']}`.", icon=":material/info:")
    else:
        c1, c2 = st.columns(2)
        a = c1.selectbox("Attack", have, format_func=common.attack_label, key="scan_demo_attack")
        adv = common.try_call(adversarial, ds, a)
        if adv is not None:
            k = int(c2.number_input(f"Example (0–{len(adv['x']) - 1})", 0, len(adv["x"]) - 1, key="scan_demo_index"))
            cols = st.columns(2)
            if cols[0].button("Scan this adversarial example", key="scan_demo_go", type="primary",
                              icon=":material/search:"):
                st.session_state["scan_demo"] = (ds, a, k)
            if cols[1].button("Random example", key="scan_demo_rand", icon=":material/casino:"):
                st.session_state["scan_demo"] = (ds, a, int(np.random.default_rng().integers(len(adv["x"]))))
            chosen = st.session_state.get("scan_demo")
            if chosen and chosen[0] == ds and chosen[1] == a:
                j = chosen[2]
                truth = classes[int(adv["y"][j])] if "y" in adv else None
                extra = f", attacked model {int(adv['attacked_model'][j])}" if "attacked_model" in adv else ""
                show_one(torch.from_numpy(adv["x"][j : j + 1]), f"{common.attack_label(a)} #{j}{extra}", truth=truth,
                         key="demo")
