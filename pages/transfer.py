"""Transfer matrices: train the detector on one attack, test it on another (the paper's Figures 5 and 6)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core import ATTACK_LABELS, ATTACK_NAMES, ATTACK_SHORT, UNSEEN_LABELS
from core.app.figures import confusion_figure, grouped_bars, heatmap
from core.app.glossary import help_for
from core.io.labs import dataset_label, is_lab
from core.results.readers import confusion, paper_transfer
from pages import common

ds = common.dataset()
SHARE = st.column_config.NumberColumn(format="percent")
labels = [ATTACK_SHORT[a] for a in ATTACK_NAMES]


def heldout_section() -> None:
    """The held-out protocol's matrix and leave-one-attack-out: what the shipped detectors do on evaluation images."""
    st.subheader("Held-out protocol: the shipped detectors on evaluation images", help=help_for("detection rate"))
    ho = common.try_call(common.heldout, ds, what=f"{dataset_label(ds)} held-out detection results")
    if ho is not None:
        tr_ho = ho["transfer"]
        st.caption("Each shipped single-attack detector (rows; trained on the test split's detector role) at 5 % clean "
                   "false positives, on the images each attack fooled a model with among the evaluation images "
                   "(columns, incl. attacks no detector trained on): the share it flags.")
        cols = [ATTACK_SHORT.get(a) or UNSEEN_LABELS.get(a, a) for a in tr_ho["test"]]
        st.dataframe(pd.DataFrame(tr_ho["detection"], index=[ATTACK_SHORT[a] for a in tr_ho["train"]], columns=cols)
                     .assign(**{"clean FPR": tr_ho["clean_fpr"]}),
                     width="stretch", column_config={c: SHARE for c in [*cols, "clean FPR"]})
        if not ho.get("loao"):
            st.caption("Leave one attack out was not computed for this file: run the command below without "
                       "`--no-refits`.")
        else:
            st.caption("Leave one attack out, held out: an SVM fitted on the other six attacks' detector-role rows, "
                       "its 5 % threshold on the calibration role, tested on the left-out attack's evaluation images.")
            st.dataframe(pd.DataFrame([{"left out": common.attack_label(a), "detected at 5 %": v["detection"],
                                        "clean FPR": v["clean_fpr"], "AUC": v["auc"]} for a, v in ho["loao"].items()]),
                         hide_index=True, width="stretch",
                         column_config={"detected at 5 %": SHARE, "clean FPR": SHARE})
        common.command_box(ho["command"])


if is_lab(ds):  # a lab has held-out images only: no paper's protocol, no Figure 5/6 to compare with
    st.info(f"{dataset_label(ds)} is a lab: its models were trained elsewhere, so the paper's protocol (detector data "
            "from the models' own training images) and the paper's figures do not apply.  Below: its shipped "
            "detectors on evaluation images.", icon=":material/info:")
    heldout_section()
    st.stop()

st.caption("The paper's protocol (detector data from the train split the classifiers were fitted on; the held-out "
           "protocol's matrix is at the bottom).  Rows: the attack the detector was trained on.  Columns: the attack "
           f"it is tested on.  The paper's values are its Figure {5 if ds == 'mnist' else 6}.",
           help=help_for("transfer matrix", "AUC"))

metric = st.radio("Metric", ["accuracy", "auc"], horizontal=True, key="tr_metric",
                  format_func={"accuracy": "Accuracy", "auc": "AUC"}.get,
                  help="Accuracy: the share of clean and attacked images the detector labels right.  \n"
                       + help_for("AUC"))
ours = common.try_call(common.result, ds, "transfer", what="Our transfer matrix")
paper = paper_transfer(ds)

c1, c2 = st.columns(2)
mat = None if ours is None else ours.get(metric)
def clicked(event, key: str) -> None:
    """A click on a heatmap cell selects that pair below (once per new click)."""
    cells = common.selected_customdata(event)
    if cells and st.session_state.get(f"{key}_last") != cells[0]:
        cell = st.session_state[f"{key}_last"] = cells[0]
        st.session_state["tr_train"], st.session_state["tr_test"] = (
            ATTACK_NAMES[int(cell[0])],
            ATTACK_NAMES[int(cell[1])],
        )


with c1:
    if mat is not None:
        ev = st.plotly_chart(
            heatmap(mat, labels, f"ours — {metric}", clickable=True),
            key="tr_ours",
            on_select="rerun",
            selection_mode="points",
            config={"displayModeBar": False},
        )
        clicked(ev, "tr_ours")
    elif ours is not None:
        st.info(f"The transfer results hold no {metric} matrix.")
with c2:
    if metric == "accuracy":
        ev = st.plotly_chart(
            heatmap(paper, labels, "paper — accuracy", clickable=True),
            key="tr_paper",
            on_select="rerun",
            selection_mode="points",
            config={"displayModeBar": False},
        )
        clicked(ev, "tr_paper")
    else:
        st.info("The paper reports transfer **accuracy** only (no AUC matrix).")
c3, c4 = st.columns(2)
with c3:
    if mat is not None and metric == "accuracy":
        diff = np.asarray(mat, float) - paper
        st.plotly_chart(
            heatmap(diff, labels, "ours − paper", zmin=-0.5, zmax=0.5, colorscale="RdBu", fmt="+.2f", zmid=0),
            key="tr_diff",
            config={"displayModeBar": False},
        )
        off = ~np.isnan(diff)
        if off.any():
            st.caption(
                f"mean difference {np.nanmean(diff):+.3f} over {int(off.sum())} off-diagonal cells; "
                f"largest |difference| {np.nanmax(np.abs(diff)):.2f}"
            )
    if ours is not None:
        common.command_box(ours["command"])
        raw = ours.get("raw", {})
        if "note" in raw:
            st.caption(raw["note"])

with c4:
    st.subheader("One pair")
    st.caption("Click a cell of a matrix above, or choose the pair here.")
    p1, p2 = st.columns(2)
    tr = p1.selectbox("Trained on", ATTACK_NAMES, format_func=common.attack_label, key="tr_train")
    st.session_state.setdefault("tr_test", ATTACK_NAMES[1])
    te = p2.selectbox("Tested on", ATTACK_NAMES, format_func=common.attack_label, key="tr_test")
    i, j = ATTACK_NAMES.index(tr), ATTACK_NAMES.index(te)
    cells = []
    if ours is not None:
        for mname in ("accuracy", "auc", "f1"):
            if ours.get(mname) is not None and not np.isnan(ours[mname][i, j]):
                cells.append(f"{mname} **{ours[mname][i, j]:.3f}**")
    if not np.isnan(paper[i, j]):
        cells.append(f"paper accuracy **{paper[i, j]:.2f}**")
    st.markdown(" · ".join(cells) if cells else "No values for this pair.")
    cm = None
    try:
        cm = confusion(ds, tr, te)
    except FileNotFoundError as e:
        common.missing(e, "Confusion matrix")
    except (ValueError, RuntimeError) as e:
        st.warning(f"Confusion matrix unavailable: {e}")
    if cm is not None:
        st.markdown(
            f"Shipped detector trained on **{common.attack_label(tr)}**, applied to all {cm['rows']} rows of the "
            f"**{common.attack_label(te)}** detector data ({cm['rule']}): accuracy "
            f"**{cm['accuracy']:.3f}**.  \n_{cm['note']}._"
        )
        st.plotly_chart(
            confusion_figure(cm["matrix"], f"Confusion matrix: {ATTACK_SHORT[tr]} → {ATTACK_SHORT[te]}"),
            key="tr_cm",
            config={"displayModeBar": False},
        )

st.subheader("Leave one attack out", help=help_for("leave one attack out"))
st.caption("Trained on the other six attacks pooled, tested on the held-out one: generalisation to an unseen attack.")
lo = common.try_call(common.result, ds, "loao", what="Leave-one-attack-out results")
if lo is not None and lo["rows"]:
    series = {
        m: {a: r.get(m) for a, r in lo["rows"].items()}
        for m in ("accuracy", "auc")
        if any(m in r for r in lo["rows"].values())
    }
    st.plotly_chart(
        grouped_bars(series, list(ATTACK_NAMES), ATTACK_LABELS, "Detector tested on the held-out attack"),
        key="tr_loao",
        config={"displayModeBar": False},
    )
    common.command_box(lo["command"])

heldout_section()
