"""``heldout.json``: the shipped detectors measured on evaluation images — its path, reader, writer and table.

Written by ``python -m core heldout`` (``core.experiments.heldout``) through ``write_heldout``; the app, the
report and the README read it through ``read_heldout``.  Schema: dataset, command, code_version, seed, roles,
n (images attacked per attack and model), clean (evaluation images, clean false-positive rate per operating
point), rows (per attack × target model: kind, attacked, fooled, median budget, detection per operating point,
AUC, and the per-attack detector's detection), by_attack (the two targets pooled), transfer (detectors trained
on one attack, detection at 5 % of every attack's rows), loao (leave one attack out), targets (the project's bars
and whether each holds), ideas (what else was tried, measured inside the detector role).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from core.io.files import read_result, write_json
from core.io.manifest import register_file
from core.io.paths import MAKE_COMMANDS, heldout_path

COMMAND = MAKE_COMMANDS["heldout"]
PROTOCOL_NOTE = ("held-out protocol: classifiers trained on the train split, detectors on the test split's detector "
                 "role, thresholds on its calibration role; every figure on its evaluation role, which nothing "
                 "was fitted on")


def write_heldout(dataset: str, doc: dict[str, Any]) -> Path:
    path = heldout_path(dataset)
    write_json(path, doc)
    register_file(path, doc["command"])
    return path


def read_heldout(dataset: str) -> dict[str, Any]:
    """The committed held-out report (``FileNotFoundError`` naming the command if missing)."""
    return read_result(heldout_path(dataset), "held-out detection results", COMMAND.format(dataset=dataset))


def format_heldout(doc: dict[str, Any]) -> str:
    """The table ``python -m core heldout`` and ``report`` print."""
    c = doc["clean"]
    lines = [f"{doc['dataset']} — held-out detection ({PROTOCOL_NOTE})",
             f"universal detector ('all'); {c['images']} clean evaluation images, false positives: " +
             ", ".join(f"{k}: {v:.3f}" for k, v in c["fpr"].items()),
             f"{'attack':<18}{'kind':<8}{'target':>7}{'fooled':>8}{'@1%':>7}{'@5%':>7}{'@10%':>7}{'AUC':>7}"
             f"{'own@5%':>8}"]
    def f(v: float | None) -> str:
        return "    –" if v is None else f"{v:5.3f}"

    for r in doc["rows"]:
        d = r["detection"]
        lines.append(f"{r['attack']:<18}{r['kind']:<8}{r['target']:>7}{r['fooled']:>8}{f(d['0.01']):>7}"
                     f"{f(d['0.05']):>7}{f(d['0.1']):>7}{f(r['auc']):>7}{f(r.get('own_detection')):>8}")
    lines.append("both targets pooled, @5%: " + ", ".join(
        f"{a} {v['detection']['0.05']:.3f}" for a, v in doc["by_attack"].items() if v["detection"]["0.05"] is not None))
    if doc.get("loao"):
        lines.append("leave one attack out (trained on the other six, detector role), @5%: " + ", ".join(
            f"{a} {v['detection']:.3f}" for a, v in doc["loao"].items()))
    for i in doc.get("ideas", []):
        lines.append(f"idea (detector role, even→odd images): {i['idea']}: lowest {i['lowest']:.3f}, "
                     f"mean {i['mean']:.3f}")
    for t in doc.get("targets", []):
        lines.append(f"target {t['what']}: {t['value']:.3f} vs {t['bar']:.2f} — {'met' if t['met'] else 'NOT met'}")
    return "\n".join(lines)
