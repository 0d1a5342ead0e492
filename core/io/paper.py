"""The paper's own numbers (Tables I-IV, Figures 5-6), shipped as ``artifacts/paper/paper_results.json``."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from core.io.files import read_json
from core.io.paths import paper_path

# Our model slots → the paper's Table I keys.
TABLE1_KEYS = {"mnist": ("cnn", "mlp"), "cifar10": ("vgg16", "resnet50")}


@lru_cache(maxsize=1)
def paper_results() -> dict[str, Any]:
    return read_json(paper_path())


def paper_table1(dataset: str) -> tuple[float, float]:
    t = paper_results()["table1_test_accuracy_percent"][dataset]
    k1, k2 = TABLE1_KEYS[dataset]
    return t[k1], t[k2]
