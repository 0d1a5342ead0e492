"""Attack lab: play one budget search live, step by step, then replay it in the browser.

The paper's seven attacks search their own budget on the chosen model; the adaptive attacks (which know both
models and the detector) attack model 1 over the security evaluation's L∞ grid, judged at the sidebar's
operating point.
"""
from __future__ import annotations

import streamlit as st

from pages import common

# Title first, heavy imports (torch, plotly) after: the page shows up while they load on a cold start.
st.title(":material/bolt: Attack lab")
st.caption("Increase an attack's budget step by step until the attacked model changes its mind, and watch "
           "both models and the mismatch detector react.")

import numpy as np  # noqa: E402

from core import ATTACK_NAMES, DATASET_LABELS  # noqa: E402
from core.app.attack_run import (  # noqa: E402
    AttackRun,
    adaptive_attacks,
    amplified,
    attack_choice_label,
    choose_model,
    is_adaptive,
    step_outcome_text,
)
from core.attacks import ATTACK_SPECS  # noqa: E402
from core.data import CLASSES  # noqa: E402
from core.detector import VARIANT_PAIRS  # noqa: E402
from core.app.figures import display, probs_bars, replay_figure, trajectory_figure, update_probs  # noqa: E402
from core.data.uploads import UPLOAD_TYPES, ImageError, load_image, to_png  # noqa: E402

ds = common.dataset()
fpr = common.fpr()
classes = CLASSES[ds]

variants = common.shipped_variants(ds)
variant = "paper"
if len(variants) > 1:
    variant = st.radio("Detector variant", variants, horizontal=True, key="lab_variant",
                       help=common.variant_help(variants))
role = VARIANT_PAIRS[variant]
pair = common.try_call(common.models, ds, role, what=f"{DATASET_LABELS[ds]} models")
if pair is None:
    st.stop()
m1, m2 = pair
det = common.try_call(common.detector, ds, "all", variant, what="Universal detector (the run still works without it)")

# ----------------------------------------------------------------------------- choices
c1, c2, c3 = st.columns([2, 2, 1])
names = ATTACK_NAMES + adaptive_attacks()  # the paper's seven, then the adaptive
attack = c1.selectbox("Attack", names, key="lab_attack", format_func=attack_choice_label)
adaptive = is_adaptive(attack)
target = c2.radio("Attacked model", ["1", "2", "coin"], horizontal=True, key="lab_target", disabled=adaptive,
                  format_func={"1": "model 1", "2": "model 2", "coin": "🪙 coin flip"}.get)
seed = int(c3.number_input("Seed", 0, 10_000, 0, key="lab_seed"))
which = 1 if adaptive else choose_model(target, seed)
pgd_steps, surrogate = 100, None
if attack in ATTACK_SPECS:
    sp = ATTACK_SPECS[attack]
    st.caption(f"Budget: **{sp.budget_name}** — {sp.schedule} (max {sp.max_budget})")
elif adaptive:
    from core.attacks.adaptive import ADAPTIVE_SPECS
    from core.attacks.adaptive.grids import GRIDS

    sp = ADAPTIVE_SPECS[attack]
    grid = GRIDS[ds]
    pgd_steps = int(st.number_input("PGD steps per budget", 10, 1000, 100, step=10, key="lab_pgd_steps"))
    st.caption("**Attacked model: model 1, fixed** — the model whose answer the user gets.  "
               + ("This reference attacker ignores the detector: " if not sp.adaptive else
                  "This attacker knows both models and the detector, which flags ")
               + (f"it stops when model 1 errs, and the detector judges {common.at_fpr(fpr)}." if not sp.adaptive
                  else f"{common.at_fpr(fpr)}; it stops at the first budget where model 1 is wrong and not flagged.")
               + f"  Objective: {sp.objective} ({sp.reference}).  Budget: L∞ ε from "
               f"{common.eps_text(grid[0], ds)} to {common.eps_text(grid[-1], ds)} ({len(grid)} steps), "
               f"{pgd_steps} PGD steps of ε/10 at each.")
    if det is None:
        st.info("Adaptive attacks attack the detector, and none is shipped for this dataset: pick one of the "
                "paper's attacks, or make the detectors first.", icon="ℹ️")
        st.stop()
    try:
        det.threshold(fpr)
    except RuntimeError as e:
        st.warning(f"The detector has no operating points, so an adaptive attack has nothing to evade: {e}", icon="⚠️")
        st.stop()
    if attack == "transfer":
        surrogate = common.try_call(common.surrogate, ds, variant,
                                    what="The transfer attack needs the attacker's surrogate pair")
        if surrogate is None:
            st.stop()

xs, ys = common.samples(ds)
source = st.radio("Image", ["gallery", "random", "upload"], horizontal=True, key="lab_source",
                  format_func={"gallery": "shipped sample", "random": "random sample", "upload": "upload"}.get)
x0 = label = None
label_source, origin = "ground truth", ""
if source == "gallery":
    idx = int(st.number_input(f"Sample (0–{len(xs) - 1})", 0, len(xs) - 1, key="lab_index"))
    with st.expander("Gallery: the first sample of each class (click to pick)"):
        firsts = [int(np.flatnonzero(ys == c)[0]) for c in range(10)]
        cols = st.columns(10)
        for c, i in enumerate(firsts):
            cols[c].image(display(xs[i], 3), caption=f"#{i} {classes[ys[i]]}")
            cols[c].button("pick", key=f"lab_pick_{i}", on_click=st.session_state.__setitem__, args=("lab_index", i))
    x0, label, origin = xs[idx], int(ys[idx]), f"shipped sample {idx}"
elif source == "random":
    if "lab_random" not in st.session_state or st.button("🎲 another one", key="lab_reroll"):
        st.session_state["lab_random"] = int(np.random.default_rng().integers(len(xs)))
    idx = st.session_state["lab_random"]
    x0, label, origin = xs[idx], int(ys[idx]), f"shipped sample {idx} (random)"
else:
    up = st.file_uploader("Upload an image", type=list(UPLOAD_TYPES), key="lab_upload")
    if up is not None:
        try:
            xt, notes = load_image(up.getvalue(), ds)
            x0, origin = xt[0].numpy(), f"upload {up.name}"
            with st.expander("Preprocessing"):
                st.markdown("\n".join(f"- {n}" for n in notes))
        except ImageError as e:
            st.error(f"Cannot use **{up.name}**: {e}")
    if x0 is not None:
        guess = st.selectbox("True label", ["use model agreement / attacked model's prediction"] + list(classes),
                             key="lab_label")
        if guess in classes:
            label, label_source = classes.index(guess), "chosen by the user"
        else:
            import torch

            with torch.no_grad():
                p = [int(m(torch.from_numpy(x0)[None]).argmax(1)) for m in (m1, m2)]
            label, label_source = p[which - 1], f"model {which}'s clean prediction"

if x0 is None:
    st.info("Upload a PNG, JPEG, BMP, WebP or GIF image to attack it, or pick a shipped sample.")
    st.stop()

# ----------------------------------------------------------------------------- live run
top = st.columns([1, 1, 1, 3])
top[0].image(display(x0), caption=f"original · label {classes[label]}", width="stretch")
ph_adv, ph_pert, ph_info = top[1].empty(), top[2].empty(), top[3].empty()
ph_bars, ph_det, ph_traj = st.empty(), st.empty(), st.empty()
go = st.button(f"▶ Run {attack_choice_label(attack)} on model {which}", type="primary", key="lab_run")


def show_step(run: AttackRun, s, tag: str = "", bars=None) -> None:
    ph_adv.image(display(s.x), caption=f"perturbed · step {s.index}", width="stretch")
    ph_pert.image(display(amplified(run.x0, s.x)), caption="perturbation (amplified)", width="stretch")
    ph_info.markdown(
        f"**Step {s.index}** · {run.budget_name} = `{s.budget:.4g}`  \n"
        f"model 1 → **{classes[int(np.argmax(s.probs_1))]}**, model 2 → **{classes[int(np.argmax(s.probs_2))]}**  \n"
        + step_outcome_text(s))
    fig = (update_probs(bars, s.probs_1, s.probs_2) if bars is not None
           else probs_bars(s.probs_1, s.probs_2, classes, run.label, run.attacked))
    ph_bars.plotly_chart(fig,
                         key=f"lab_bars_{tag}{s.index}",
                         config={"displayModeBar": False})
    if s.p_attack is not None:
        rule = ("no operating point: no verdict" if run.threshold is None else
                f"flags above {run.threshold:.4g}, at {run.operating_point()}")
        ph_det.progress(min(max(s.p_attack, 0.0), 1.0), text=f"detector P(attack) = {s.p_attack:.4g} ({rule})")


if go:
    run = AttackRun(ds, attack, which, int(label), np.asarray(x0, np.float32), source=origin, seed=seed,
                    label_source=label_source, fpr=fpr, pgd_steps=pgd_steps)
    try:
        bars = probs_bars(np.zeros(10), np.zeros(10), classes, run.label, run.attacked)  # built once, updated per step
        with st.spinner("attacking…"):
            for s in run.play(m1, m2, det, surrogate=surrogate):
                show_step(run, s, bars=bars)
                if run.adaptive:  # few, slow steps: watch P(attack) slide against the threshold line live
                    ph_traj.plotly_chart(trajectory_figure(run.steps, run.label, run.budget_name, run.threshold),
                                         key=f"lab_traj_live{s.index}", config={"displayModeBar": False})
    except Exception as e:  # an engine failure must not take the page down
        st.error(f"The attack failed: {type(e).__name__}: {e}")
        st.stop()
    ph_traj.empty()  # the full trajectory follows below
    st.session_state["lab_last_run"] = run

run: AttackRun | None = st.session_state.get("lab_last_run")
if run is None or run.dataset != ds or not run.steps:
    st.caption("Press **Run** to play the budget search.")
    st.stop()
if not go:
    show_step(run, run.final, "final")

# ----------------------------------------------------------------------------- verdict, replay, downloads
st.divider()
m = run.metrics()
verdict = run.verdict()
(st.success if run.caught else st.error if run.fooled and run.caught is False else st.warning)(
    f"**{verdict}** — {attack_choice_label(run.attack)} on model {run.attacked}, {run.source}")
if run.fpr is not None and run.fpr != fpr:
    st.caption(f"This run was judged at {run.operating_point()}; the sidebar now says {common.fpr_label(fpr)}: "
               "run it again to judge at that operating point.")
cols = st.columns(6)
cols[0].metric("Steps", m["steps"])
cols[1].metric(run.budget_name, f"{m['budget']:.4g}")
cols[2].metric("MSE", f"{m['mse']:.2e}")
cols[3].metric("L2", f"{m['l2']:.3f}")
cols[4].metric("L∞", f"{m['linf']:.3f}")
cols[5].metric("P(attack)", "—" if m["p_attack"] is None else f"{m['p_attack']:.3f}")
if m.get("png_still_fools") is False and run.fooled:
    st.caption("Note: rounded to 8 bits (the PNG download), the image no longer fools the model; "
               "the JSON keeps exact values.")

st.subheader("Replay")
st.plotly_chart(replay_figure(run.x0, run.steps, classes, run.budget_name, run.label), key="lab_replay",
                config={"displayModeBar": False})
with st.expander("Trajectory: true-class probability of both models and P(attack) over the budget", expanded=True):
    st.caption("P(attack) on the right-hand log axis; the dashed line is the detector's threshold at "
               f"{run.operating_point()}: below it, the detector takes the image for clean.")
    st.plotly_chart(trajectory_figure(run.steps, run.label, run.budget_name, run.threshold), key="lab_traj",
                    config={"displayModeBar": False})
d1, d2 = st.columns(2)
stem = f"{ds}_{run.attack}_model{run.attacked}"
d1.download_button("⬇ adversarial image (PNG, lossless 8-bit)", to_png(run.final.x), f"{stem}.png", "image/png",
                   key="lab_dl_png", on_click="ignore")
d2.download_button("⬇ the run (JSON, exact float32 images)", run.to_json(), f"{stem}.json", "application/json",
                   key="lab_dl_json", on_click="ignore")
