"""``--device``: the CPU default, the model wrapper that runs a network elsewhere, and the CUDA path where a GPU is."""
from __future__ import annotations

import pytest
import torch

from core import cli
from core.data import samples
from core.detector import pair_features
from core.experiments.benchmarks.device_speed import figures, format_device, run
from core.models import load_model, load_pair
from core.models.device import OnDevice, on_device, resolve
from core.models.training import augment_batch

GPU = torch.cuda.is_available()
DEVICE_COMMANDS = ("train", "evaluate-models", "attack-quality", "pipeline", "calibrate", "harden", "security")


def test_resolve_names_and_errors():
    assert resolve("cpu") == torch.device("cpu")
    assert resolve("auto").type == ("cuda" if GPU else "cpu")
    with pytest.raises(ValueError, match="unknown device"):
        resolve("tpu")
    if not GPU:
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            resolve("cuda")


def test_on_device_cpu_is_the_model_itself():
    m = load_model("mnist", 1)
    assert on_device(m, "cpu") is m
    assert load_model("mnist", 1, device="cpu") is m  # the cached, verified model


def test_wrapper_gives_the_same_outputs_and_input_gradients():
    """The wrapper's copies across devices are differentiable: an attack's gradient is the model's."""
    m = load_model("cifar10", 2)
    wrapped = OnDevice(__import__("copy").deepcopy(m), torch.device("cpu"))
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    (ga,) = torch.autograd.grad(m(xa)[:, 3].sum(), xa)
    (gb,) = torch.autograd.grad(wrapped(xb)[:, 3].sum(), xb)
    assert torch.allclose(m(x), wrapped(x), atol=1e-6)
    assert torch.allclose(ga, gb, atol=1e-6)


@pytest.mark.parametrize("command", DEVICE_COMMANDS)
def test_every_engine_command_takes_device(command):
    args = cli.build_parser().parse_args([command, "--dataset", "mnist", "--device", "auto"])
    assert args.device == "auto"
    bench = cli.build_parser().parse_args(["bench", "device", "--device", "cpu"])
    assert bench.device == "cpu"


@pytest.mark.skipif(GPU, reason="checks the message a machine without a GPU gives")
def test_cuda_without_gpu_is_one_clear_line(capsys):
    assert cli.main(["evaluate-models", "--dataset", "mnist", "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "no CUDA GPU" in err and "--device cpu" in err


def test_bench_device_on_the_cpu_reports_every_figure(monkeypatch):
    r = run("mnist", "cpu", n=24)
    cpu = r["runs"]["cpu"]
    assert set(r["runs"]) == {"cpu"} and "gpu_over_cpu" not in r
    assert cpu["detect_images_per_s"] > 0 and cpu["joint_pgd_steps_per_s"] > 0
    # every searched image takes at least one IGSM step and at most the attack's 128
    assert cpu["igsm_search_images_per_s"] <= cpu["igsm_search_steps_per_s"] <= 128 * cpu["igsm_search_images_per_s"]
    assert set(cpu["train_epoch_seconds"]) == {"model_1", "model_2"} and min(cpu["train_epoch_seconds"].values()) > 0
    assert "detect images/s" in format_device(r)
    # a CPU-only run holds no agreement target (nothing to agree with); a missed target exits 1
    f = figures(r)
    assert "features_max_abs_diff" not in f and f["cpu_detect_images_per_s"] == cpu["detect_images_per_s"]
    monkeypatch.setattr("core.experiments.benchmarks.device_speed.run", lambda d, device, n: r)
    assert cli.main(["bench", "device", "--dataset", "mnist", "--device", "cpu"]) == 0
    assert cli.main(["bench", "device", "--dataset", "mnist", "--device", "cpu",
                     "--target", "cpu_detect_images_per_s=1e12"]) == 1
    gpu = {**r, "agreement": {"features_max_abs_diff": 3e-5, "igsm_budgets_identical": 1.0}}
    monkeypatch.setattr("core.experiments.benchmarks.device_speed.run", lambda d, device, n: gpu)
    assert cli.main(["bench", "device", "--dataset", "mnist", "--device", "cpu"]) == 1  # features beyond 1e-5


def test_augmentation_is_a_crop_and_a_flip_per_image():
    """The vectorised augmentation (same draws on any device) against a per-image reference."""

    x = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    out = augment_batch(x, torch.Generator().manual_seed(5), pad=2)
    g = torch.Generator().manual_seed(5)
    oy, ox = torch.randint(0, 5, (6,), generator=g), torch.randint(0, 5, (6,), generator=g)
    flip = torch.rand(6, generator=g) < 0.5
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(6):
        ref = padded[i, :, oy[i] : oy[i] + 8, ox[i] : ox[i] + 8]
        assert torch.equal(out[i], ref.flip(-1) if flip[i] else ref)


@pytest.mark.skipif(not GPU, reason="needs a CUDA GPU")
@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_gpu_features_match_the_cpu(dataset):
    x, _ = samples(dataset)
    cpu = pair_features(*load_pair(dataset), x)
    gpu = pair_features(*load_pair(dataset, device=str(resolve("cuda"))), x)
    assert (cpu - gpu).abs().max() < 1e-5
