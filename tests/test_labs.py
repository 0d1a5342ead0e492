"""Labs: a user's pair and image folder under the same engine (``python -m core lab create`` and ``--lab``).

Built from shipped files only: the MNIST pair exported to TorchScript / torch.export and the 200 MNIST sample
images written out as PNG files.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.cli import main
from core.data import load_split, samples
from core.detector import load, watched_features
from core.experiments.labs.create import LabConfig, create
from core.experiments.labs.demos import write_png_folder
from core.experiments.security import SecurityConfig
from core.io.files import sha256_file
from core.io.labs import LAB_FILE, lab_names, read_lab
from core.models import load_pair
from core.models.layers import torchvision_model
from core.results.lab_report import build

# TorchScript is what many users still ship; torch 2.10+ deprecates it, and the lab reads it all the same
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*is deprecated:FutureWarning")


@pytest.fixture
def lab_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Labs and caches in ``tmp_path``; the MNIST pair as TorchScript files and the samples as a PNG folder."""
    monkeypatch.setenv("ADV_LABS_DIR", str(tmp_path / "labs"))
    monkeypatch.setenv("ADV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ADV_DATA_ROOT", raising=False)
    x, y = samples("mnist")
    write_png_folder((x.numpy() * 255).round().astype(np.uint8), y.numpy(), tmp_path / "data" / "heldout",
                     tuple(str(c) for c in range(10)))
    for i, m in enumerate(load_pair("mnist"), 1):
        torch.jit.save(torch.jit.script(m), str(tmp_path / f"model_{i}.ts"))
    return tmp_path


def config(root: Path, name: str = "tiny", **kw) -> LabConfig:
    return LabConfig(name, kw.pop("model_1", str(root / "model_1.ts")), kw.pop("model_2", str(root / "model_2.ts")),
                     kw.pop("data", str(root / "data")), **kw)


def test_tiny_lab_end_to_end_from_the_command_line(lab_env: Path, capsys: pytest.CaptureFixture) -> None:
    """create → pipeline → calibrate → heldout → security → report, each one command."""
    r = lab_env
    steps = [
        ["lab", "create", "tiny", "--model-1", str(r / "model_1.ts"), "--model-2", str(r / "model_2.ts"),
         "--data", str(r / "data"), "--linf-step", "5"],
        ["pipeline", "--lab", "tiny", "--n", "20", "--workers", "1"],
        ["calibrate", "--lab", "tiny"],
        ["heldout", "--lab", "tiny", "--n", "8", "--n-unseen", "3", "--no-refits", "--attacks",
         "fgsm,gaussian_noise,pgd_min"],
        ["security", "--lab", "tiny", "--n", "4", "--steps", "5", "--long-steps", "10", "--long-n", "2",
         "--attacks", "no_detector,fgsm,joint_pgd"],
    ]
    for argv in steps:
        assert main(argv) == 0, argv
    assert lab_names() == ["tiny"]
    lab = read_lab("lab:tiny")
    assert lab.shape == (1, 28, 28) and lab.data["images"] == 200 and lab.budgets["grid"][0] == pytest.approx(5 / 255)
    det = load("lab:tiny")
    assert det.meta["roles"]["detector"]["role"] == "detector"
    x, _ = load_split("lab:tiny", "test")
    assert det.predict_proba(x[:5]).shape == (5,)
    root = r / "labs" / "tiny"
    for rel in ("detectors/all.npz", "results/operating_points.json", "results/heldout.json", "results/security.json",
                "adversarial/fgsm.npz", "samples.npz"):
        assert (root / rel).is_file(), rel
    manifest = json.loads((root / "manifest.json").read_text())["files"]
    assert "detectors/all.npz" in manifest and "models/model_1.ts" in manifest
    assert not (Path(__file__).parents[1] / "artifacts" / "detectors" / "all.npz").exists()  # nothing leaked out
    capsys.readouterr()
    for fmt in ("md", "html", "json"):
        assert main(["report", "--lab", "tiny", "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert "Tramèr" in out and "<svg" in out and '"tramer"' in out
    doc = build("lab:tiny")
    assert doc["missing"] == {} and doc["clean_accuracy"]["model_1"] > 90
    assert set(doc["heldout"]["by_attack"]) == {"fgsm", "gaussian_noise", "pgd_min"}
    # a refitted detector never reads the attacks cached against the old one
    before = SecurityConfig("lab:tiny", n=4, steps=5).cache()
    assert main(["pipeline", "--lab", "tiny", "--stage", "detectors", "--n", "12"]) == 0
    assert SecurityConfig("lab:tiny", n=4, steps=5).cache() != before


def test_torchscript_and_torch_export_labs_equal_the_builtin_pair(lab_env: Path) -> None:
    """The foreign-model path gives the built-in pair's numbers on the same images, to 1e-5."""
    m1, m2 = load_pair("mnist")
    export = lab_env / "model_2.pt2"
    ep = torch.export.export(m2, (torch.rand(4, 1, 28, 28),), dynamic_shapes=({0: torch.export.Dim.DYNAMIC},))
    torch.export.save(ep, str(export))
    create(config(lab_env, "ts"), log=lambda s: None)
    create(config(lab_env, "export", model_2=str(export)), log=lambda s: None)
    x, y = samples("mnist")
    xl, yl = load_split("lab:ts", "test")
    # the PNG folder lists images by class, then by file name; map them back
    order = np.argsort(np.lexsort((np.arange(len(y)), y.numpy())))
    assert torch.equal(xl[order], x) and torch.equal(yl[order], y)
    ref = watched_features((m1, m2), x)
    for name in ("lab:ts", "lab:export"):
        got = watched_features(load_pair(name), xl[order])
        assert (got - ref).abs().max() <= 1e-5, name
    assert read_lab("lab:export").models[1]["kind"] == "export"


def test_torchvision_state_dict_lab(lab_env: Path) -> None:
    """ARCH=STATE_DICT: a torchvision architecture, weights only, normalisation given."""
    net = torchvision_model("mobilenet_v3_small", 10)
    torch.save(net.state_dict(), lab_env / "mnv3.pt")
    cfg = config(lab_env, "tv", model_1=f"mobilenet_v3_small={lab_env / 'mnv3.pt'}", channels=3, size=(32, 32),
                 mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), model_2=f"mobilenet_v3_small={lab_env / 'mnv3.pt'}")
    lab = create(cfg, log=lambda s: None)
    assert lab.shape == (3, 32, 32) and lab.models[0]["kind"] == "torchvision"
    model = load_pair("lab:tv")[0]
    x, _ = load_split("lab:tv", "test")
    with torch.no_grad():
        assert torch.allclose(model(x[:4]), net.eval()((x[:4] - 0.5) / 0.25), atol=1e-5)


@pytest.mark.parametrize("change,message", [
    ({"model_2": "{root}/bad.pt"}, "cannot load"),  # corrupt weight file
    ({"model_2": "resnet18={root}/missing.pt"}, "does not exist"),
    ({"model_2": "{root}/five.ts"}, r"gives \(2, 5\)"),  # another number of classes
    ({"size": (32, 32)}, "refuses 1x32x32"),  # an image size the models refuse
    ({"data": "{root}/empty"}, "holds no images"),
    ({"data": "{root}/nowhere"}, "is not a folder"),
    ({"name": "Bad Name"}, "bad lab name"),
    ({"classes": ("0", "1", "x")}, "no folder for class"),
    ({"mean": (0.1,)}, "both --mean and --std"),
])
def test_bad_inputs_are_clear_errors_before_any_work(lab_env: Path, change: dict, message: str) -> None:
    r = lab_env
    (r / "bad.pt").write_bytes(b"not a model at all")
    torch.jit.save(torch.jit.script(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 5))),
                   str(r / "five.ts"))
    for c in "01":
        (r / "empty" / "heldout" / c).mkdir(parents=True, exist_ok=True)
    kw = {k: (v.format(root=r) if isinstance(v, str) else v) for k, v in change.items()}
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        create(config(r, kw.pop("name", "tiny"), **kw), log=lambda s: None)
    assert not (r / "labs").exists() or not any((r / "labs").iterdir())  # nothing written


def test_existing_lab_needs_force_and_unknown_lab_is_named(lab_env: Path, capsys: pytest.CaptureFixture) -> None:
    create(config(lab_env), log=lambda s: None)
    with pytest.raises(FileExistsError, match="--force"):
        create(config(lab_env), log=lambda s: None)
    create(config(lab_env, force=True), log=lambda s: None)
    assert main(["calibrate", "--lab", "nope"]) == 2
    assert "no lab 'nope'" in capsys.readouterr().err
    assert main(["pipeline", "--lab", "tiny", "--protocol", "paper", "--stage", "cv"]) == 2
    assert main(["security", "--lab", "tiny", "--defence", "feinman"]) == 2
    with pytest.raises(ValueError, match="no train split"):
        load_split("lab:tiny", "train")


def test_changed_images_are_refused(lab_env: Path) -> None:
    create(config(lab_env), log=lambda s: None)
    next((lab_env / "data" / "heldout" / "3").iterdir()).unlink()
    for p in (lab_env / "cache" / "decoded").iterdir():
        p.unlink()
    with pytest.raises(ValueError, match="changed since the lab was made"):
        load_split("lab:tiny", "test")


def test_shipped_lab_is_listed_and_matches_its_record() -> None:
    """The committed MNIST TorchScript lab: present, its models verified, its recorded equivalence within 1e-5."""
    lab = read_lab("lab:mnist-torchscript")
    assert (Path(__file__).parents[1] / "artifacts" / "labs" / "mnist-torchscript" / LAB_FILE).is_file()
    assert lab.created["equivalence"]["max_abs_feature_difference_vs_builtin_mnist"] <= 1e-5
    x, y = samples("lab:mnist-torchscript")
    f_lab = watched_features(load_pair("lab:mnist-torchscript"), x)
    f_ref = watched_features(load_pair("mnist"), x)
    assert (f_lab - f_ref).abs().max() <= 1e-5
    assert load("lab:mnist-torchscript").predict(x).dtype == bool


@pytest.mark.parametrize("name", lab_names())
def test_every_shipped_lab_file_matches_its_manifest(name: str) -> None:
    """Each file a shipped lab lists is there with its sha256, or is a model the lab says was not committed."""
    root = Path(__file__).parents[1] / "artifacts" / "labs" / name
    lab = read_lab(f"lab:{name}")
    uncommitted = {m["file"] for m in lab.models if m.get("note")}
    for rel, entry in json.loads((root / "manifest.json").read_text())["files"].items():
        if rel in uncommitted and not (root / rel).exists():
            continue
        assert sha256_file(root / rel) == entry["sha256"], rel
