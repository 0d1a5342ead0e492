"""The dashboard through Streamlit's AppTest: every page, a live attack run, uploads, and missing artifacts."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from core import ATTACK_LABELS, UNSEEN_LABELS
from core.app.verdicts import FALSE_ALARM, clean_share_below, percent
from core.data import samples
from core.data.uploads import load_image
from core.detector import load
from core.io.paper import paper_results
from core.results.heldout import read_heldout
from tests.support import app, markdown, messages, no_exception, png

REPO = Path(__file__).resolve().parent.parent
PAGES = ("pages/attack_lab.py", "pages/scan.py", "pages/transfer.py", "pages/embeddings.py", "pages/results.py",
         "pages/security.py")


# ------------------------------------------------------------------------------------------- pages


def test_app_starts_on_attack_lab_with_sidebar_dataset() -> None:
    at = app().run()
    no_exception(at)
    assert at.selectbox(key="dataset").value == "mnist"
    assert at.title[0].value == ":material/bolt: Attack lab"
    assert at.selectbox(key="lab_attack").options and len(at.radio(key="lab_target").options) == 3
    assert at.button(key="lab_run")


@pytest.mark.parametrize("page,title,widgets", [
    ("pages/scan.py", "Scan images", ["scan_upload"]),
    ("pages/transfer.py", "Transfer matrices", ["tr_metric", "tr_train", "tr_test"]),
    ("pages/embeddings.py", "Embeddings", []),
    ("pages/results.py", "Results vs paper", []),
    ("pages/security.py", "Security", []),
])
@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_every_page_renders(page: str, title: str, widgets: list[str], dataset: str) -> None:
    at = app().run()
    at.selectbox(key="dataset").set_value(dataset).run()
    at.switch_page(page).run()
    no_exception(at)
    assert title in at.title[0].value
    keys = {w.key for kind in ("radio", "selectbox", "file_uploader", "button") for w in getattr(at, kind)}
    for k in widgets:
        assert k in keys, (k, keys)


def test_results_page_shows_table1_and_commands() -> None:
    at = app().run()
    at.switch_page("pages/results.py").run()
    no_exception(at)
    assert any("Table I" in s.value for s in at.subheader)
    assert any("python -m core evaluate-models --dataset mnist" in c.value for c in at.code)
    assert at.dataframe  # Table I at least


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_results_page_leads_with_the_held_out_detection(dataset: str) -> None:
    """The first table is the held-out report's, at the sidebar's operating point, as ``heldout.json`` says."""
    doc = read_heldout(dataset)
    at = app().run()
    at.selectbox(key="dataset").set_value(dataset).run()
    at.selectbox(key="fpr").set_value(0.01).run()
    at.switch_page("pages/results.py").run()
    no_exception(at)
    assert at.subheader[0].value == "Detection on images nothing was trained on"
    table = at.dataframe[0].value.set_index("attack")
    names = [ATTACK_LABELS.get(a) or UNSEEN_LABELS[a] for a in doc["by_attack"]]
    assert list(table.index) == names
    for a, v in zip(names, doc["by_attack"].values()):
        assert table.loc[a, "detected at 1 % clean FPR"] == pytest.approx(v["detection"]["0.01"])
        assert table.loc[a, "detected at 5 % clean FPR"] == pytest.approx(v["detection"]["0.05"])
    assert "of the clean ones at 1 % clean false positives" in markdown(at)
    assert any(c.value == doc["command"] for c in at.code)


def test_transfer_toggle_auc() -> None:
    at = app().run()
    at.switch_page("pages/transfer.py").run()
    at.radio(key="tr_metric").set_value("auc").run()
    no_exception(at)
    assert "accuracy** only" in messages(at)


# ------------------------------------------------------------------------------------------- attack lab


def lab_run(dataset: str = "mnist", attack: str = "fgsm", index: int = 3, model: str = "1"):
    """The attack lab after one run of ``attack`` on shipped sample ``index`` of ``dataset``, paced at 0 s."""
    at = app().run()
    at.selectbox(key="dataset").set_value(dataset).run()
    at.selectbox(key="lab_attack").set_value(attack)
    at.radio(key="lab_target").set_value(model)
    at.number_input(key="lab_index").set_value(index)
    at.select_slider(key="lab_pace").set_value(0)
    at.run()
    at.button(key="lab_run").click().run()
    no_exception(at)
    return at


def test_full_budget_search_run_on_a_shipped_mnist_sample() -> None:
    at = lab_run()
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Steps"]) >= 2
    assert float(metrics["Measured L∞"]) > 0
    run = at.session_state["lab_last_run"]
    assert run.verdict() in messages(at)  # the verdict the run reached, word for word
    assert sorted(b.key for b in at.get("download_button")) == ["lab_dl_json", "lab_dl_png"]
    # stops at the first fooling step
    assert run.fooled and run.steps[-1].fooled and not any(s.fooled for s in run.steps[:-1])
    d = json.loads(run.to_json())
    assert d["attack"] == "fgsm" and len(d["steps"]) == len(run.steps)
    at.run()  # a rerun (e.g. after a download) shows the same run without recomputing
    no_exception(at)
    assert {m.label: m.value for m in at.metric}["Steps"] == metrics["Steps"]


def test_stale_results_are_cleared_when_the_sample_or_attack_changes() -> None:
    """Another sample or attack: the last run's perturbed image, bars, verdict and replay leave the page; back
    to the run's own choices, they return (the run is kept, only not shown beside another image)."""
    at = lab_run()
    run = at.session_state["lab_last_run"]
    assert at.metric and run.verdict() in messages(at)
    at.number_input(key="lab_index").set_value(4).run()
    no_exception(at)
    assert not at.metric and run.verdict() not in messages(at) and not at.get("plotly_chart")
    assert not any("perturbed · step" in str(i.proto) for i in at.get("imgs"))
    assert any("cleared" in c.value for c in at.caption)
    at.number_input(key="lab_index").set_value(3).run()
    assert at.metric and run.verdict() in messages(at)
    at.selectbox(key="lab_attack").set_value("igsm").run()
    no_exception(at)
    assert not at.metric and run.verdict() not in messages(at) and not at.get("plotly_chart")
    at.selectbox(key="lab_attack").set_value("fgsm").run()
    at.radio(key="lab_target").set_value("2").run()
    assert not at.metric  # another attacked model is another run too


def test_lab_names_a_clean_image_flagged_before_any_perturbation() -> None:
    """A shipped clean sample the detector already flags: the outcome is a false alarm, never "caught"."""
    det = load("mnist")
    x, _ = samples("mnist")
    p = det.predict_proba(x)
    flagged = np.flatnonzero(p > det.threshold(0.05))
    assert flagged.size, "no shipped MNIST sample is flagged at 5 % clean false positives"
    at = lab_run(index=int(flagged[0]))
    run = at.session_state["lab_last_run"]
    assert run.clean_flagged and run.verdict().startswith(FALSE_ALARM) and not run.verdict().startswith("caught")
    assert run.verdict() in messages(at) and "false alarm" in "\n".join(c.value for c in at.caption)


def test_cifar_lab_words_budgets_in_255ths_and_ranks_the_verdict() -> None:
    """CIFAR-10: budgets as k/255, the verdict ranked against the detector's clean calibration scores."""
    at = lab_run("cifar10", "igsm", index=0)
    run = at.session_state["lab_last_run"]
    metrics = {m.label: m for m in at.metric}
    assert metrics["Budget reached"].value.endswith("/255") and metrics["Measured L∞"].value.endswith("/255")
    assert all(m.help for m in metrics.values())  # every metric explains itself
    share = clean_share_below(run.final.p_attack, load("cifar10").clean_scores_)
    assert run.final.clean_share == share and metrics["Above clean images"].value == percent(share)
    if run.fooled and run.caught is not None and not run.clean_flagged:
        assert "of clean test images" in run.verdict() and run.verdict() in messages(at)
    shown = run.budget_text(run.final.budget)
    assert shown.endswith("/255") and f"= `{shown}`" in markdown(at)  # the step's budget, as k/255


def test_scan_verdict_ranks_the_image_among_clean_test_images() -> None:
    """The Scan page's verdict line: the rank among the detector's clean calibration images, then P(attack)."""
    x, _ = samples("mnist")
    det = load("mnist")
    p = det.predict_proba(x)
    flagged = int(np.flatnonzero(p > det.threshold(0.05))[0])
    at = app().run()
    at.switch_page("pages/scan.py").run()
    upload = ("sample.png", png((x[flagged, 0].numpy() * 255).round().astype(np.uint8)), "image/png")
    at.file_uploader(key="scan_upload").set_value(upload).run()
    no_exception(at)
    line = next(m for m in messages(at).splitlines() if m.startswith("Universal detector"))
    share = clean_share_below(float(det.predict_proba(load_image(upload[1], "mnist")[0])[0]), det.clean_scores_)
    assert f"**ATTACK** — more suspicious than {percent(share)} of clean test images; flagged above 95 %" in line
    assert any("about the image as given" in c.value for c in at.caption)  # a flag may be a false alarm


def test_attack_lab_upload_good_and_bad() -> None:
    at = app().run()
    at.radio(key="lab_source").set_value("upload").run()
    no_exception(at)
    at.file_uploader(key="lab_upload").set_value(("junk.png", b"this is not a picture", "image/png")).run()
    no_exception(at)
    assert "Cannot use **junk.png**" in messages(at)
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    at.file_uploader(key="lab_upload").set_value(("one.png", png(digit), "image/png")).run()
    no_exception(at)
    assert at.button(key="lab_run")
    # no label given: the attacked model's own clean answer, and the option says exactly that
    at.radio(key="lab_target").set_value("2")
    at.select_slider(key="lab_pace").set_value(0)
    at.run()
    assert at.selectbox(key="lab_label").options[0] == "model 2's own answer on the clean image (the attacked model)"
    at.button(key="lab_run").click().run()
    no_exception(at)
    run = at.session_state["lab_last_run"]
    assert run.label_source == "model 2's clean prediction" and run.label == int(np.argmax(run.steps[0].probs_2))


def test_transfer_attack_caption_says_what_the_attacker_knows() -> None:
    """The transfer attacker knows the architectures and recipe, not the weights, and crafts on its own pair."""
    at = app().run()
    at.selectbox(key="lab_attack").set_value("transfer").run()
    no_exception(at)
    caption = next(c.value for c in at.caption if "Attacked model: model 1" in c.value)
    assert "not their weights" in caption and "surrogate pair of its own" in caption
    assert "knows both models and the detector" not in caption


# ------------------------------------------------------------------------------------------- scan


def test_scan_upload_good_file_then_bad_file() -> None:
    at = app().run()
    at.switch_page("pages/scan.py").run()
    rng = np.random.default_rng(0)
    img = np.full((120, 120), 255, np.uint8)
    img[20:100, 50:70] = 0  # a dark "1" on white paper
    at.file_uploader(key="scan_upload").set_value(("paper.png", png(img), "image/png")).run()
    no_exception(at)
    text = "\n".join(m.value for m in at.markdown)
    assert "model 1 →" in text and "model 2 →" in text
    assert any("inverted" in m.value for m in at.markdown)  # preprocessing notes shown
    at.file_uploader(key="scan_upload").set_value(("broken.jpg", rng.bytes(3000), "image/jpeg")).run()
    no_exception(at)
    assert "broken.jpg" in messages(at) and "not a recognised image" in messages(at)
    assert at.file_uploader(key="scan_upload")  # the app keeps running


def test_scan_many_files_gives_a_table_and_csv() -> None:
    at = app().run()
    at.switch_page("pages/scan.py").run()
    files = [
        (f"d{k}.png", png((np.random.default_rng(k).random((28, 28)) * 255).astype(np.uint8)), "image/png")
        for k in range(3)
    ]
    files.append(("empty.png", b"", "image/png"))
    at.file_uploader(key="scan_upload").set_value(files).run()
    no_exception(at)
    assert at.dataframe
    df = at.dataframe[0].value
    assert list(df["file"]) == ["d0.png", "d1.png", "d2.png", "empty.png"]
    assert "empty" in str(df["error"].iloc[3])
    assert len(at.get("download_button")) >= 1


# ------------------------------------------------------------------------------------------- missing artifacts


@pytest.fixture
def bare_artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Only the MNIST models, samples and the paper's numbers: no CIFAR-10 models, no results, no detectors."""
    art = tmp_path / "artifacts"
    src = REPO / "artifacts"
    for sub in ("samples", "paper"):
        shutil.copytree(src / sub, art / sub)
    shutil.copytree(src / "models" / "mnist", art / "models" / "mnist")
    manifest = json.loads((src / "manifest.json").read_text())
    manifest["models"] = {k: v for k, v in manifest.get("models", {}).items() if k.startswith("mnist/")}
    manifest["files"] = {
        k: v for k, v in manifest.get("files", {}).items() if k.startswith(("models/mnist", "samples", "paper"))
    }
    (art / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("ADV_ARTIFACTS", str(art))

    paper_results.cache_clear()
    yield art
    paper_results.cache_clear()


def test_every_page_explains_missing_artifacts(bare_artifacts: Path) -> None:
    at = app().run()
    no_exception(at)
    for page in PAGES[1:]:
        at.switch_page(page).run()
        no_exception(at)
        assert "python -m core" in messages(at), (page, messages(at))
    at.switch_page(PAGES[0]).run()
    at.selectbox(key="dataset").set_value("cifar10").run()
    no_exception(at)
    assert "python -m core train --dataset cifar10" in messages(at)
    at.switch_page("pages/scan.py").run()
    no_exception(at)
    assert "python -m core train --dataset cifar10" in messages(at)


def test_app_never_imports_umap() -> None:
    sys.modules.pop("umap", None)
    at = app().run()
    for page in PAGES:
        at.switch_page(page).run()
    assert "umap" not in sys.modules


@pytest.mark.first_run
def test_first_run_in_v1_pages_mode_still_gets_navigation_and_sidebar() -> None:
    """Streamlit starts a process in v1 ``pages/`` mode; every page must still come with the sidebar."""
    at = app().run()
    no_exception(at)
    for page, title in (
        ("pages/scan.py", "Scan images"),
        ("pages/attack_lab.py", "Attack lab"),
        ("pages/transfer.py", "Transfer matrices"),
    ):
        at.switch_page(page).run()
        no_exception(at)
        assert title in at.title[0].value
        assert at.selectbox(key="dataset").value == "mnist"


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_results_page_paper_cells_are_the_papers(dataset: str) -> None:
    """Every "paper" cell of Tables I–IV on the Results page is the number in ``paper_results.json``."""
    paper = json.loads((REPO / "artifacts" / "paper" / "paper_results.json").read_text())
    at = app().run()
    at.selectbox(key="dataset").set_value(dataset).run()
    at.switch_page("pages/results.py").run()
    no_exception(at)
    t1, t2, t3, t4 = (d.value for d in at.dataframe[1:5])  # the held-out table comes first
    keys = {"mnist": ("cnn", "mlp"), "cifar10": ("vgg16", "resnet50")}[dataset]
    assert list(t1["paper"]) == [f"{paper['table1_test_accuracy_percent'][dataset][k]:.2f}" for k in keys]
    p2 = paper["table2_attack_quality_500_images"]
    names = ("fgsm", "igsm", "jsma", "deepfool", "gaussian_blur", "gaussian_noise", "salt_and_pepper")
    assert list(t2["success % (paper)"]) == [f"{p2['success_rate_percent'][dataset][a]:.1f}" for a in names]
    assert list(t2["MSE (paper)"]) == [f"{p2['mse'][dataset][a]:.3g}" for a in names]
    p3 = paper["table3_svm_10fold_cv"][dataset]
    for m in ("accuracy", "f1", "auc"):
        assert list(t3[f"{m} (paper)"]) == [f"{p3[a][m]:.3f}" if a in p3 else "—" for a in names]
    p4 = paper["table4_detection_rate"][dataset]
    rows = t4[t4["source"] == "paper"]
    assert len(rows) == len(p4)
    for (_, row), per in zip(rows.iterrows(), p4.values()):
        for a, label in zip(("fgsm", "igsm", "jsma", "deepfool"), ("FGSM", "IGSM", "JSMA", "DeepFool")):
            assert row[label] == (f"{per[a]:.3f}" if per.get(a) is not None else "—")
