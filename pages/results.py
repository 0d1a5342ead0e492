"""Results: the held-out detection a user meets first, then the paper's protocol — Tables I–IV beside the paper's,
with deltas and the command that regenerates each."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core import ATTACK_NAMES, DETECTION_METHOD_LABELS
from core.app.glossary import fpr_words, help_for
from core.app.summaries import heldout_rows, heldout_summary
from core.io.labs import dataset_label, is_lab, read_lab
from core.io.paper import paper_results
from core.io.paths import make_command
from core.results.lab_report import REPORT_FORMATS, lab_reports, pair_rows
from core.results.readers import commands, table1_rows, table2_rows, table3_rows, versus_paper
from pages import common

ds = common.dataset()
f = common.fpr()
P = paper_results()
cmds = commands(ds)
SHARE = st.column_config.NumberColumn(format="percent")


def show(df: pd.DataFrame, fmt: dict[str, str] | None = None) -> None:
    """Numbers formatted as text so that a missing value reads "—" (st.dataframe prints NaN as "None")."""
    for c, f in (fmt or {}).items():
        if c in df:
            df[c] = [("—" if v is None or pd.isna(v) else f.format(v)) for v in df[c]]
    st.dataframe(df, hide_index=True, width="stretch")


# ----------------------------------------------------------------------------- held-out detection
st.subheader("Detection on images nothing was trained on", help=help_for("detection rate", "AUC"))
ho = common.try_call(common.heldout, ds, what=f"{dataset_label(ds)} held-out detection results")
if ho:
    st.markdown(heldout_summary(ho, f))
    st.caption(f"The shipped detector (trained on all seven attacks) at {fpr_words(f)} and at each stored point.  "
               f"Each attack ran against model 1 and against model 2 on up to {ho['n']['paper']:,} evaluation images "
               f"({ho['n']['unseen']:,} for the attacks the detector never trained on); the share is of the images "
               "it fooled.  Held-out protocol: "
               + ("the lab's models trained elsewhere; of its held-out images, the detector on half, "
                  if is_lab(ds) else "classifiers trained on the train split, detector on half of the test split, ")
               + "thresholds on a fifth, these figures on the remaining 30 %.")
    rows = heldout_rows(ho, f)
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config={c: SHARE for c in rows[0] if c.startswith("detected")})
    misses = [t for t in ho.get("targets", []) if not t["met"]]
    if misses:
        st.caption("Below the project's bars: " + "; ".join(f"{t['what']} {t['value']:.2f} (bar {t['bar']:.2f})"
                                                           for t in misses) + " — see docs/detection.md.")
    common.command_box(ho["command"])

if is_lab(ds):  # a lab: its pair and its report; the paper's tables need the train split the lab does not have
    st.divider()
    st.subheader("The lab's pair")
    lab = read_lab(ds)
    st.dataframe(pd.DataFrame(pair_rows(lab.models, lab.accuracy)), hide_index=True, width="stretch")
    st.info(f"{dataset_label(ds)} is a lab: the paper's Tables I–IV and its protocol (detector data from the models' "
            "own training images) do not apply.  Its adaptive attacks are on the Security page.",
            icon=":material/info:")
    st.markdown("**The lab's report** (pair, held-out detection, adaptive ε50, what the figures imply):")
    for col, (fmt, text) in zip(st.columns(len(REPORT_FORMATS)), lab_reports(ds).items()):
        col.download_button(f"report.{fmt}", text, file_name=f"{ds.replace(':', '-')}-report.{fmt}",
                            key=f"lab_report_{fmt}", width="stretch")
    common.command_box(make_command("lab_report", ds))
    st.stop()

st.divider()
st.subheader("The paper's protocol: our reproduction beside the paper")
st.caption(f"{dataset_label(ds)}.  As in the paper, the detector data here come from the train split, which the "
           "two classifiers were fitted on: these tables reproduce the paper and do not describe the shipped "
           "detector (above).  Δ = ours − paper.  Empty cells: not measured yet, or not reported by the paper.")

# ----------------------------------------------------------------------------- Table I
st.subheader("Table I — test accuracy of the two classifiers (%)")
rows = table1_rows(ds)
show(
    pd.DataFrame(
        [
            {
                "model": r["model"],
                "architecture": r["arch"]
                + (" " + ", ".join(f"{k}={v}" for k, v in r["options"].items()) if r["options"] else ""),
                "ours": r["ours"],
                "paper": r["paper"],
                "Δ": r["delta"],
            }
            for r in rows
        ]
    ),
    {"ours": "{:.2f}", "paper": "{:.2f}", "Δ": "{:+.2f}"},
)
common.command_box(cmds["table1"])

# ----------------------------------------------------------------------------- Table II
st.subheader("Table II — attack quality", help=help_for("MSE"))
t2 = common.try_call(common.result, ds, "table2", what="Table II")
c2 = table2_rows(ds, t2["rows"] if t2 else {})
show(
    pd.DataFrame(
        [
            {
                "attack": common.attack_label(a),
                "success % (ours)": c["success"]["ours"],
                "success % (paper)": c["success"]["paper"],
                "Δ success": c["success"]["delta"],
                "MSE (ours)": c["mse"]["ours"],
                "MSE (paper)": c["mse"]["paper"],
                "MSE ratio": c["mse"]["ratio"],
            }
            for a, c in c2.items()
        ]
    ),
    {
        "success % (ours)": "{:.1f}",
        "success % (paper)": "{:.1f}",
        "Δ success": "{:+.1f}",
        "MSE (ours)": "{:.3g}",
        "MSE (paper)": "{:.3g}",
        "MSE ratio": "{:.2f}×",
    },
)
if t2:
    common.command_box(t2["command"])

# ----------------------------------------------------------------------------- Table III
st.subheader("Table III — RBF-SVM detector, 10-fold cross-validation",
             help="The detector trained and tested on ten splits of each attack's data.  \n" + help_for("F1", "AUC"))
t3 = common.try_call(common.result, ds, "table3", what="Table III")
recs = []
for a, c in table3_rows(ds, t3["rows"] if t3 else {}).items():
    rec = {"attack": common.attack_label(a)}
    for m in ("accuracy", "f1", "auc"):
        rec[f"{m} (ours)"], rec[f"{m} (paper)"], rec[f"Δ {m}"] = c[m]["ours"], c[m]["paper"], c[m]["delta"]
    recs.append(rec)
show(pd.DataFrame(recs), {c: ("{:+.3f}" if c.startswith("Δ") else "{:.3f}") for c in recs[0] if c != "attack"})
if t3:
    st.caption(t3["raw"].get("note", ""))
    common.command_box(t3["command"])

# ----------------------------------------------------------------------------- Table IV
st.subheader("Table IV — detection rate against the baselines",
             help=help_for("detection rate", "Feature Squeezing", "KDE + BU"))
pt4 = P["table4_detection_rate"][ds]
t4 = common.try_call(common.result, ds, "table4", what="Table IV")
cols4 = ["fgsm", "igsm", "jsma", "deepfool"]
recs = []
for method, per in pt4.items():
    recs.append(
        {
            "method": DETECTION_METHOD_LABELS.get(method, method),
            "source": "paper",
            **{common.attack_label(a): per.get(a) for a in cols4},
        }
    )
if t4:
    for method, per in t4["methods"].items():
        recs.append(
            {
                "method": DETECTION_METHOD_LABELS.get(method, method),
                "source": "ours",
                **{common.attack_label(a): per.get(a) for a in ATTACK_NAMES},
            }
        )
df4 = pd.DataFrame(recs)
show(df4, {c: "{:.3f}" for c in df4.columns if c not in ("method", "source")})
if t4:
    d = {
        common.attack_label(a): versus_paper(t4["methods"]["ours"].get(a), pt4["proposed"].get(a))["delta"]
        for a in cols4
    }
    st.caption(
        "Δ detection rate, ours − paper (bi-model mismatch): "
        + ", ".join(f"{k} {'—' if v is None else f'{v:+.3f}'}" for k, v in d.items())
    )
    if t4.get("fpr"):
        with st.expander("False-positive rates (ours)"):
            show(
                pd.DataFrame(
                    [
                        {
                            "method": DETECTION_METHOD_LABELS.get(m, m),
                            **{common.attack_label(a): v for a, v in per.items()},
                        }
                        for m, per in t4["fpr"].items()
                    ]
                ),
                {common.attack_label(a): "{:.3f}" for a in ATTACK_NAMES},
            )
    st.caption(t4["raw"].get("note", ""))
    common.command_box(t4["command"])
