"""Table I: test accuracy of the shipped models, ours beside the paper's."""
from __future__ import annotations

from typing import Any

from core.data import load_split
from core.io.manifest import read_manifest, update_manifest
from core.io.paper import paper_table1
from core.models import accuracy, load_model, model_key


def evaluate_models(dataset: str, root: str | None = None, device: str = "cpu") -> list[dict[str, Any]]:
    """Measure both shipped models on the full test split and record the accuracy in the manifest."""
    x, y = load_split(dataset, "test", root)
    rows = []
    for which, paper_acc in zip((1, 2), paper_table1(dataset)):
        acc = round(accuracy(load_model(dataset, which, device=device), x, y), 2)
        update_manifest("models", model_key(dataset, which), {"test_accuracy": acc, "test_images": len(y)})
        entry = read_manifest()["models"][model_key(dataset, which)]
        rows.append({"dataset": dataset, "model": which, "arch": entry["arch"], "options": entry.get("options", {}),
                     "ours": acc, "paper": paper_acc, "delta": round(acc - paper_acc, 2)})
    return rows


def format_table1(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'dataset':8} {'model':5} {'architecture':34} {'ours %':>7} {'paper %':>8} {'delta':>6}"]
    for r in rows:
        arch = r["arch"] + (" " + ",".join(f"{k}={v}" for k, v in r["options"].items()) if r["options"] else "")
        ours = "—" if r["ours"] is None else f"{r['ours']:.2f}"
        delta = "—" if r["delta"] is None else f"{r['delta']:+.2f}"
        lines.append(f"{r['dataset']:8} {r['model']:<5} {arch:34} {ours:>7} {r['paper']:>8.2f} {delta:>6}")
    return "\n".join(lines)
