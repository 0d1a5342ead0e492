"""core.detector: features, the numpy RBF decision, no-pickle storage with a sha256 check."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from scipy.special import expit
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC
from sklearn.utils.estimator_checks import parametrize_with_checks

from core import cli, detector
from core.data import TEST_SIZES, samples
from core.data import test_roles as split_roles  # aliased: pytest would collect test_roles as a test
from core.detector import Detector, MismatchSVM
from core.experiments.benchmarks.detect import record, run
from core.io.files import read_json
from core.io.manifest import IntegrityError
from core.io.paths import detector_relpath, samples_path
from core.models import load_pair
from core.results.operating_points import read_operating_points
from core.results.readers import detector_data_path
from core.results.security import read_security


def _fitted(dataset: str = "mnist", trained_on: str = "all") -> tuple[Detector, np.ndarray, SVC]:
    rng = np.random.default_rng(0)
    f = rng.random((300, 20))
    y = (f[:, 0] + 0.3 * rng.standard_normal(300) > 0.5).astype(np.int64)
    svc = SVC(kernel="rbf", C=10, gamma="scale").fit(f, y)
    return Detector.from_svc(svc, dataset, trained_on, platt=(2.0, 0.1)), f, svc


def test_features_are_two_softmaxes() -> None:
    x, _ = samples("mnist")
    f = detector.features("mnist", x[:32])
    assert f.shape == (32, 20) and f.dtype == torch.float32
    assert torch.allclose(f[:, :10].sum(1), torch.ones(32), atol=1e-5)
    assert torch.allclose(f[:, 10:].sum(1), torch.ones(32), atol=1e-5)


def test_numpy_decision_matches_sklearn() -> None:
    det, f, svc = _fitted()
    np.testing.assert_allclose(det.decision_function_features(f), svc.decision_function(f), rtol=1e-7, atol=1e-9)
    p = det.predict_proba_features(f)
    # Platt: P(attack) = 1 / (1 + exp(-(a * d + b))) with the stored (a, b) = (2.0, 0.1); a flipped sign fails here
    np.testing.assert_allclose(p, 1.0 / (1.0 + np.exp(-(2.0 * svc.decision_function(f) + 0.1))), rtol=1e-12)
    assert (det.head.predict(f) == svc.predict(f)).all()  # scikit-learn's shape at the feature level
    np.testing.assert_allclose(det.head.p_attack(f), p)


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_shipped_detector_is_the_svc_refitted_on_its_shipped_data(dataset: str) -> None:
    """scikit-learn's SVC, refitted with the stored C and gamma on the shipped detector set, gives the same
    decision values as the stored support vectors do (and the stored Platt logit on top of them)."""

    det = detector.load(dataset, "fgsm")
    with np.load(detector_data_path(dataset, "fgsm", "heldout")) as z:  # the held-out protocol's rows
        f, y = z["features"].astype(np.float64), z["label"]
    assert det.meta["train_rows"] == len(y) and det.head.fmap.name == "margins"
    z = det.head.fmap(f)  # the feature map, standardised on these very rows
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-6)
    ref = SVC(kernel="rbf", C=det.head.C, gamma=det.head.gamma).fit(z, y)
    assert abs(len(ref.support_) - len(det.head.dual_coef)) <= 2  # libsvm may keep a borderline vector or not
    q = f[::25]
    ref_q = ref.decision_function(det.head.fmap(q))
    np.testing.assert_allclose(det.decision_function_features(q), ref_q, rtol=0, atol=1e-3)
    a, b = det.head.platt
    np.testing.assert_allclose(det.predict_proba_features(q), expit(a * ref_q + b), atol=1e-3)


def test_mismatch_svm_fit_is_svc_plus_platt_on_out_of_fold_decisions() -> None:
    with pytest.raises(NotFittedError):
        MismatchSVM().decision_function(np.zeros((2, 20)))
    _, f, svc = _fitted()
    y = svc.predict(f) ^ (np.arange(len(f)) % 7 == 0)  # labels with some noise
    head = MismatchSVM(C=10.0, gamma=2.0, cv=3, random_state=0).fit(f, y)
    ref = SVC(kernel="rbf", C=10.0, gamma=2.0).fit(f, y)
    np.testing.assert_allclose(head.decision_function(f), ref.decision_function(f), rtol=1e-7, atol=1e-9)
    oof = np.zeros(len(y))
    for tr, te in StratifiedKFold(3, shuffle=True, random_state=0).split(f, y):
        oof[te] = SVC(kernel="rbf", C=10.0, gamma=2.0).fit(f[tr], y[tr]).decision_function(f[te])
    lr = LogisticRegression(C=1e6).fit(oof[:, None], y)  # an independent Platt fit
    np.testing.assert_allclose(head.head_.platt, (lr.coef_[0, 0], lr.intercept_[0]), rtol=1e-6)


def test_operating_points_flag_at_most_fpr_of_the_calibration_scores() -> None:
    det, f, _ = _fitted()
    with pytest.raises(RuntimeError, match="python -m core calibrate"):
        det.threshold(0.05)
    clean = det.predict_proba_features(f)
    det.calibrate(clean)
    for fpr in (0.01, 0.05, 0.10, 0.3):
        flagged = det.predict_features(f, fpr)
        assert flagged.mean() <= fpr and flagged.mean() >= fpr - 2 / len(f)  # the quantile, no looser
    assert det.threshold(0.01) >= det.threshold(0.05) >= det.threshold(0.10)
    with pytest.raises(ValueError, match="false-positive rate"):
        det.threshold(1.5)


def test_shipped_detectors_state_operating_points_that_hold_on_held_out_clean_images() -> None:
    for ds in ("mnist", "cifar10"):
        doc = read_operating_points(ds)
        for name in detector.TRAINED_ON:
            det = detector.load(ds, name)
            row = doc["detectors"][name]
            for key, point in row.items():
                assert det.threshold(float(key)) == pytest.approx(point["threshold"])
                assert point["clean_fpr_held_out"] <= float(key) + 0.02  # measured on the other half of the test split
            assert row["0.05"]["clean_fpr_held_out"] <= 0.07  # the target


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_torch_module_equals_the_shipped_detector_and_passes_gradients(dataset: str) -> None:
    det = detector.load(dataset)
    x, _ = samples(dataset)
    x = x[:40]
    logit = det.module()(x)
    assert logit.dtype == torch.float32 and logit.shape == (40,)
    np.testing.assert_allclose(torch.sigmoid(logit.double()).numpy(), det.predict_proba(x), atol=1e-5)
    m1, m2 = det.pair()

    assert (m1, m2) == load_pair(dataset)
    xg = x[:4].clone().requires_grad_(True)
    (g,) = torch.autograd.grad(det.module()(xg).sum(), xg)
    assert g.shape == xg.shape and g.abs().sum() > 0
    assert (det.predict(x) == (det.predict_proba(x) > det.threshold(0.05))).all()


def _ship(det: Detector) -> None:
    detector.store(det, "test")


def test_load_roundtrip_and_images(isolated) -> None:
    det, f, _ = _fitted()
    _ship(det)
    back = detector.load("mnist", "all")
    np.testing.assert_allclose(back.predict_proba_features(f), det.predict_proba_features(f))
    x, _ = samples("mnist")
    p = back.predict_proba(x[:8])
    assert p.shape == (8,)
    with pytest.raises(RuntimeError, match="operating points"):
        back.predict(x[:8])
    det.calibrate(det.predict_proba_features(f))
    _ship(det)
    back = detector.load("mnist", "all")
    np.testing.assert_array_equal(back.clean_scores_, np.sort(det.predict_proba_features(f)))
    assert back.threshold(0.05) == det.threshold(0.05) and back.predict(x[:8]).dtype == bool
    with pytest.raises(ValueError, match="variant"):
        detector.load("mnist", "all", variant="nope")


def test_tampered_detector_is_refused(isolated) -> None:
    det, _, _ = _fitted()
    _ship(det)
    path = isolated / (detector_relpath("mnist", "all") + ".npz")
    data = dict(np.load(path))
    data["dual_coef"] = data["dual_coef"] * 1.01
    np.savez(path, **data)
    with pytest.raises(IntegrityError, match="changed or corrupted"):
        detector.load("mnist", "all")


def test_tampered_detector_json_is_refused(isolated) -> None:
    """The ``.json`` half (gamma, intercept, Platt a and b) is checked as strictly as the arrays."""


    det, _, _ = _fitted()
    _ship(det)
    path = isolated / (detector_relpath("mnist", "all") + ".json")
    doc = json.loads(path.read_text())
    doc["platt_a"] = -doc["platt_a"]  # a flipped sign: every verdict turned around
    path.write_text(json.dumps(doc, indent=2) + "\n")
    with pytest.raises(IntegrityError, match="all.json"):
        detector.load("mnist", "all")


def test_missing_and_unknown(isolated) -> None:
    shutil.rmtree(isolated / "detectors", ignore_errors=True)
    with pytest.raises(FileNotFoundError, match="python -m core pipeline --dataset mnist"):
        detector.load("mnist", "fgsm")
    with pytest.raises(ValueError, match="trained_on"):
        detector.load("mnist", "pgd")
    with pytest.raises(ValueError):
        detector.load("svhn")


def test_bench_detect_smoke(isolated, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ADV_DATA_ROOT", str(tmp_path / "no-data"))  # KDE reference falls back to the samples at once

    det, _, _ = _fitted()
    _ship(det)
    r = run("mnist", n=40, repeats=1, mc_samples=2)
    assert r["images"] == 40 and set(r["ratios"]) == {"ours_vs_fs", "ours_vs_feinman", "ours_vs_feinman_head_only",
                                                               "svm_over_forward"}
    assert r["feature_squeezing_without_nlm"] is None  # MNIST's squeezers have no non-local means
    path = record(r)
    assert path == isolated / "results" / "mnist" / "bench_detect.json"
    saved = read_json(path)
    assert saved["command"] == "python -m core bench detect --record" and saved["ratios"] == r["ratios"]
    # the figures are what was timed: ours is two forward passes plus the SVM, each ratio the timings' ratio
    s, ips, q = r["seconds"], r["images_per_s"], r["ratios"]
    assert ips["ours"] == pytest.approx(40 / s["ours"]) and ips["feinman"] == pytest.approx(40 / s["feinman"])
    assert q["ours_vs_feinman"] == pytest.approx(s["feinman"] / s["ours"])
    assert 0 < q["svm_over_forward"] and 0 < q["ours_vs_fs"]
    # python -m core bench detect exits 1 on a missed target, 0 when every target is hit
    monkeypatch.setattr("core.experiments.benchmarks.detect.run", lambda d, n: r)
    easy = ["--target", "ours_vs_fs=0", "--target", "ours_vs_feinman=0", "--target", "svm_over_forward=1e9"]
    assert cli.main(["bench", "detect", "--dataset", "mnist", *easy]) == 0
    assert cli.main(["bench", "detect", "--dataset", "mnist", *easy, "--target", "ours_vs_fs=1e9"]) == 1
    assert cli.main(["bench", "detect", "--dataset", "mnist", *easy, "--target", "svm_over_forward=0"]) == 1


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_unseen_test_indices_are_the_evaluation_role_and_what_the_reports_measure(dataset: str) -> None:
    idx = detector.unseen_test_indices(dataset)
    roles = split_roles(TEST_SIZES[dataset])
    assert idx.dtype == np.int64 and np.all(np.diff(idx) > 0)
    assert np.array_equal(idx, roles["evaluation"]) and len(idx) == 3_000
    # never an image that trained the default detector or set its thresholds
    assert not np.isin(idx, roles["detector"]).any() and not np.isin(idx, roles["calibration"]).any()
    trained = detector.load(dataset).meta["roles"]["detector"]
    assert trained == {**trained, "split": "test", "role": "detector"} and 4_000 < trained["images"] <= 5_000
    assert np.isin(read_security(dataset)["images"]["indices"], idx).all()
    with np.load(samples_path(dataset)) as z:  # the app's sample images: nothing was fitted on them either
        assert np.isin(z["index"], idx).all()


def test_the_test_roles_are_disjoint_seeded_and_cover_the_split() -> None:
    roles = split_roles(10_000)
    assert [len(v) for v in roles.values()] == [5_000, 2_000, 3_000]
    assert np.array_equal(np.sort(np.concatenate(list(roles.values()))), np.arange(10_000))
    assert all(np.array_equal(a, b) for a, b in zip(roles.values(), split_roles(10_000).values()))
    assert not np.array_equal(split_roles(10_000, seed=1)["evaluation"], roles["evaluation"])


@pytest.mark.parametrize("drop", ["calibration", "roles"])
def test_a_detector_without_recorded_roles_is_refused_not_guessed(isolated, monkeypatch, drop: str) -> None:
    det = detector.load("mnist")
    det.meta.pop(drop)
    monkeypatch.setattr("core.detector.shipped.load", lambda dataset: det)
    with pytest.raises(ValueError, match="records no"):
        detector.unseen_test_indices("mnist")


@pytest.mark.parametrize("role", ["calibration", "evaluation"])
def test_calibrating_or_evaluating_on_the_detectors_own_training_role_is_refused(role: str) -> None:
    det = detector.load("mnist")
    det.meta["roles"] = {**det.meta["roles"], "detector": {"split": "test", "role": role, "seed": 0}}
    purpose = "calibrate" if role == "calibration" else "evaluate"
    with pytest.raises(ValueError, match=f"refused: cannot {purpose}.*'{role}' role"):
        detector.check_unseen(det, "test", role, purpose)
    detector.check_unseen(det, "test", "detector", purpose)  # another role is fine


@parametrize_with_checks([MismatchSVM(C=10.0, gamma=1.0)])
def test_mismatch_svm_is_a_scikit_learn_classifier(estimator, check) -> None:
    """scikit-learn's own estimator checks: fitted state set by ``fit`` only, input validation, ``score`` =
    accuracy, binary labels of any kind."""
    check(estimator)
