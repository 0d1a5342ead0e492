"""The engine behind the dashboard: core.attack_run, core.scan, core.figures (no Streamlit)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.attack_run import AttackRun, Step, amplified, choose_model, distortion
from core.data import CLASSES, samples
from core.models import load_pair


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
    run = AttackRun("mnist", "fgsm", 2, 7, rng.random((1, 28, 28), dtype=np.float32), source="test", seed=3)
    run.clean_probs_1 = run.clean_probs_2 = np.full(10, 0.1)
    for i in range(n):
        run.steps.append(Step(i, 0.1 * i, rng.random((1, 28, 28), dtype=np.float32), rng.dirichlet(np.ones(10)),
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
    with pytest.raises(ValueError):
        AttackRun.from_json('{"format": "something else"}')


def test_verdicts() -> None:
    run = fake_run()
    assert run.caught is False and "missed" in run.verdict()  # P(attack) 0.4 < 0.5
    run.steps[-1].p_attack = 0.9
    assert run.caught and "caught" in run.verdict()
    run.steps[-1].p_attack = None
    assert "no detector" in run.verdict()
    run.steps[-1].fooled = False
    assert "did not fool" in run.verdict()


def test_live_run_stops_at_the_first_fooling_step(pair) -> None:
    pytest.importorskip("core.attacks")
    m1, m2 = pair
    x, y = samples("mnist")
    run = AttackRun("mnist", "fgsm", 1, int(y[3]), x[3].numpy())
    steps = list(run.play(m1, m2, None))
    assert steps and steps[0].budget == 0 and np.allclose(steps[0].x, x[3].numpy())
    assert run.fooled and [s.fooled for s in steps] == [False] * (len(steps) - 1) + [True]
    with torch.no_grad():  # the recorded softmax is the models' own
        assert np.allclose(steps[-1].probs_1, torch.softmax(m1(torch.from_numpy(steps[-1].x)[None]), 1)[0].numpy(), atol=1e-5)
        assert np.allclose(steps[-1].probs_2, torch.softmax(m2(torch.from_numpy(steps[-1].x)[None]), 1)[0].numpy(), atol=1e-5)
    assert int(np.argmax(steps[-1].probs_1)) != run.label
    m = run.metrics()
    assert m["steps"] == len(steps) and m["linf"] > 0 and m["png_still_fools"] in (True, False)


def test_scan_rows_and_csv(pair) -> None:
    from core.scan import rows_to_csv, scan, table_rows

    m1, m2 = pair
    x, y = samples("mnist")

    class Always:
        threshold = 0.5

        def __init__(self, p):
            self.p = p

        def predict_proba_features(self, f):
            assert f.shape[1] == 20
            return np.full(len(f), self.p)

    r = scan("mnist", x[:3], m1, m2, {"all": Always(0.9), "fgsm": Always(0.1)})
    assert len(r) == 3 and r[0]["flagged"] == {"all": True, "fgsm": False}
    assert r[0]["pred_1"] == int(m1(x[:1]).argmax()) and np.isclose(r[0]["probs_2"].sum(), 1)
    rows = table_rows(["a.png", "b.png", "c.png", "bad.png"], [*r, None], [None, None, None, "not an image"])
    csv = rows_to_csv(rows)
    assert csv.splitlines()[0].startswith("file,model_1,conf_1,model_2,conf_2,agree,p_attack_all,verdict,p_fgsm,error")
    assert csv.splitlines()[4].startswith("bad.png") and "not an image" in csv


def test_figures() -> None:
    from core.figures import heatmap, probs_bars, replay_figure, trajectory_figure, update_probs

    run = fake_run(4)
    fig = replay_figure(run.x0, run.steps, CLASSES["mnist"], "eps", run.label)
    assert len(fig.frames) == 4 and fig.layout.sliders[0].steps[2].args[1]["frame"]["redraw"] is True
    assert fig.data[0].type == "image" and fig.data[0].source.startswith("data:image/png;base64,")
    assert list(fig.layout.yaxis3.range) == [0, 1]
    bars = probs_bars(np.zeros(10), np.zeros(10), CLASSES["mnist"], 3, 1)
    update_probs(bars, np.ones(10) / 10, np.eye(10)[2])
    assert bars.data[1].y[2] == 1.0
    m = np.full((7, 7), 0.5)
    m[0, 0] = np.nan
    h = heatmap(m, list("ABCDEFG"), "t", clickable=True)
    assert h.data[0].texttemplate and h.data[1].type == "scatter" and len(h.data[1].customdata) == 49
    assert len(trajectory_figure(run.steps, run.label).data) == 3
