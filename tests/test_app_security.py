"""The sidebar's operating point, the Security page and the adaptive attacks of the attack lab, through AppTest.

The Security page reads a synthetic ``security.json`` in the schema ``python -m core security`` writes
(``tests.support.fake_security_doc``); the scan verdict is checked against a detector whose operating points
are set around the P(attack) of the uploaded image, so the verdict must flip with the sidebar.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.data.uploads import load_image
from core.detector import Detector, load, pair_features, store
from core.io.manifest import read_manifest, update_manifest
from core.io.paper import paper_results
from core.models import load_pair
from core.results.security import eps_text, read_security
from tests.support import app, figures, markdown, messages, no_exception, png, write_fake_security
from tests.test_app_results import build_fake_artifacts, fake_detector

# ------------------------------------------------------------------------------------------- sidebar


def test_sidebar_operating_point_defaults_to_5_percent() -> None:
    at = app().run()
    no_exception(at)
    box = at.selectbox(key="fpr")
    assert box.label == "Operating point" and box.value == 0.05 and list(box.options) == [
        "1 % clean false positives", "5 % clean false positives", "10 % clean false positives"]


# ------------------------------------------------------------------------------------------- Security page


@pytest.fixture
def security_artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict]:
    """An artifacts folder holding only a synthetic MNIST security.json (the page needs nothing else)."""
    art = tmp_path / "artifacts"
    art.mkdir()
    monkeypatch.setenv("ADV_ARTIFACTS", str(art))
    return art, write_fake_security(art, "mnist")


def test_security_page_shows_curves_table_roc_and_summary(security_artifacts) -> None:
    _, doc = security_artifacts
    at = app().run()
    at.switch_page("pages/security.py").run()
    no_exception(at)
    assert "Security" in at.title[0].value
    figs = figures(at)
    assert len(figs) == 3  # success vs ε, ROC, convergence
    curves = {t["meta"]: t for t in figs[0]["data"]}
    assert list(curves) == list(doc["curves"])
    assert curves["no_detector"]["line"]["dash"] == "dash"
    assert curves["no_detector"]["y"] == doc["curves"]["no_detector"]["fooled"]
    assert curves["joint_pgd"]["y"] == doc["curves"]["joint_pgd"]["success"]
    assert curves["joint_pgd"]["line"]["width"] > curves["fgsm"]["line"]["width"]
    roc = [t for t in figs[1]["data"] if t["mode"] == "markers"]
    assert len(roc) == 3 and roc[1]["x"][0] == 0.0478 and roc[1]["marker"]["size"] > roc[0]["marker"]["size"]

    table = at.dataframe[0].value.set_index("attack")
    assert table.loc["Joint PGD", "ε50"] == "0.18" and table.loc["Orthogonal PGD", "ε50"] == "> max"
    assert table.loc["Joint PGD", "success at ε = 0.3"] == 0.8125 and table.loc["FGSM", "detected at ε = 0.3"] == 0.9
    assert table.loc["Transfer (surrogate pair)", "kind"] == "transfer"
    assert table.loc["Joint PGD", "reference"] == "Carlini & Wagner 2017" and table.loc["FGSM", "seconds"] == 13.5
    detection = at.dataframe[1].value.set_index("attack")
    assert detection.loc["IGSM", "detected at 5 % clean FPR"] == 0.82 and detection.loc["IGSM", "AUC"] == 0.91
    convergence = at.dataframe[2].value.set_index("attack")
    assert convergence.loc["Feature matching", "1000 steps"] == 0.7188

    text = markdown(at)
    assert "Joint PGD evades it on 81 %" in text and "half of them by ε = 0.18" in text
    assert "P(attack) > `0.0123`" in text and "flagged **4.8 %**" in text
    assert any(c.value == doc["command"] for c in at.code)

    at.selectbox(key="fpr").set_value(0.01).run()  # another operating point: the ROC's big marker and the words move
    no_exception(at)
    roc = [t for t in figures(at)[1]["data"] if t["mode"] == "markers"]
    assert roc[0]["marker"]["size"] > roc[1]["marker"]["size"]
    assert "sidebar's operating point (1 % clean false positives)" in markdown(at)
    assert "P(attack) > `0.4321`" in markdown(at)


def test_security_page_without_results_explains(security_artifacts) -> None:
    at = app().run()
    at.switch_page("pages/security.py").run()
    at.selectbox(key="dataset").set_value("cifar10").run()
    no_exception(at)
    assert "python -m core security --dataset cifar10" in messages(at)
    assert not at.get("plotly_chart")


# ------------------------------------------------------------------------------------------- scan at an operating point


@pytest.fixture
def borderline_detector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Fake artifacts whose universal detector flags the test image at 10 % clean false positives, not at 5 % or 1 %."""

    art = tmp_path / "artifacts"
    monkeypatch.setenv("ADV_ARTIFACTS", str(art))
    build_fake_artifacts(art)
    img = np.zeros((28, 28), np.uint8)
    img[5:23, 12:16] = 255
    data = png(img)
    x, _ = load_image(data, "mnist")
    det = fake_detector("all", np.random.default_rng(1))
    p = float(det.predict_proba_features(pair_features(*load_pair("mnist"), x).numpy())[0])
    d = 1e-6
    assert d < p < 1 - d
    det.calibrate(np.r_[np.full(930, p - d), np.full(70, p + d)])  # 10 %: p - d; 5 % and 1 %: p + d
    assert det.threshold(0.1) < p < det.threshold(0.05) == det.threshold(0.01)
    store(det, "python -m core calibrate --dataset mnist")

    yield data, det
    paper_results.cache_clear()


def test_sidebar_operating_point_changes_the_scan_verdict(borderline_detector) -> None:
    data, det = borderline_detector
    at = app().run()
    at.switch_page("pages/scan.py").run()
    at.file_uploader(key="scan_upload").set_value(("one.png", data, "image/png")).run()
    no_exception(at)
    assert any("at 5 % clean false positives" in c.value for c in at.caption)
    verdict = [m.value for m in list(at.success) + list(at.error) if "Universal detector" in m.value]
    assert len(verdict) == 1 and "at 5 % clean false positives: **clean**" in verdict[0] and at.success
    assert f"threshold {det.threshold(0.05):.4g}" in verdict[0]
    per = at.dataframe[0].value
    assert "verdict at 5 % clean FPR" in per.columns

    at.selectbox(key="fpr").set_value(0.1).run()
    no_exception(at)
    verdict = [m.value for m in list(at.success) + list(at.error) if "Universal detector" in m.value]
    assert len(verdict) == 1 and "at 10 % clean false positives: **ATTACK**" in verdict[0]
    assert f"threshold {det.threshold(0.1):.4g}" in verdict[0] and any("Universal" in e.value for e in at.error)
    assert "verdict at 10 % clean FPR" in at.dataframe[0].value.columns

    other = png(np.full((28, 28), 40, np.uint8))  # several files: the table's verdict column names the operating point
    at.file_uploader(key="scan_upload").set_value([("one.png", data, "image/png"), ("b.png", other, "image/png")]).run()
    no_exception(at)
    df = at.dataframe[0].value
    assert list(df["file"]) == ["one.png", "b.png"] and df["verdict at 10 % clean FPR"].iloc[0] == "ATTACK"
    assert df["threshold_all"].iloc[0] == pytest.approx(det.threshold(0.1), rel=1e-5)
    at.selectbox(key="fpr").set_value(0.01).run()
    df = at.dataframe[0].value
    assert df["verdict at 1 % clean FPR"].iloc[0] == "clean"
    assert df["threshold_all"].iloc[0] == pytest.approx(det.threshold(0.01), rel=1e-5)


def test_scan_with_a_detector_without_operating_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    art = tmp_path / "artifacts"
    monkeypatch.setenv("ADV_ARTIFACTS", str(art))
    build_fake_artifacts(art)
    det = fake_detector("all", np.random.default_rng(2))
    det.clean_scores_ = None  # an old detector: scores, but no operating points
    store(det, "python -m core pipeline --dataset mnist --stage detectors")
    at = app().run()
    at.switch_page("pages/scan.py").run()
    img = np.zeros((28, 28), np.uint8)
    img[5:23, 12:16] = 255
    at.file_uploader(key="scan_upload").set_value(("one.png", png(img), "image/png")).run()
    no_exception(at)
    warnings = "\n".join(w.value for w in at.warning)
    assert "`all` has no operating points" in warnings and "python -m core calibrate --dataset mnist" in warnings
    assert "no verdict" in warnings
    assert "model 1 →" in markdown(at)  # the rest of the scan still works


# ------------------------------------------------------------------------------------------- attack lab, adaptive


def test_attack_lab_offers_the_adaptive_attacks_after_the_papers() -> None:
    at = app().run()
    no_exception(at)
    options = list(at.selectbox(key="lab_attack").options)
    assert options[:7] == ["FGSM", "IGSM", "JSMA", "DeepFool", "Gaussian blur", "Gaussian noise",
                           "Salt & pepper"]
    assert options[7:] == ["PGD, no detector (reference)", "Joint PGD (adaptive)", "Feature matching (adaptive)",
                           "Selective PGD (adaptive)", "Orthogonal PGD (adaptive)",
                           "Transfer (surrogate pair, adaptive)"]


def test_attack_lab_adaptive_run_on_a_shipped_sample() -> None:
    """Joint PGD on model 1 of shipped sample 3: the run ends evaded, caught or not fooled, says at which operating
    point, and every step's P(attack) is the detector's on that step's image."""


    at = app().run()
    at.selectbox(key="lab_attack").set_value("joint_pgd").run()
    no_exception(at)
    assert at.radio(key="lab_target").disabled
    assert any("Attacked model: model 1, fixed" in c.value for c in at.caption)
    at.number_input(key="lab_index").set_value(3).run()
    at.button(key="lab_run").click().run()
    no_exception(at)
    run = at.session_state["lab_last_run"]
    assert run.attack == "joint_pgd" and run.attacked == 1 and run.fpr == 0.05 and len(run.steps) >= 2
    det = load("mnist")
    assert run.threshold == det.threshold(0.05)
    for s in run.steps:
        assert s.p_attack == pytest.approx(float(det.predict_proba(torch.from_numpy(s.x)[None])[0]), rel=1e-6, abs=1e-9)
    verdict = messages(at)
    assert any(v in verdict for v in ("evaded", "caught", "did not fool")), verdict
    assert "5 % clean false positives" in verdict
    if run.final.outcome == 2:  # evaded: model 1 wrong, P(attack) under the threshold line
        assert any("evaded" in e.value for e in at.error) and run.final.p_attack <= run.threshold * (1 + 1e-4)
    metrics = {m.label: m for m in at.metric}
    assert set(metrics) >= {"Steps", "Budget reached", "P(attack)"} and "ε (L∞)" in metrics["Budget reached"].help


def test_transfer_attack_without_a_surrogate_pair_explains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    art = tmp_path / "artifacts"
    monkeypatch.setenv("ADV_ARTIFACTS", str(art))
    build_fake_artifacts(art)
    manifest = json.loads((art / "manifest.json").read_text())  # the attacker has not trained its own pair
    manifest["models"] = {k: v for k, v in manifest["models"].items() if "surrogate" not in k}
    manifest["files"] = {k: v for k, v in manifest["files"].items() if "surrogate" not in k}
    (art / "manifest.json").write_text(json.dumps(manifest))
    at = app().run()
    at.selectbox(key="lab_attack").set_value("transfer").run()
    no_exception(at)
    assert "surrogate pair" in messages(at) and "--surrogate" in messages(at)
    assert "lab_run" not in {b.key for b in at.button}  # nothing to run without the attacker's pair


def test_security_page_shows_the_baselines_and_switches_variant(security_artifacts) -> None:
    art, doc = security_artifacts
    fs = {k: copy.deepcopy(doc[k]) for k in ("curves", "eps50", "attacks", "headline")}
    fs["eps50"]["joint_pgd"] = None
    fs.update({"differentiable": "2x2 median: yes; bit depth: BPDA", "threshold": 0.17,
               "not_run": {"transfer": "not run: too slow here"}})
    doc["baselines"] = {"feature_squeezing": fs}
    (art / "results" / "mnist" / "security.json").write_text(json.dumps(doc))
    robust = {**copy.deepcopy(doc), "variant": "robust", "baselines": {}}
    robust["eps50"]["joint_pgd"] = 0.36
    (art / "results" / "mnist" / "security_robust.json").write_text(json.dumps(robust))
    at = app().run()
    at.switch_page("pages/security.py").run()
    no_exception(at)
    base = at.dataframe[3].value
    row = base[(base["defence"] == "feature_squeezing") & (base["attack"] == "Joint PGD")].iloc[0]
    assert row["ε50"] == "> max" and row["success at ε = 0.3"] == 0.8125
    assert "too slow here" in base[base["attack"] == "transfer"]["reference"].iloc[0]
    at.radio(key="sec_variant").set_value("robust").run()
    no_exception(at)
    assert at.dataframe[0].value.set_index("attack").loc["Joint PGD", "ε50"] == "0.36"
    assert len(at.dataframe) == 3  # the robust file has no baselines


def test_attack_lab_switches_to_a_variant_and_shows_its_pair(isolated) -> None:
    """With a second variant shipped, the lab offers it; a run then uses that variant's detector and its pair."""


    models = read_manifest()["models"]
    for which in (1, 2):  # the robust role points at the MLP for both models: a pair unlike the paper's
        update_manifest("models", f"mnist/robust_{which}", models["mnist/model_2"])
    paper = load("mnist")
    robust = Detector("mnist", "all", paper.head, variant="robust", clean_scores_=paper.clean_scores_)
    store(robust, "test")
    at = app().run()
    at.radio(key="lab_variant").set_value("robust").run()
    no_exception(at)
    at.selectbox(key="lab_attack").set_value("fgsm").run()
    at.radio(key="lab_target").set_value("1").run()
    at.number_input(key="lab_index").set_value(3).run()
    at.button(key="lab_run").click().run()
    no_exception(at)
    assert_last_step_is_the_detectors(at.session_state["lab_last_run"], load("mnist", variant="robust"))


def assert_last_step_is_the_detectors(run, det) -> None:
    """The lab's last step shows ``det``'s model 1 bars and ``det``'s own P(attack) of that image."""

    x = torch.from_numpy(run.steps[-1].x)[None]
    with torch.no_grad():
        np.testing.assert_allclose(run.steps[-1].probs_1, torch.softmax(det.pair()[0](x), 1)[0].double().numpy(),
                                   atol=1e-6)
    assert run.steps[-1].p_attack == pytest.approx(float(det.predict_proba(x)[0]), abs=1e-6)


@pytest.mark.parametrize("dataset, variant", [("mnist", "robust"), ("mnist", "robust_pgd")])
def test_security_page_shows_a_committed_variant(dataset: str, variant: str) -> None:
    """The shipped files: the page offers the hardened variant and shows its ε50 as the file says."""

    doc = read_security(dataset, variant)
    at = app().run()
    at.selectbox(key="dataset").set_value(dataset).run()
    at.switch_page("pages/security.py").run()
    no_exception(at)
    at.radio(key="sec_variant").set_value(variant).run()
    no_exception(at)
    table = at.dataframe[0].value.set_index("attack")
    for name, label in (("joint_pgd", "Joint PGD"), ("o_pgd", "Orthogonal PGD")):
        assert table.loc[label, "ε50"] == eps_text(doc["eps50"][name], dataset)


@pytest.mark.parametrize("variant, attack", [("robust", "joint_pgd"), ("robust_pgd", "transfer")])
def test_attack_lab_runs_an_adaptive_attack_against_a_committed_variant(variant: str, attack: str) -> None:
    """The pool watches four models: the lab shows its pair's bars (the shipped pair) and a verdict from all four,
    step by step, as the detector itself scores the image; robust_pgd's transfer attacker brings its own pair."""

    at = app().run()
    at.radio(key="lab_variant").set_value(variant).run()
    at.selectbox(key="lab_attack").set_value(attack).run()
    at.number_input(key="lab_pgd_steps").set_value(10).run()
    at.button(key="lab_run").click().run()
    no_exception(at)
    run = at.session_state["lab_last_run"]
    assert len(run.steps) > 1
    assert_last_step_is_the_detectors(run, load("mnist", variant=variant))
