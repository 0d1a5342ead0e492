"""The engine behind the dashboard: core.app.attack_run, core.app.scan, core.app.figures (no Streamlit); the Security
page's tables and summary are tests/test_summaries.py."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.app.attack_run import (
    CAUGHT,
    EVADED,
    RIGHT,
    AttackRun,
    RunStep,
    adaptive_attacks,
    amplified,
    attack_choice_label,
    budget_text,
    choose_model,
    distortion,
    is_adaptive,
    paced,
)
from core.app.figures import (
    ADAPTIVE_COLOURS,
    PAPER_COLOURS,
    heatmap,
    log_ticks,
    probs_bars,
    replay_figure,
    roc_figure,
    security_curves_figure,
    security_labels,
    trajectory_figure,
)
from core.app.scan import rows_to_csv, scan, table_rows
from core.app.verdicts import (
    FALSE_ALARM,
    as_given_words,
    clean_share_below,
    detector_sentence,
    percent,
    rank_sentence,
    rank_words,
)
from core.attacks.adaptive.grids import GRIDS
from core.data import CLASSES, samples
from core.data.uploads import quantise
from core.detector import load
from core.detector.thresholds import FPRS, threshold_at
from core.models import load_pair
from tests.support import fake_security_doc


@pytest.fixture(scope="module")
def pair():
    return load_pair("mnist")


def test_choose_model() -> None:
    assert choose_model(1) == 1 and choose_model("2") == 2
    assert {choose_model("coin", s) for s in range(20)} == {1, 2}
    assert choose_model("coin", 7) == choose_model("coin", 7)
    with pytest.raises(ValueError):
        choose_model(3)


def test_distortion_and_amplified() -> None:
    x0 = np.zeros((1, 2, 2), np.float32)
    x = x0.copy()
    x[0, 0, 0] = 0.5
    d = distortion(x0, x)
    assert d == pytest.approx({"mse": 0.0625, "l2": 0.5, "linf": 0.5})
    a = amplified(x0, x)
    assert a[0, 0, 0] == 1.0 and a[0, 1, 1] == 0.5
    assert (amplified(x0, x0) == 0.5).all()


def fake_run(n: int = 3) -> AttackRun:
    rng = np.random.default_rng(0)
    run = AttackRun("mnist", "fgsm", 2, 7, rng.random((1, 28, 28), dtype=np.float32), source="test", seed=3,
                    threshold=0.5, fpr=0.05)
    run.clean_probs_1 = run.clean_probs_2 = np.full(10, 0.1)
    for i in range(n):
        run.steps.append(RunStep(i, 0.1 * i, rng.random((1, 28, 28), dtype=np.float32), rng.dirichlet(np.ones(10)),
                              rng.dirichlet(np.ones(10)), i == n - 1, 0.2 * i))
    return run


def test_run_json_round_trip_is_exact() -> None:
    run = fake_run()
    d = json.loads(run.to_json())
    assert d["attack"] == "fgsm" and d["attacked_model"] == 2 and len(d["steps"]) == 3 and d["label_name"] == "7"
    back = AttackRun.from_json(run.to_json())
    assert np.array_equal(back.x0, run.x0)
    assert all(np.array_equal(a.x, b.x) for a, b in zip(back.steps, run.steps))
    assert back.verdict() == run.verdict() and back.metrics()["l2"] == pytest.approx(run.metrics()["l2"])
    assert d["fpr"] == 0.05 and d["detector_threshold"] == 0.5 and back.fpr == 0.05 and back.threshold == 0.5
    assert "5 % clean false positives" in d["verdict"]
    with pytest.raises(ValueError):
        AttackRun.from_json('{"format": "something else"}')


def test_version_1_run_files_still_load() -> None:
    """A run saved before operating points (no fpr, threshold 0.5, no outcomes) reads back and is judged at 0.5."""
    d = json.loads(fake_run().to_json())
    d["version"] = 1
    for k in ("fpr", "operating_point", "adaptive", "pgd_steps"):
        d.pop(k)
    for s in d["steps"]:
        s.pop("outcome"), s.pop("outcome_name")
    old = AttackRun.from_json(json.dumps(d))
    assert old.fpr is None and old.threshold == 0.5 and all(s.outcome is None for s in old.steps)
    assert old.caught is False and "missed" in old.verdict() and "threshold of 0.50" in old.verdict()
    d.pop("detector_threshold")
    assert AttackRun.from_json(json.dumps(d)).threshold == 0.5


def test_verdicts() -> None:
    run = fake_run()
    assert run.caught is False and "missed" in run.verdict()  # P(attack) 0.4 < 0.5
    assert "at 5 % clean false positives" in run.verdict()
    run.steps[-1].p_attack = 0.9
    assert run.caught and "caught" in run.verdict()
    run.fpr = 0.01
    assert "at 1 % clean false positives" in run.verdict()
    run.threshold, run.detector_note = None, "no operating points"
    assert run.caught is None and "no operating point" in run.verdict()
    run.steps[-1].p_attack = None
    assert "no detector" in run.verdict()
    run.steps[-1].fooled = False
    assert "did not fool" in run.verdict()


def test_live_run_stops_at_the_first_fooling_step(pair) -> None:
    m1, m2 = pair
    x, y = samples("mnist")
    run = AttackRun("mnist", "fgsm", 1, int(y[3]), x[3].numpy())
    steps = list(run.play(m1, m2, None))
    assert steps and steps[0].budget == 0 and np.allclose(steps[0].x, x[3].numpy())
    assert run.fooled and [s.fooled for s in steps] == [False] * (len(steps) - 1) + [True]
    with torch.no_grad():  # the recorded softmax is the models' own
        assert np.allclose(
            steps[-1].probs_1, torch.softmax(m1(torch.from_numpy(steps[-1].x)[None]), 1)[0].numpy(), atol=1e-5
        )
        assert np.allclose(
            steps[-1].probs_2, torch.softmax(m2(torch.from_numpy(steps[-1].x)[None]), 1)[0].numpy(), atol=1e-5
        )
    assert int(np.argmax(steps[-1].probs_1)) != run.label
    m = run.metrics()
    assert m["steps"] == len(steps) and m["linf"] > 0

    with torch.no_grad():  # the 8-bit PNG's own prediction, computed here
        png_pred = int(m1(quantise(torch.from_numpy(steps[-1].x)[None])).argmax(1)[0])
    assert m["png_still_fools"] is (png_pred != run.label)


def test_scan_rows_and_csv(pair) -> None:
    m1, m2 = pair
    x, y = samples("mnist")

    class Always:
        """P(attack) = p for every image; thresholds 0.8 / 0.5 / 0.2 at 1 / 5 / 10 % clean false positives."""

        def __init__(self, p):
            self.p = p

        def threshold(self, fpr=0.05):
            return {0.01: 0.8, 0.05: 0.5, 0.1: 0.2}[fpr]

        def predict_proba_features(self, f):
            assert f.shape[1] == 20
            return np.full(len(f), self.p)

    class Uncalibrated(Always):
        def threshold(self, fpr=0.05):
            raise RuntimeError("no operating points; make them with `python -m core calibrate --dataset mnist`")

    dets = {"all": Always(0.6), "fgsm": Always(0.3), "jsma": Uncalibrated(0.9)}
    r = scan("mnist", x[:3], m1, m2, dets)  # default: 5 %
    assert len(r) == 3 and r[0]["flagged"] == {"all": True, "fgsm": False, "jsma": None}
    assert r[0]["threshold"] == {"all": 0.5, "fgsm": 0.5, "jsma": None} and r[0]["fpr"] == 0.05
    assert "calibrate" in r[0]["no_operating_point"]["jsma"]
    assert scan("mnist", x[:1], m1, m2, dets, fpr=0.01)[0]["flagged"] == {"all": False, "fgsm": False, "jsma": None}
    assert scan("mnist", x[:1], m1, m2, dets, fpr=0.1)[0]["flagged"] == {"all": True, "fgsm": True, "jsma": None}
    assert r[0]["pred_1"] == int(m1(x[:1]).argmax()) and np.isclose(r[0]["probs_2"].sum(), 1)
    rows = table_rows(["a.png", "b.png", "c.png", "bad.png"], [*r, None], [None, None, None, "not an image"])
    csv = rows_to_csv(rows)
    assert csv.splitlines()[0].startswith(
        "file,model_1,conf_1,model_2,conf_2,agree,p_attack_all,threshold_all,"
        "verdict at 5 % clean FPR,p_fgsm,p_jsma,error"
    )
    assert csv.splitlines()[1].split(",")[6:9] == ["0.6", "0.5", "ATTACK"]
    assert csv.splitlines()[4].startswith("bad.png") and "not an image" in csv
    rows = table_rows(["a.png"], scan("mnist", x[:1], m1, m2, dets, fpr=0.01), fpr=0.01)
    assert rows[0]["verdict at 1 % clean FPR"] == "clean" and rows[0]["threshold_all"] == 0.8
    with pytest.raises(ValueError):
        scan("mnist", x[:1], m1, m2, dets, fpr=0.0)


def test_figures() -> None:
    run = fake_run(4)
    fig = replay_figure(run.x0, run.steps, CLASSES["mnist"], "eps", run.label)
    assert len(fig.frames) == 4 and fig.layout.sliders[0].steps[2].args[1]["frame"]["redraw"] is True
    assert fig.data[0].type == "image" and fig.data[0].source.startswith("data:image/png;base64,")
    assert list(fig.layout.yaxis3.range) == [0, 1]
    bars = probs_bars(np.ones(10) / 10, np.eye(10)[2], CLASSES["mnist"], 3, 1)
    assert bars.data[1].y[2] == 1.0 and list(bars.data[0].marker.line.width)[3] == 2  # the true class outlined
    m = np.full((7, 7), 0.5)
    m[0, 0] = np.nan
    h = heatmap(m, list("ABCDEFG"), "t", clickable=True)
    assert h.data[0].texttemplate and h.data[1].type == "scatter" and len(h.data[1].customdata) == 49
    assert not trajectory_figure(run.steps, run.label).layout.shapes  # no operating point: no threshold line


# ------------------------------------------------------------------------------------------- the lab's words, figures


def test_verdict_ranks_an_image_among_the_detectors_clean_scores() -> None:
    """The rank comes from the clean calibration scores and agrees with the threshold set on them."""
    scores = np.random.default_rng(0).beta(0.5, 8, 5000)
    assert clean_share_below(scores.max() + 1, scores) == 1.0 and clean_share_below(-1, scores) == 0.0
    assert clean_share_below(np.sort(scores)[100], scores) == 100 / 5000
    for fpr in FPRS:
        thr = threshold_at(scores, fpr)
        for p in np.concatenate([scores[:300], [thr, np.nextafter(thr, 1)]]):
            share = clean_share_below(p, scores)
            if p > thr:  # flagged: more suspicious than more than 1 - fpr of the clean images
                assert share > 1 - fpr
            else:
                assert share <= 1 - fpr + 1 / len(scores)
                assert "right at the cut-off" in rank_words(share, fpr, False) or float(
                    rank_words(share, fpr, False).split("than ")[1].split(" %")[0]) < 100 * (1 - fpr)
    assert percent(0.929) == "92 %" and percent(0.9987) == "99.8 %" and percent(1.0) == "100 %"
    assert rank_words(0.93, 0.05) == "more suspicious than 93 % of clean test images; flagged above 95 %"
    assert rank_words(1.0, 0.01).startswith("more suspicious than every one of the clean test images")


def test_cifar_verdict_below_a_high_threshold_reads_without_contradiction() -> None:
    """A high P(attack) below CIFAR-10's 5 % threshold is "taken for clean" because it ranks below 95 % of the
    shipped detector's clean calibration images, and the sentence says so."""
    det = load("cifar10")
    thr = det.threshold(0.05)
    p = round(float(np.quantile(det.clean_scores_, 0.93)), 3)  # more than half, under the threshold
    share = clean_share_below(p, det.clean_scores_)
    assert 0.5 < p < thr and share < 0.95
    words = detector_sentence(p, thr, 0.05, share)
    assert words.startswith("takes it for clean — more suspicious than " + percent(share) + " of clean test images")
    assert "flagged above 95 %" in words and f"P(attack) {p:.4g} ≤ threshold {thr:.4g}" in words


def test_scan_detail_ranks_with_calibration_scores_and_without() -> None:
    scores = np.linspace(0, 1, 101)[1:]
    thr = threshold_at(scores, 0.05)
    assert rank_sentence(0.965, thr, 0.05, scores) == ("more suspicious than 96 % of clean test images; flagged "
                                                       "above 95 % · P(attack) 0.965 > threshold 0.96")
    assert rank_sentence(0.5, 0.95, 0.05, None) == "P(attack) 0.5 ≤ threshold 0.95"
    assert "5 % of clean test images" in as_given_words(0.05)


def test_a_clean_image_flagged_before_any_perturbation_is_a_false_alarm_not_caught() -> None:
    run = fake_run()
    run.steps[0].p_attack = 0.9  # step 0 is the clean image: flagged at threshold 0.5
    run.steps[-1].p_attack = 0.95
    assert run.clean_flagged and run.caught
    assert run.verdict().startswith(FALSE_ALARM) and "caught" not in run.verdict()
    assert "flagged too" in run.verdict() and "at 5 % clean false positives" in run.verdict()
    assert FALSE_ALARM in run.detector_line(run.steps[0])[1] and FALSE_ALARM not in run.detector_line(run.final)[1]
    run.steps[-1].fooled = False
    assert run.verdict().startswith(FALSE_ALARM) and "did not fool" in run.verdict()
    run.steps[0].p_attack = 0.1  # not flagged at first: the ordinary outcome
    run.steps[-1].fooled = True
    assert not run.clean_flagged and run.verdict().startswith("caught")
    adaptive = fake_run()
    adaptive.attack, adaptive.steps[0].p_attack = "joint_pgd", 0.9
    for k, s in enumerate(adaptive.steps):
        s.outcome = 1 if k == len(adaptive.steps) - 1 else 0  # model 1 right, then caught
    assert adaptive.verdict().startswith(FALSE_ALARM) and "flagged too" in adaptive.verdict()
    assert AttackRun.from_json(run.to_json()).verdict() == run.verdict()


def test_budgets_in_255ths_for_cifar() -> None:
    assert budget_text(8 / 255, "L∞ ε", "cifar10") == "8/255"
    assert budget_text(3 / 255, "L∞ ε = iterations × 1/255", "cifar10") == "3/255"
    assert budget_text(0.03, "ε (L∞)", "cifar10") == "7.65/255"
    assert budget_text(0.043, "L∞ ε", "mnist") == "0.043" and budget_text(0.5, "σ (pixels)", "cifar10") == "0.5"
    assert budget_text(None, "L∞ ε", "cifar10") == "—"
    run = fake_run()
    run.dataset, run.budget_name, run.x0 = "cifar10", "L∞ ε", np.zeros((3, 32, 32), np.float32)
    for k, s in enumerate(run.steps):
        s.budget, s.x = k / 255, np.full((3, 32, 32), k / 255, np.float32)
    fig = replay_figure(run.x0, run.steps, CLASSES["cifar10"], run.budget_name, run.label, run.budget_text)
    assert [f.layout.title.text.split("L∞ ε = ")[1].split(" ")[0] for f in fig.frames] == ["0/255", "1/255", "2/255"]
    run.steps[0].p_attack = 0.9  # a false alarm on the clean image: the verdict names the budget that fooled
    assert "model 2 fooled at L∞ ε 2/255" in run.verdict()
    traj = trajectory_figure(run.steps, run.label, run.budget_name, 0.5, run.budget_text)
    assert list(traj.layout.xaxis2.ticktext) == ["0/255", "1/255", "2/255"]


def test_replay_frames_keep_each_trace_on_its_own_axes() -> None:
    """Every frame names each trace's axes: without, both images moved into the first panel on replay."""
    run = fake_run(4)
    fig = replay_figure(run.x0, run.steps, CLASSES["mnist"], "eps", run.label, frame_ms=400)
    axes = [(t.xaxis, t.yaxis) for t in fig.data]
    assert len(set(axes)) == 4 and [t.type for t in fig.data] == ["image", "image", "bar", "bar"]
    for f in fig.frames:
        assert [(t.xaxis, t.yaxis) for t in f.data] == axes
    assert fig.layout.updatemenus[0].buttons[0].args[1]["frame"]["duration"] == 400
    assert [f.layout.title.text.split(" · ")[0] for f in fig.frames] == [f"step {k} ({k + 1} of 4)" for k in range(4)]


def test_trajectory_draws_p_attack_on_its_own_readable_log_axis() -> None:
    run = fake_run(4)
    for s, p in zip(run.steps, (0.0021, 0.0115, 0.3, 0.97)):
        s.p_attack = p
    traj = trajectory_figure(run.steps, run.label, "eps", threshold=0.00728)
    pa = next(t for t in traj.data if t.name == "detector: P(attack)")
    assert pa.yaxis == "y2" and traj.layout.yaxis2.type == "log" and traj.layout.yaxis.type in (None, "linear")
    assert list(traj.layout.yaxis.range) == [0, 1.02]
    lo, hi = traj.layout.yaxis2.range
    vals, text = traj.layout.yaxis2.tickvals, traj.layout.yaxis2.ticktext
    assert list(text) == ["0.01", "0.1", "1"] and all(lo <= np.log10(v) <= hi for v in vals)
    line = traj.layout.shapes[0]  # the threshold: on the P(attack) axis, labelled where it is drawn
    assert line.yref == "y2" and line.y0 == line.y1 == 0.00728
    note = next(a for a in traj.layout.annotations if "threshold" in a.text)
    assert note.yref == "y2" and note.y == pytest.approx(np.log10(0.00728))
    for lo_, hi_ in ((0.003, 1), (0.5, 1), (0.95, 1), (1e-5, 1), (0.0115, 1)):
        vals, text = log_ticks(lo_, hi_)
        assert len(vals) >= 3 and all(lo_ <= v <= hi_ for v in vals) and all(len(t) <= 6 for t in text)
        assert [float(t) for t in text] == pytest.approx(vals) and len(set(text)) == len(text)


def test_paced_steps_are_at_least_the_chosen_time_apart() -> None:
    now, slept = [0.0], []

    def sleep(d: float) -> None:
        slept.append(round(d, 6))
        now[0] += d

    def slow(n: int, cost: float):
        for k in range(n):
            now[0] += cost
            yield k

    assert list(paced(slow(4, 0.05), 0.25, clock=lambda: now[0], sleep=sleep)) == [0, 1, 2, 3]
    assert slept == [0.2, 0.2, 0.2]  # each step waits what its computation left of 0.25 s
    slept.clear()
    assert list(paced(slow(3, 0.5), 0.25, clock=lambda: now[0], sleep=sleep)) == [0, 1, 2] and not slept
    assert list(paced(slow(2, 0.05), 0.25, lead=1.0, clock=lambda: now[0], sleep=sleep)) == [0, 1]
    assert slept == [0.95, 0.2]  # the first step after the lead-in, the rest at the pace


def test_a_run_matches_only_its_own_image_and_choices() -> None:
    run = fake_run()
    assert run.matches("mnist", "fgsm", 2, 7, run.x0.copy(), 3)
    other = run.x0.copy()
    other[0, 0, 0] += 0.5
    assert not run.matches("mnist", "fgsm", 2, 7, other, 3)
    assert not run.matches("mnist", "igsm", 2, 7, run.x0, 3) and not run.matches("mnist", "fgsm", 1, 7, run.x0, 3)
    assert not run.matches("mnist", "fgsm", 2, 7, run.x0, 4) and not run.matches("cifar10", "fgsm", 2, 7, run.x0, 3)
    assert not run.matches("mnist", "fgsm", 2, 1, run.x0, 3) and not run.matches("mnist", "fgsm", 2, 7, run.x0, 3,
                                                                                  variant="robust")


# ------------------------------------------------------------------------------------------- adaptive attacks


def test_attack_choice_labels() -> None:
    assert adaptive_attacks()[:2] == ("no_detector", "joint_pgd") and not is_adaptive("fgsm")
    assert attack_choice_label("joint_pgd") == "Joint PGD (adaptive)"
    assert attack_choice_label("no_detector") == "PGD, no detector (reference)"
    assert attack_choice_label("transfer") == "Transfer (surrogate pair, adaptive)"
    assert attack_choice_label("fgsm") == "FGSM"


@pytest.fixture
def one_thread():
    """One torch thread, as the app uses for single-image work (much faster on a busy 2-core machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("attack", ["joint_pgd", "no_detector"])
def test_adaptive_run_on_a_shipped_sample(pair, one_thread, attack: str) -> None:
    """An adaptive run against the shipped detector at 5 %: one step per ε of the grid from the clean image, the
    engine's outcome per step, P(attack) per step equal to the detector's own on the recorded image."""

    det = load("mnist")
    m1, m2 = pair
    x, y = samples("mnist")
    run = AttackRun("mnist", attack, 1, int(y[3]), x[3].numpy(), fpr=0.05, pgd_steps=100)
    steps = list(run.play(m1, m2, det))
    assert run.threshold == det.threshold(0.05) and run.budget_name == "ε (L∞)"
    assert steps[0].budget == 0 and np.array_equal(steps[0].x, x[3].numpy()) and steps[0].outcome == RIGHT
    assert [s.budget for s in steps[1:]] == pytest.approx(list(GRIDS["mnist"][: len(steps) - 1]))
    for s in steps:  # the recorded P(attack) is the detector's on the recorded image, and the softmax the models'
        xs = torch.from_numpy(s.x)[None]
        assert s.p_attack == pytest.approx(float(det.predict_proba(xs)[0]), rel=1e-6, abs=1e-9)
        with torch.no_grad():
            assert np.allclose(s.probs_1, torch.softmax(m1(xs), 1)[0].numpy(), atol=1e-5)
        assert float(np.abs(s.x - x[3].numpy()).max()) <= s.budget + 1e-6
    if attack == "no_detector":  # blind: every budget before the last leaves model 1 right
        assert all(s.outcome == RIGHT for s in steps[1:-1])
    final = steps[-1]
    if final.outcome == EVADED:  # model 1 fooled and the detector silent at the operating point
        assert final.fooled and final.p_attack <= run.threshold * (1 + 1e-4)
        assert run.fooled and run.caught is False and run.verdict().startswith("evaded")
    elif final.outcome == CAUGHT:
        assert run.caught and run.verdict().startswith("caught")
    else:
        assert final.budget == pytest.approx(GRIDS["mnist"][-1]) and "did not fool" in run.verdict()
    assert "at 5 % clean false positives" in run.verdict() or final.outcome == RIGHT
    if attack == "no_detector":  # blind: stops as soon as model 1 errs, flagged or not
        assert final.fooled and final.outcome in (CAUGHT, EVADED)
    back = AttackRun.from_json(run.to_json())
    assert [s.outcome for s in back.steps] == [s.outcome for s in steps] and back.verdict() == run.verdict()


def test_adaptive_run_needs_a_detector_and_model_1(pair) -> None:
    m1, m2 = pair
    x, y = samples("mnist")
    with pytest.raises(ValueError, match="detector"):
        list(AttackRun("mnist", "joint_pgd", 1, int(y[0]), x[0].numpy()).play(m1, m2, None))
    with pytest.raises(ValueError, match="model 1"):
        list(AttackRun("mnist", "joint_pgd", 2, int(y[0]), x[0].numpy()).play(m1, m2, load("mnist")))
    with pytest.raises(ValueError, match="surrogate"):
        list(AttackRun("mnist", "transfer", 1, int(y[0]), x[0].numpy()).play(m1, m2, load("mnist")))


# ------------------------------------------------------------------------------------------- security page helpers


def test_security_figures() -> None:
    doc = fake_security_doc()
    fig = security_curves_figure(doc)
    by = {t.meta: t for t in fig.data}
    assert list(by) == list(doc["curves"])  # one line per attacker, in the file's order
    assert list(by["no_detector"].y) == doc["curves"]["no_detector"]["fooled"] and by["no_detector"].line.dash == "dash"
    assert by["no_detector"].name.startswith("no detector")
    assert list(by["joint_pgd"].y) == doc["curves"]["joint_pgd"]["success"] and by["joint_pgd"].name == "Joint PGD"
    paper = [by[a] for a in ("fgsm", "igsm", "jsma", "deepfool", "gaussian_blur", "gaussian_noise", "salt_and_pepper")]
    adaptive = [by[a] for a in ("joint_pgd", "feature_matching", "s_pgd", "o_pgd", "transfer")]
    assert max(t.line.width for t in paper) < min(t.line.width for t in adaptive)  # adaptive ones bold
    assert all(t.line.color.startswith("#") and t.line.color in fig_colours("paper") for t in paper)
    assert not {t.line.color for t in paper} & {t.line.color for t in adaptive}
    assert fig.layout.shapes[0].x0 == doc["headline"]["eps"]  # the headline budget
    assert "5 % clean false positives" in fig.layout.title.text
    assert security_labels(doc)["gaussian_blur"] == "Gaussian blur"

    op = doc["operating_points"]
    roc = roc_figure(op, "0.01", security_labels(doc))
    lines = [t for t in roc.data if t.mode == "lines"]
    marks = [t for t in roc.data if t.mode == "markers"]
    assert [t.meta for t in lines] == list(op["roc"]) and "AUC 0.900" in lines[0].name
    assert len(marks) == 3 and [m.meta for m in marks] == [
        "operating point 0.01",
        "operating point 0.05",
        "operating point 0.1",
    ]
    five = marks[1]  # at (held-out clean FPR, detection rate) of each paper attack
    assert set(five.x) == {0.0478} and list(five.y) == [op["detection"][a]["0.05"] for a in op["roc"]]
    assert marks[0].marker.size > five.marker.size  # the selected operating point stands out


def fig_colours(kind: str) -> tuple[str, ...]:
    return PAPER_COLOURS if kind == "paper" else ADAPTIVE_COLOURS
