"""core.detector: features, the numpy RBF decision, no-pickle storage with a sha256 check."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.svm import SVC

from core import detector
from core.data import samples
from core.detector import Detector, detector_relpath


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
    assert p.shape == (300,) and ((p >= 0) & (p <= 1)).all()
    assert (det.predict_features(f) == (p >= 0.5)).all()


def _ship(det: Detector) -> None:
    from core.manifest import register_file
    from core.paths import artifacts_dir

    for path in det.save(artifacts_dir() / detector_relpath(det.dataset, det.trained_on)):
        register_file(path, "test")


def test_load_roundtrip_and_images(isolated) -> None:
    det, f, _ = _fitted()
    _ship(det)
    back = detector.load("mnist", "all")
    np.testing.assert_allclose(back.predict_proba_features(f), det.predict_proba_features(f))
    x, _ = samples("mnist")
    p = back.predict_proba(x[:8])
    assert p.shape == (8,) and back.predict(x[:8]).dtype == bool


def test_tampered_detector_is_refused(isolated) -> None:
    from core.manifest import IntegrityError

    det, _, _ = _fitted()
    _ship(det)
    path = isolated / (detector_relpath("mnist", "all") + ".npz")
    data = dict(np.load(path))
    data["dual_coef"] = data["dual_coef"] * 1.01
    np.savez(path, **data)
    with pytest.raises(IntegrityError):
        detector.load("mnist", "all")


def test_missing_and_unknown(isolated) -> None:
    import shutil

    shutil.rmtree(isolated / "detectors", ignore_errors=True)
    with pytest.raises(FileNotFoundError, match="python -m core pipeline --dataset mnist"):
        detector.load("mnist", "fgsm")
    with pytest.raises(ValueError, match="trained_on"):
        detector.load("mnist", "pgd")
    with pytest.raises(ValueError):
        detector.load("svhn")


def test_bench_detect_smoke(isolated, tmp_path, monkeypatch) -> None:
    from core.benchmarks.detect import record, run
    from core.io import read_json

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
