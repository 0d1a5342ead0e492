"""Attack lab: play one budget search live, step by step, then replay it in the browser.

The paper's seven attacks search their own budget on the chosen model; the adaptive attacks (which know both
models and the detector; the transfer attacker only their architectures and recipe) attack model 1 over the
security evaluation's L∞ grid, judged at the sidebar's operating point.  A run's results show only beside the
image and choices it was run on.
"""
from __future__ import annotations

import streamlit as st

from pages import common

# The caption first (app.py shows the title), heavy imports (torch, plotly) after: the page shows up while
# they load on a cold start.
st.caption("Increase an attack's budget step by step until the attacked model changes its mind, and watch "
           "both models and the mismatch detector react.")

import numpy as np  # noqa: E402

from core import ATTACK_NAMES  # noqa: E402
from core.app.attack_run import (  # noqa: E402
    AttackRun,
    adaptive_attacks,
    amplified,
    attack_choice_label,
    budget_text,
    choose_model,
    clean_prediction,
    clean_softmax,
    is_adaptive,
    paced,
    step_outcome,
)
from core.app.figures import REPLAY_FRAME_MS, display, replay_figure, trajectory_figure  # noqa: E402
from core.app.verdicts import CLEAN_IMAGES, cut_percent, false_alarm_words, percent  # noqa: E402
from core.attacks import ATTACK_SPECS  # noqa: E402
from core.attacks.adaptive import ADAPTIVE_SPECS  # noqa: E402
from core.attacks.adaptive.grids import GRIDS  # noqa: E402
from core.data import CLASSES  # noqa: E402
from core.data.uploads import UPLOAD_TYPES, ImageError, load_image, to_png  # noqa: E402
from core.detector import VARIANT_PAIRS  # noqa: E402
from core.io.labs import dataset_label  # noqa: E402
from pages.lab_widgets import probs_html  # noqa: E402

PACES = (0, 100, REPLAY_FRAME_MS, 500, 1000, 2000)  # ms per step, live and in the replay
LEAD_S = 1.0  # a paced run's first step waits this long: the browser first redraws the page the run started from
AUTO_LABEL = "auto"  # the upload's label option: the attacked model's own clean prediction
OUTCOME_ICONS = {"fooled": ":red[:material/error:]", "evaded": ":red[:material/error:]",
                 "caught": ":orange[:material/shield:]", "not_yet": ":gray[:material/hourglass_top:]",
                 "right": ":gray[:material/check_circle:]"}  # Material icons: headless browsers lack emoji fonts

ds = common.dataset()
fpr = common.fpr()
classes = CLASSES[ds]

variant = common.variant_switch(common.shipped_variants(ds), key="lab_variant")
role = VARIANT_PAIRS[variant]
pair = common.try_call(common.models, ds, role, what=f"{dataset_label(ds)} models")
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
                  format_func={"1": "model 1", "2": "model 2", "coin": "coin flip"}.get)
seed = int(c3.number_input("Seed", 0, 10_000, 0, key="lab_seed"))
which = 1 if adaptive else choose_model(target, seed)
pgd_steps, surrogate = 100, None
if attack in ATTACK_SPECS:
    sp = ATTACK_SPECS[attack]
    st.caption(f"Budget: **{sp.budget_name}** — {sp.schedule} (max {budget_text(sp.max_budget, sp.budget_name, ds)})")
elif adaptive:
    sp = ADAPTIVE_SPECS[attack]
    grid = GRIDS[ds]
    pgd_steps = int(st.number_input("PGD steps per budget", 10, 1000, 100, step=10, key="lab_pgd_steps"))
    if attack == "transfer":
        knows = ("This attacker knows the architectures and training recipe of both models, not their weights: it "
                 "crafts on a surrogate pair of its own (same recipe, another training run) and its gradients never "
                 f"touch the real models; the real models and detector judge each budget {common.at_fpr(fpr)}, and "
                 "it stops at the first budget where model 1 is wrong and not flagged.")
    elif sp.adaptive:
        knows = (f"This attacker knows both models and the detector, which flags {common.at_fpr(fpr)}; it stops at "
                 "the first budget where model 1 is wrong and not flagged.")
    else:
        knows = f"This reference attacker ignores the detector: it stops when model 1 errs, and the detector " \
                f"judges {common.at_fpr(fpr)}."
    st.caption("**Attacked model: model 1, fixed** — the model whose answer the user gets.  " + knows
               + f"  Objective: {sp.objective} ({sp.reference}).  Budget: L∞ ε from "
               f"{common.eps_text(grid[0], ds)} to {common.eps_text(grid[-1], ds)} ({len(grid)} steps), "
               f"{pgd_steps} PGD steps of ε/10 at each.")
    if det is None:
        st.info("Adaptive attacks attack the detector, and none is shipped for this dataset: pick one of the "
                "paper's attacks, or make the detectors first.", icon=":material/info:")
        st.stop()
    try:
        det.threshold(fpr)
    except RuntimeError as e:
        st.warning(f"The detector has no operating points, so an adaptive attack has nothing to evade: {e}",
                   icon=":material/warning:")
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
        for row in (firsts[:5], firsts[5:]):  # five a row: a class name fits its column at 1024 px
            for col, i in zip(st.columns(5), row):
                col.image(display(xs[i], 3), caption=f"#{i} {classes[ys[i]]}")
                col.button("pick", key=f"lab_pick_{i}", on_click=st.session_state.__setitem__, args=("lab_index", i))
    x0, label, origin = xs[idx], int(ys[idx]), f"shipped sample {idx}"
elif source == "random":
    if "lab_random" not in st.session_state or st.button("another one", icon=":material/casino:",
                                                                   key="lab_reroll"):
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
        guess = st.selectbox("True label", [AUTO_LABEL] + list(classes), key="lab_label",
                             format_func=lambda g: f"model {which}'s own answer on the clean image (the attacked "
                                                   "model)" if g == AUTO_LABEL else g)
        if guess in classes:
            label, label_source = classes.index(guess), "chosen by the user"
        else:
            label, label_source = clean_prediction(pair[which - 1], x0), f"model {which}'s clean prediction"

if x0 is None:
    st.info("Upload a PNG, JPEG, BMP, WebP or GIF image to attack it, or pick a shipped sample.")
    st.stop()

# ----------------------------------------------------------------------------- live run
top = st.columns([1, 1, 1, 2])
top[0].image(display(x0), caption=f"original · label {classes[label]}", width="stretch")
ph_adv, ph_pert, ph_info = top[1].empty(), top[2].empty(), top[3].empty()
ph_det, ph_bars, ph_traj = st.empty(), st.empty(), st.empty()
c_pace, c_go = st.columns([2, 3], vertical_alignment="bottom")
pace = c_pace.select_slider(
    "Pace: time per step", PACES, value=REPLAY_FRAME_MS, key="lab_pace",
    format_func=lambda ms: "as fast as it computes" if ms == 0 else f"{ms / 1000:g} s",
    help="How long each step of the search stays on screen, live and in the replay: an MNIST search computes "
         "40 steps in under a second, faster than a browser draws them.  Step by step: the replay's slider.")
go = c_go.button(f"Run {attack_choice_label(attack)} on model {which}", icon=":material/play_arrow:", type="primary",
                 key="lab_run")
# Before any step: both models on the clean image.
p1, p2 = clean_softmax(m1, m2, x0)
ph_info.markdown(f"**Clean image** · model 1 → **{classes[int(np.argmax(p1))]}**, "
                 f"model 2 → **{classes[int(np.argmax(p2))]}**")
ph_bars.markdown(probs_html(p1, p2, classes, label, which), unsafe_allow_html=True)


def show_step(run: AttackRun, s) -> None:
    """One step of a run in the live area: both images, the step in words, the detector's bar, the softmax."""
    kind, words = step_outcome(s)
    ph_adv.image(display(s.x), caption=f"perturbed · step {s.index}", width="stretch")
    ph_pert.image(display(amplified(run.x0, s.x)), caption="perturbation, amplified", width="stretch")
    ph_info.markdown(
        f"**Step {s.index}** · {run.budget_name} = `{run.budget_text(s.budget)}`  \n"
        f"model 1 → **{classes[int(np.argmax(s.probs_1))]}**, model 2 → **{classes[int(np.argmax(s.probs_2))]}**  \n"
        f"{OUTCOME_ICONS[kind]} {words}")
    ph_bars.markdown(probs_html(s.probs_1, s.probs_2, classes, run.label, run.attacked), unsafe_allow_html=True)
    if s.p_attack is not None:
        fill, text = run.detector_line(s)
        ph_det.progress(fill, text=text)


if go:
    run = AttackRun(ds, attack, which, int(label), np.asarray(x0, np.float32), source=origin, seed=seed,
                    label_source=label_source, fpr=fpr, pgd_steps=pgd_steps, variant=variant)
    try:
        with st.spinner("attacking…"):
            for s in paced(run.play(m1, m2, det, surrogate=surrogate), pace / 1000, LEAD_S if pace else 0.0):
                show_step(run, s)
                if run.adaptive:  # few, slow steps: watch P(attack) slide against the threshold line live
                    ph_traj.plotly_chart(trajectory_figure(run.steps, run.label, run.budget_name, run.threshold,
                                                           run.budget_text),
                                         key=f"lab_traj_live{s.index}", config={"displayModeBar": False})
    except Exception as e:  # an engine failure must not take the page down
        st.error(f"The attack failed: {type(e).__name__}: {e}")
        st.stop()
    ph_traj.empty()  # the full trajectory follows below
    st.session_state["lab_last_run"] = run

run: AttackRun | None = st.session_state.get("lab_last_run")
if run is None or not run.steps or not run.matches(ds, attack, which, int(label), x0, seed, variant, pgd_steps):
    st.caption("Press **Run** to play the budget search on this image."
               + ("" if run is None else "  (The last run was of another image, attack or setting: its results are "
                                         "cleared.)"))
    st.stop()
if not go:
    show_step(run, run.final)

# ----------------------------------------------------------------------------- verdict, replay, downloads
st.divider()
m = run.metrics()
verdict = run.verdict()
tone = (st.warning if run.clean_flagged else st.success if run.caught
        else st.error if run.fooled and run.caught is False else st.warning)
tone(f"**{verdict}** — {attack_choice_label(run.attack)} on model {run.attacked}, {run.source}")
if run.verdict_detail():
    st.caption(run.verdict_detail())
if run.clean_flagged and run.fpr is not None:
    st.caption(false_alarm_words(run.fpr))
if run.fpr is not None and run.fpr != fpr:
    st.caption(f"This run was judged at {run.operating_point()}; the sidebar now says {common.fpr_words(fpr)}: "
               "run it again to judge at that operating point.")
budget_help = (f"**{run.budget_name}** at the last step: the budget the search reached.  For an L∞ budget it is "
               "the most any pixel may change; the measured L∞ can be smaller (pixels at black or white cannot move "
               "past [0, 1], and iterative attacks need not use the whole budget).")
rank = ("—" if run.final.clean_share is None else percent(run.final.clean_share))
cols = st.columns(3)
cols[0].metric("Steps", m["steps"], help="Budgets tried, from the clean image (step 0) to the last one shown.")
cols[1].metric("Budget reached", run.budget_text(m["budget"]), help=budget_help)
cols[2].metric("Measured L∞", common.eps_text(m["linf"], ds),
               help="The largest change of any one pixel, measured on the final image (0–1 scale; CIFAR-10 in "
                    "1/255 steps).  It can be below the budget: see *Budget reached*.")
cols = st.columns(3)
cols[0].metric("P(attack)", "—" if m["p_attack"] is None else f"{m['p_attack']:.3f}",
               help="The detector's probability that the final image is an attack; it flags above "
                    + ("no threshold" if run.threshold is None else f"{run.threshold:.4g}")
                    + f" ({run.operating_point()}).")
cols[1].metric("Above clean images", rank,
               help=f"The share of the detector's {run.clean_images or 'held-out'} {CLEAN_IMAGES} with a lower "
                    "P(attack) than the final image"
                    + ("" if run.fpr is None else f"; the detector flags above {cut_percent(run.fpr)}") + ".")
cols[2].metric("MSE", f"{m['mse']:.1e}",
               help="Mean squared change per pixel (0–1 scale), the size the paper's Table II reports.  Its "
                    f"Euclidean (L2) size over all pixels: {m['l2']:.3f} (also in the JSON download).")
if m.get("png_still_fools") is False and run.fooled:
    st.caption("Note: rounded to 8 bits (the PNG download), the image no longer fools the model; "
               "the JSON keeps exact values.")

st.subheader("Replay")
st.caption("Press play, or drag the slider to step through the search one step at a time.")
st.plotly_chart(replay_figure(run.x0, run.steps, classes, run.budget_name, run.label, run.budget_text,
                              pace or REPLAY_FRAME_MS),  # "as fast as it computes" has no meaning in a replay
                key="lab_replay", config={"displayModeBar": False})
with st.expander("Trajectory: true-class probability of both models and P(attack) over the budget", expanded=True):
    st.caption("Below, P(attack) on a log axis of its own; the dashed line is the detector's threshold at "
               f"{run.operating_point()}: it flags the image above it, takes it for clean below.")
    st.plotly_chart(trajectory_figure(run.steps, run.label, run.budget_name, run.threshold, run.budget_text),
                    key="lab_traj", config={"displayModeBar": False})
d1, d2 = st.columns(2)
stem = f"{ds}_{run.attack}_model{run.attacked}"
d1.download_button("adversarial image (PNG, lossless 8-bit)", to_png(run.final.x), f"{stem}.png", "image/png",
                   icon=":material/download:", key="lab_dl_png", on_click="ignore")
d2.download_button("the run (JSON, exact float32 images)", run.to_json(), f"{stem}.json", "application/json",
                   icon=":material/download:", key="lab_dl_json", on_click="ignore")
