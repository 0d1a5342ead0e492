import json

import pytest
import torch

from core import cli, models
from core.models.training import recipe, train, with_overrides


def _weights(art):
    return torch.load(art / "models" / "mnist" / "model_1.pt", weights_only=True)


def test_cli_trains_one_batch_and_ships(tiny_data_root, isolated, capsys):
    rc = cli.main(["train", "--dataset", "mnist", "--model", "1", "--epochs", "1", "--limit", "64",
                   "--data-root", str(tiny_data_root)])
    assert rc == 0
    manifest = json.loads((isolated / "manifest.json").read_text())
    entry = manifest["models"]["mnist/model_1"]
    assert entry["epochs"] == 1 and entry["recipe"]["limit"] == 64 and entry["test_images"] == 50
    assert "test accuracy" in capsys.readouterr().out
    model = models.load_model("mnist", 1)  # sha256 of the new file was recorded
    assert model(torch.rand(1, 1, 28, 28)).shape == (1, 10)


def test_adopt_replaces_the_entry_and_takes_the_training_record(tiny_data_root, isolated, tmp_path, capsys):
    """Weights trained elsewhere replace the whole manifest entry (no stale recipe or epochs of the model they
    replace); a ``<weights>.json`` beside them gives epochs, recipe and device; a file that does not fit fails."""
    weights = tmp_path / "cnn.pt"
    torch.save(models.build_model("mnist", models.ModelSpec("mnist_cnn")).state_dict(), weights)
    (tmp_path / "cnn.json").write_text(json.dumps({"epochs": 7, "gpu": "NVIDIA H200", "recipe": "SGD", "other": 1}))
    rc = cli.main(["adopt", "--dataset", "mnist", "--role", "model", "--model", "1", "--weights", str(weights),
                   "--arch", "mnist_cnn", "--provenance", "elsewhere",
                   "--data-root", str(tiny_data_root)])
    assert rc == 0 and "test accuracy" in capsys.readouterr().out
    entry = json.loads((isolated / "manifest.json").read_text())["models"]["mnist/model_1"]
    assert entry["epochs"] == 7 and entry["trained_on"] == "NVIDIA H200" and entry["recipe"] == "SGD"
    assert entry["provenance"] == "elsewhere" and "train_seconds" not in entry and "other" not in entry
    models.load_model("mnist", 1)  # the new file's sha256 was recorded
    torch.save({"w": torch.zeros(1)}, weights)
    before = (isolated / "manifest.json").read_text()
    rc = cli.main(["adopt", "--dataset", "mnist", "--model", "2", "--weights", str(weights), "--arch", "mnist_mlp",
                   "--data-root", str(tiny_data_root)])
    assert rc == 2 and "state_dict" in capsys.readouterr().err
    assert (isolated / "manifest.json").read_text() == before  # nothing changed


def test_resume_after_kill_gives_the_same_weights(tiny_data_root, isolated):
    cfg = with_overrides(recipe("mnist", 1), epochs=2, limit=100, data_root=str(tiny_data_root))
    train(cfg)
    uninterrupted = _weights(isolated)
    (isolated.parent / "cache" / "checkpoints" / "mnist-model1.pt").unlink()

    calls = []

    def killing_progress(batches, desc=""):
        calls.append(desc)
        if "epoch 2/2" in desc:
            raise KeyboardInterrupt  # killed at the start of the second epoch
        return batches

    with pytest.raises(KeyboardInterrupt):
        train(cfg, progress=killing_progress)
    resumed_from = []
    train(cfg, progress=lambda b, desc="": resumed_from.append(desc) or b)
    assert resumed_from == ["mnist model 1 epoch 2/2"]  # epoch 1 was not redone
    for k, v in uninterrupted.items():
        assert torch.equal(v, _weights(isolated)[k]), k


def test_cli_bad_option_is_a_clear_error(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--dataset", "imagenet"])
    assert "invalid choice" in capsys.readouterr().err


def test_cli_missing_data(tmp_path, isolated, capsys):
    rc = cli.main(["train", "--dataset", "mnist", "--model", "2", "--data-root", str(tmp_path / "none")])
    assert rc == 2 and "MNIST not found" in capsys.readouterr().err


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for command in ("train", "evaluate-models", "make-samples"):
        assert command in out


def test_cli_pgd_trains_the_robust_pgd_role_all_adversarial(tiny_data_root, isolated, capsys):
    """``train --robust --pgd``: the multi-step recipe (7 steps; the CNN all adversarial) under its own role;
    its surrogate under ``robust-pgd-surrogate``; ``--pgd`` alone, or on CIFAR-10, is a clear error."""
    rc = cli.main(["train", "--dataset", "mnist", "--robust", "--pgd", "--surrogate", "--model", "2", "--epochs",
                   "1", "--limit", "64", "--data-root", str(tiny_data_root)])
    assert rc == 0
    entry = json.loads((isolated / "manifest.json").read_text())["models"]["mnist/robust-pgd-surrogate_2"]
    r = entry["recipe"]
    assert (r["adv_steps"], r["adv_weight"], r["adv_eps"], r["seed"]) == (7, 0.5, 0.3, 1)  # the MLP: half clean
    models.load_model("mnist", 2, "robust-pgd-surrogate")  # the new file's sha256 was recorded
    capsys.readouterr()
    assert cli.main(["train", "--dataset", "mnist", "--pgd"]) == 2 and "add --robust" in capsys.readouterr().err
    assert cli.main(["train", "--dataset", "cifar10", "--robust", "--pgd"]) == 2
    assert "MNIST's" in capsys.readouterr().err
