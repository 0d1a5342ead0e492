"""Table II's runner (``python -m core attack-quality``): success over attackable images, MSE over successes, resume."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.attacks import BudgetResult
from core.experiments import table2 as quality
from core.io.files import read_json
from core.io.manifest import verified_path


class FakeSearch:
    """A budget search with a known outcome: image ``i`` is already misclassified when ``i % 5 == 0``, fooled
    when ``i % 5 in (1, 2)`` (shifted by ``(i % 5) / 10``), and not fooled otherwise (its clean image back)."""

    def __init__(self, stop_at: str | None = None) -> None:
        self.calls: list[str] = []
        self.stop_at = stop_at

    def __call__(self, name, model, x, y, seed=0) -> BudgetResult:
        if name == self.stop_at:
            raise KeyboardInterrupt  # killed while attacking this one
        self.calls.append(name)
        k = (x[:, 0, 0, 0] * 1000).round().long() % 5  # the image's number, written into its first pixel
        mis, fooled = k == 0, (k == 1) | (k == 2)
        x_adv = x.clone()
        x_adv[fooled] += (k[fooled].float() / 10).view(-1, 1, 1, 1)
        n = len(x)
        return BudgetResult(
            x_adv, mis | fooled, torch.where(mis, 0.0, 1.0), torch.zeros(n), torch.ones(n, dtype=torch.int64), mis
        )


def images(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = torch.zeros(n, 1, 4, 4)
    x[:, 0, 0, 0] = torch.arange(n) / 1000
    return x, torch.zeros(n, dtype=torch.int64), torch.where(torch.arange(n) % 2 == 0, 1, 2)


def test_success_over_attackable_images_and_mse_over_successes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quality, "budget_search", FakeSearch())
    x, y, which = images(120)
    r = quality.attack_quality("fgsm", {1: None, 2: None}, x, y, which, seed=0)
    k = np.arange(120) % 5
    fooled, attackable = ((k == 1) | (k == 2)).sum(), (k != 0).sum()  # 48 of 96
    assert r["n_success"] == fooled and r["n_attackable"] == attackable and r["n"] == 120
    assert r["success_rate_percent"] == pytest.approx(100 * fooled / attackable)  # 50 %, not 40 % of all 120
    assert r["success_rate_all_percent"] == pytest.approx(100 * fooled / 120)
    per_image_mse = np.where(k == 1, 0.1**2, 0.2**2)[(k == 1) | (k == 2)]  # every pixel shifted by k / 10
    assert r["mse"] == pytest.approx(per_image_mse.mean())  # failures (MSE 0) are left out


def test_runner_writes_table2_and_resumes_at_the_next_attack(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x, y, which = images(60)
    monkeypatch.setattr(quality, "pick", lambda cfg: (x, y, which))
    cfg = quality.QualityConfig("mnist", n=60, seed=0)
    attacks = ("fgsm", "igsm", "jsma")
    killed = FakeSearch(stop_at="igsm")
    monkeypatch.setattr(quality, "budget_search", killed)
    with pytest.raises(KeyboardInterrupt):
        quality.run_table2(cfg, attacks, command="test")
    assert set(killed.calls) == {"fgsm"}
    resumed = FakeSearch()
    monkeypatch.setattr(quality, "budget_search", resumed)
    doc = quality.run_table2(cfg, attacks, command="test")
    assert set(resumed.calls) == {"igsm", "jsma"}  # fgsm came from its cached part
    assert list(doc["attacks"]) == list(attacks) and doc["command"] == "test"
    saved = read_json(verified_path("results/mnist/table2.json"))  # registered with its sha256
    assert saved["attacks"]["fgsm"]["success_rate_percent"] == pytest.approx(50.0)
    assert saved["attacks"]["fgsm"]["paper_mse"] == pytest.approx(2.13e-2)
