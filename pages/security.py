"""Security: the detector against attackers who know it, read from ``python -m core security``'s results file."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.app.figures import grouped_bars, roc_figure, security_curves_figure, security_labels
from core.app.glossary import fpr_words, help_for
from core.app.summaries import (
    baseline_rows,
    convergence_rows,
    detected_column,
    detection_column,
    detection_rows,
    headline_eps,
    security_rows,
    security_summary,
    success_column,
)
from core.detector.thresholds import fpr_key
from core.io.labs import dataset_label
from pages import common

SHARE = st.column_config.NumberColumn(format="percent")  # the tables hold shares in [0, 1]

ds = common.dataset()
f = common.fpr()
st.caption("Does the mismatch detector hold when the attacker knows it is there?  Plain attacks, the paper's seven, "
           "and attacks built to fool both models and the detector at once, over a range of budgets (how much each "
           "pixel may change, the L∞ size of the change).", help=help_for("adaptive attack", "budget (ε)", "L∞"))

variant = common.variant_switch(common.security_variants(ds), key="sec_variant")
doc = common.try_call(common.security, ds, variant, what=f"{dataset_label(ds)} security results")
if doc is None:
    st.stop()
labels = security_labels(doc)
e = headline_eps(doc)

st.subheader("What this means for a user")
st.markdown(security_summary(doc, f))

st.subheader("Success against the detector vs budget", help=help_for("success", "budget (ε)", "PGD"))
st.caption(f"Share of {doc['n']} test images on which model 1 is wrong **and** the detector stays silent at "
           f"{fpr_words(doc['fpr'])} (the operating point the file was made at), at each budget ε; "
           f"{doc['steps']} PGD steps of {doc.get('step_size', 'ε/10')} per budget.  Dashed: plain PGD with no "
           f"detector (model 1 fooled); blue: the paper's seven attacks, blind to the detector; bold: attacks that "
           f"target the detector.  Dotted line: the headline budget ε = {e}.")
st.plotly_chart(security_curves_figure(doc, labels), key="sec_curves", config={"displayModeBar": False})

st.subheader("Budget needed: ε50", help=help_for("ε50"))
st.caption(f"ε50: the budget by which the attack succeeded on half of the images (for no detector: fooled model 1); "
           f"\"> max\": fewer than half the images within the largest budget.  Success and detected at ε = {e}.")
st.dataframe(pd.DataFrame(security_rows(doc)), hide_index=True, width="stretch",
             column_config={"ε50": st.column_config.TextColumn(help=help_for("ε50")),
                            success_column(doc): st.column_config.NumberColumn(help=help_for("success"),
                                                                               format="percent"),
                            detected_column(doc): st.column_config.NumberColumn(help=help_for("detection rate"),
                                                                                format="percent"),
                            "verified": st.column_config.NumberColumn(
                                help="Share of the claimed successes that hold on a fresh forward pass.",
                                format="percent"),
                            "seconds": st.column_config.NumberColumn(help="Time the attack took on these images.",
                                                                     format="%.1f")})

st.subheader("Operating points", help=help_for("operating point", "ROC", "AUC"))
op = doc["operating_points"]
key = fpr_key(f)
st.caption(f"ROC of the paper's attacks against clean images (the held-out half of the test split, "
           f"{op.get('clean_images', '?')} images, never used to set a threshold).  Markers: the three operating "
           f"points, at the clean false-positive rate each really gave there and the detection rate it reaches; "
           f"the sidebar's ({fpr_words(f)}) is the large red one.")
st.plotly_chart(roc_figure(op, key, labels), key="sec_roc", config={"displayModeBar": False})
if key in op.get("thresholds", {}):
    st.markdown(f"At **{fpr_words(f)}** the detector flags P(attack) > `{op['thresholds'][key]:.4g}`; on held-out "
                f"clean images that flagged **{100 * op['clean_fpr_held_out'][key]:.1f} %**.")
st.dataframe(pd.DataFrame(detection_rows(doc)), hide_index=True, width="stretch",
             column_config={**{detection_column(k): st.column_config.NumberColumn(help=help_for("detection rate"),
                                                                                  format="percent")
                               for k in op.get("thresholds", {})},
                            "AUC": st.column_config.NumberColumn(help=help_for("AUC"), format="%.3f")})

st.subheader("Convergence check")
conv = doc["convergence"]
short, long = conv["steps"]
st.caption(f"Success at ε = {common.eps_text(conv['eps'], ds)} on {conv['n']} images after {short} and after {long} "
           f"PGD steps: if the long run does much better, the curves above understate the attacker.")
st.plotly_chart(grouped_bars({f"{short} steps": {a: r[0] for a, r in conv["success"].items()},
                              f"{long} steps": {a: r[1] for a, r in conv["success"].items()}},
                             list(conv["success"]), labels), key="sec_conv", config={"displayModeBar": False})
st.dataframe(pd.DataFrame(convergence_rows(doc)), hide_index=True, width="stretch",
             column_config={c: SHARE for c in (f"{short} steps", f"{long} steps", "change")})

if doc.get("baselines"):
    st.subheader("Feature Squeezing and Feinman et al. under the same attacks",
                 help=help_for("Feature Squeezing", "KDE + BU"))
    st.caption("Each baseline at its own threshold for the same clean false-positive rate (set on the same "
               "calibration half), attacked by the same attackers adapted to it where it is differentiable: "
               + "; ".join(f"{k}: {b.get('differentiable', '?')}" for k, b in doc["baselines"].items()) + ".")
    st.dataframe(pd.DataFrame(baseline_rows(doc)), hide_index=True, width="stretch",
                 column_config={success_column(doc): SHARE, detected_column(doc): SHARE, "verified": SHARE})

if doc.get("note"):
    st.caption(doc["note"])
common.command_box(doc["command"])
st.caption(f"Code version `{doc.get('code_version', '?')}`, seed {doc.get('seed', '?')}, detector variant "
           f"`{doc.get('variant', 'paper')}`.")
