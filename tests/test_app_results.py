"""The result pages with data: synthetic result files in the pipeline's formats, read by core.results.readers and shown.

The files mirror what ``core.experiments.pipeline`` (table3/transfer/loao/table4/embeddings/detector_data/adversarial,
detectors) and ``python -m core attack-quality`` (table2) write, so the pages are exercised end to end
without running the (long) pipeline.
"""
from __future__ import annotations

import io as _io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

import core.results.readers as R
from core import ATTACK_NAMES
from core.data import samples
from core.detector import Detector, RBFHead, store
from core.io.manifest import register_file, update_manifest
from core.io.paper import paper_results
from core.models import DEFAULT_SPECS, build_model
from core.models.classifiers import _load_weights
from core.results.readers import paper_transfer
from tests.support import png

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "app.py")


def write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def build_fake_artifacts(art: Path) -> Path:
    """Write an artifacts folder with the MNIST models and samples plus synthetic results of every kind.

    Call it with ``$ADV_ARTIFACTS`` already pointing at ``art`` (detectors are registered in its manifest).
    """
    src = REPO / "artifacts"
    for sub in ("samples", "paper"):
        shutil.copytree(src / sub, art / sub)
    shutil.copytree(src / "models" / "mnist", art / "models" / "mnist")
    manifest = json.loads((src / "manifest.json").read_text())
    manifest["models"] = {k: v for k, v in manifest["models"].items() if k.startswith("mnist/")}
    manifest["files"] = {
        k: v for k, v in manifest["files"].items() if k.startswith(("models/mnist", "samples", "paper"))
    }
    (art / "manifest.json").write_text(json.dumps(manifest))

    paper_results.cache_clear()
    rng = np.random.default_rng(0)
    res = art / "results" / "mnist"
    res.mkdir(parents=True)
    shutil.copy(src / "results" / "mnist" / "heldout.json", res / "heldout.json")  # the held-out report as shipped
    stamp = {"command": "python -m core pipeline --dataset mnist --n 200", "seed": 0, "n": 200}
    write(
        res / "table2.json",
        {
            "dataset": "mnist",
            "command": "python -m core attack-quality --dataset mnist --n 100",
            "attacks": {
                a: {"success_rate_percent": 90.0 + i, "mse": 0.01 * (i + 1)} for i, a in enumerate(ATTACK_NAMES)
            },
        },
    )
    write(
        res / "table3.json",
        {
            **stamp,
            "note": "mean over folds",
            "table3": {
                a: {
                    "accuracy": 0.9,
                    "f1": 0.89,
                    "auc": 0.95,
                    "auc_hard": 0.9,
                    "std": {"accuracy": 0.01, "f1": 0.01, "auc": 0.01},
                    "params": {"C": 10.0, "gamma": "scale"},
                    "rows": 200,
                    "attacks": 90,
                    "folds": 10,
                }
                for a in ATTACK_NAMES
            },
        },
    )
    acc = rng.uniform(0.5, 1.0, (7, 7))
    write(
        res / "transfer.json",
        {
            **stamp,
            "attacks": list(ATTACK_NAMES),
            "note": "rows = train",
            "accuracy": acc.tolist(),
            "auc": acc.tolist(),
            "f1": acc.tolist(),
        },
    )
    write(
        res / "loao.json",
        {
            **stamp,
            "loao": {
                a: {"accuracy": 0.8, "auc": 0.85, "f1": 0.8, "detection_rate": 0.7, "fpr": 0.1} for a in ATTACK_NAMES
            },
            "mean_accuracy": 0.8,
        },
    )
    rate = {"accuracy": 0.9, "f1": 0.9, "auc": 0.9, "auc_hard": 0.9, "detection_rate": 0.85, "fpr": 0.05}
    write(
        res / "table4.json",
        {
            **stamp,
            "note": "same rows",
            "table4": {
                a: {
                    "feature_squeezing": rate,
                    "feinman": rate,
                    "ours": {**rate, "detection_rate": 0.92},
                    "rows": {"train": 100},
                }
                for a in ATTACK_NAMES
            },
        },
    )

    x, y = samples("mnist")
    x = x.numpy()
    n = 40
    for a in ("fgsm", "igsm"):
        adv = np.clip(x[:n] + rng.normal(0, 0.1, x[:n].shape), 0, 1).astype(np.float16)
        (art / "adversarial" / "mnist").mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            art / "adversarial" / "mnist" / f"{a}.npz",
            x=adv,
            y=y[:n].numpy(),
            attacked_model=np.r_[np.ones(n // 2), 2 * np.ones(n // 2)].astype(np.int64),
            budget=np.full(n, 0.1),
            mse=np.full(n, 0.01),
            source_index=np.arange(n),
            row=np.arange(n),
            adv_pred=np.zeros(n, np.int64),
            dtype=np.array("float16"),
        )
        feats = rng.dirichlet(np.ones(10), (100, 2)).reshape(100, 20)
        lab = np.r_[np.zeros(50), np.ones(50)].astype(np.int64)
        (res / "detector_data").mkdir(parents=True, exist_ok=True)
        np.savez_compressed(res / "detector_data" / f"{a}.npz", features=feats, label=lab)
        m = 30
        emb = {
            "label": np.r_[np.ones(m // 2), np.zeros(m // 2)].astype(np.int64),
            "attacked_model": np.r_[np.ones(m // 4), 2 * np.ones(m // 2 - m // 4), np.zeros(m // 2)].astype(np.int64),
            "y": np.zeros(m, np.int64),
            "image_index": np.r_[np.arange(m // 2), np.arange(m // 2)].astype(np.int64),
            "source_index": np.arange(m),
            "clean_x": (x[: m // 2] * 255).astype(np.uint8),
        }
        for method in ("tsne", "umap"):
            for space in ("pixels", "features"):
                emb[f"{method}_{space}"] = rng.normal(size=(m, 2)).astype(np.float32)
        (res / "embeddings").mkdir(parents=True, exist_ok=True)
        np.savez_compressed(res / "embeddings" / f"{a}.npz", **emb, meta=np.array("{}"))
    for name in ("all", "fgsm", "igsm"):
        store_fake_detector(name, rng)
    return art


def fake_detector(trained_on: str, rng: np.random.Generator, clean_scores: np.ndarray | None = None):
    """A small random RBF head over the 20 features, with operating points from ``clean_scores`` (default: the
    head's own P(attack) on random softmax pairs, standing in for held-out clean images)."""

    head = RBFHead(rng.dirichlet(np.ones(10), (8, 2)).reshape(8, 20), rng.normal(size=8), 0.0, 1.0, (1.0, 0.0))
    det = Detector("mnist", trained_on, head)
    if clean_scores is None:
        clean_scores = det.predict_proba_features(rng.dirichlet(np.ones(10), (200, 2)).reshape(200, 20))
    det.calibrate(clean_scores)
    return det


def store_fake_detector(trained_on: str, rng: np.random.Generator, clean_scores: np.ndarray | None = None):
    """Write a fake detector under ``$ADV_ARTIFACTS`` and register it in the manifest, as the pipeline does."""

    det = fake_detector(trained_on, rng, clean_scores)
    store(det, "python -m core pipeline --dataset mnist --stage detectors")
    return det


@pytest.fixture
def fake_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    art = tmp_path / "artifacts"
    monkeypatch.setenv("ADV_ARTIFACTS", str(art))
    build_fake_artifacts(art)
    yield art

    paper_results.cache_clear()


def page(path: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(path).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_loaders_normalise_the_pipeline_formats(fake_results: Path) -> None:
    t2 = R.table2("mnist")
    assert t2["rows"]["fgsm"]["success_rate_percent"] == 90.0 and t2["command"].startswith(
        "python -m core attack-quality"
    )
    t3 = R.table3("mnist")
    assert (
        t3["rows"]["jsma"]["accuracy"] == 0.9
        and t3["rows"]["jsma"]["accuracy_std"] == 0.01
        and t3["rows"]["jsma"]["C"] == 10.0
    )
    tr = R.transfer("mnist")
    assert tr["accuracy"].shape == (7, 7) and tr["auc"].shape == (7, 7)
    assert R.loao("mnist")["rows"]["deepfool"]["accuracy"] == 0.8
    t4 = R.table4("mnist")
    assert set(t4["methods"]) == {"feature_squeezing", "feinman", "ours"} and t4["methods"]["ours"]["fgsm"] == 0.92
    assert R.embedding_attacks("mnist") == ["fgsm", "igsm"]
    emb = R.embedding("mnist", "fgsm")
    imgs = R.embedding_images("mnist", "fgsm", emb, np.array([0, 20]))
    assert imgs.shape == (2, 1, 28, 28) and imgs.dtype == np.float32
    cm = R.confusion("mnist", "fgsm", "igsm")
    assert cm["matrix"].sum() == 100 and cm["rows"] == 100
    adv = R.adversarial("mnist", "fgsm")
    assert adv["x"].dtype == np.float32 and adv["x"].shape == (40, 1, 28, 28)


def test_paper_transfer_matrix_has_nan_diagonal() -> None:
    m = paper_transfer("mnist")
    assert m.shape == (7, 7) and np.isnan(np.diag(m)).all() and not np.isnan(m[0, 1])


def test_results_page_with_data(fake_results: Path) -> None:
    at = page("pages/results.py")
    assert not at.info  # every table found
    assert len(at.dataframe) >= 4
    codes = [c.value for c in at.code]
    assert any("attack-quality" in c for c in codes) and any("pipeline" in c for c in codes)


def test_transfer_page_with_data_and_confusion(fake_results: Path) -> None:
    at = page("pages/transfer.py")
    charts = at.get("plotly_chart")
    assert len(charts) >= 5  # ours, paper, difference, confusion, LOAO
    at.selectbox(key="tr_train").set_value("fgsm")
    at.selectbox(key="tr_test").set_value("igsm")
    at.run()
    assert not at.exception
    assert any("never saw this attack" in m.value for m in at.markdown)


def test_embeddings_page_with_data(fake_results: Path) -> None:
    at = page("pages/embeddings.py")
    assert at.selectbox(key="emb_attack").options == ["FGSM", "IGSM"]
    for method in ("tsne", "umap"):
        for space in ("pixels", "features"):
            at.radio(key="emb_method").set_value(method)
            at.radio(key="emb_space").set_value(space)
            at.run()
            assert not at.exception
            assert at.get("plotly_chart")
            sep = [m for m in at.metric if "Attack vs clean" in m.label]
            assert len(sep) == 2 and all(0.0 <= float(m.value) <= 1.0 for m in sep)


def test_scan_page_detectors_and_demo(fake_results: Path) -> None:
    at = page("pages/scan.py")
    assert at.selectbox(key="scan_demo_attack").value == "fgsm"
    at.number_input(key="scan_demo_index").set_value(5)
    at.button(key="scan_demo_go").click().run()
    assert not at.exception
    text = "\n".join(m.value for m in at.markdown)
    assert "model 1 →" in text and "truth:" in text
    assert any("Universal detector" in m.value for m in list(at.error) + list(at.success))
    df = at.dataframe[-1].value
    assert list(df["detector trained on"]) == ["FGSM", "IGSM"]


def test_scan_batch_shows_progress_errors_and_flags(fake_results: Path) -> None:
    """Issue 19: a batch with a bad file reads under a status box, and the bad file's row says why, not "None"."""

    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:16] = 255
    at = page("pages/scan.py")
    at.file_uploader(key="scan_upload").set_value(
        [("one.png", png(digit), "image/png"), ("junk.png", b"not an image", "image/png")]).run()
    assert not at.exception
    status = at.status[0]
    assert status.label == "Read 2 files, 1 refused" and status.state == "complete"
    df = at.dataframe[0].value
    verdict = next(c for c in df.columns if c.startswith("verdict at"))
    assert list(df.columns[:3]) == ["file", verdict, "error"]
    bad = df[df["file"] == "junk.png"].iloc[0]
    assert bad[verdict] == "not scanned" and "not a recognised image" in bad["error"]
    assert all(v == "" for k, v in bad.items() if k not in ("file", verdict, "error"))
    assert df[df["file"] == "one.png"].iloc[0][verdict] in ("ATTACK", "clean")


def test_attack_lab_with_a_detector(fake_results: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.selectbox(key="lab_attack").set_value("salt_and_pepper").run()
    at.button(key="lab_run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    run = at.session_state["lab_last_run"]
    assert run.final.p_attack is not None and run.caught is not None
    shown = [m.value for m in list(at.success) + list(at.error) + list(at.warning)]
    assert any(run.verdict() in v for v in shown), shown  # the run's own verdict, word for word


@pytest.fixture
def cifar_standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Artifacts with untrained CIFAR-10 models of the default architectures (the real ones train for an hour)."""


    art = tmp_path / "artifacts"
    monkeypatch.setenv("ADV_ARTIFACTS", str(art))
    build_fake_artifacts(art)
    for which in (1, 2):
        spec = DEFAULT_SPECS[("cifar10", which)]
        torch.manual_seed(which)
        model = build_model("cifar10", spec)
        path = art / "models" / "cifar10" / f"model_{which}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), path)
        rel = register_file(path, "test stand-in")
        update_manifest(
            "models", f"cifar10/model_{which}", {"weights": rel, "arch": spec.arch, "options": spec.options}
        )

    _load_weights.cache_clear()
    yield art
    _load_weights.cache_clear()


def test_cifar10_pages_with_standin_models(cifar_standin: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.selectbox(key="dataset").set_value("cifar10").run()
    assert not at.exception, [e.message for e in at.exception]
    at.selectbox(key="lab_attack").set_value("gaussian_blur").run()
    at.button(key="lab_run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.session_state["lab_last_run"].x0.shape == (3, 32, 32)
    at.switch_page("pages/scan.py").run()
    buf = _io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)).save(buf, format="JPEG")
    at.file_uploader(key="scan_upload").set_value(("photo.jpg", buf.getvalue(), "image/jpeg")).run()
    assert not at.exception, [e.message for e in at.exception]
    text = "\n".join(m.value for m in at.markdown)
    assert "model 1 →" in text and any("centre-cropped 64x48" in m.value for m in at.markdown)


def test_tampered_detector_and_corrupt_result_do_not_crash(fake_results: Path) -> None:
    (fake_results / "detectors" / "mnist" / "fgsm.npz").write_bytes(b"tampered")
    (fake_results / "results" / "mnist" / "loao.json").write_text("{not json")
    at = page("pages/scan.py")
    assert any("skipped" in w.value for w in at.warning)
    at.switch_page("pages/transfer.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("Leave-one-attack-out" in e.value for e in at.error)


def test_corrupt_embeddings_file_is_reported(fake_results: Path) -> None:
    (fake_results / "results" / "mnist" / "embeddings" / "fgsm.npz").write_bytes(b"PK\x03\x04 broken zip")
    at = page("pages/embeddings.py")
    assert at.error and "Embeddings of FGSM" in at.error[0].value
