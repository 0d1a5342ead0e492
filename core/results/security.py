"""``security.json`` (and ``security_<variant>.json``): its path, reader, writer and printed table.

The security sweep (``core.experiments.security``) writes it through ``write_security``; the app, the report
and ``compare-variants`` read it through ``read_security``.  Schema: dataset, variant, fpr, n, seed, steps,
command, images (test indices), curves and eps50 per attack, headline, convergence, operating_points,
baselines.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from core.detector.thresholds import fpr_key
from core.io.files import read_json, read_result, write_json
from core.io.manifest import register_file
from core.io.paths import MAKE_COMMANDS, security_path

COMMAND = MAKE_COMMANDS["security"]
NOTE = ("success: model 1 wrong and not flagged at the stated fpr; detected: model 1 wrong but flagged; fooled: "
        "model 1 wrong (for no_detector, the reference without a detector).  eps50: median smallest undetected L∞ "
        "budget (for no_detector: smallest fooling budget); null: above the largest budget tried.")


def write_security(path: Path, doc: dict[str, Any], command: str) -> None:
    """Write ``doc`` atomically and register it in the manifest with the ``command`` that made it."""
    write_json(path, doc)
    register_file(path, command)


def read_security_if_any(path: Path) -> dict[str, Any]:
    """The file at ``path`` as it stands, ``{}`` where there is none yet (a run of a baseline adds to it)."""
    return read_json(path) if path.exists() else {}


def eps_text(eps: float | None, dataset: str) -> str:
    """An L∞ budget as it is printed: MNIST ``0.14``, CIFAR-10 and labs (8-bit images) ``4/255``; ``None`` (never
    reached) ``> max``."""
    if eps is None:
        return "> max"
    if dataset != "mnist":
        k = eps * 255
        return f"{k:.0f}/255" if abs(k - round(k)) < 1e-3 else f"{k:.2f}/255"  # the file rounds ε to 6 decimals
    return f"{eps:.3g}"


def read_security(dataset: str, variant: str = "paper") -> dict[str, Any]:
    """The committed security results (``FileNotFoundError`` with the command if missing)."""
    return read_result(security_path(dataset, variant), "security results", COMMAND.format(dataset=dataset))


def format_security(doc: dict[str, Any]) -> str:
    """The table ``python -m core security`` and ``report`` print."""
    def fmt(v):
        return "  > max" if v is None else f"{v:7.4f}"

    e = doc["headline"]["eps"]
    lines = [f"{doc['dataset']} security (variant {doc['variant']}): n={doc['n']} test images, detector flags at "
             f"{doc['fpr']:.0%} clean FPR (P(attack) > {doc['threshold']:.4f}), {doc['steps']} PGD steps of ε/10",
             f"{'attack':<18}{'kind':<10}{'eps50':>9}{f'success @ε={e:.3g}':>18}{'detected':>10}{'seconds':>9}"]
    j = doc["curves"][next(iter(doc["curves"]))]["eps"].index(round(e, 6)) if doc["curves"] else 0
    for name, c in doc["curves"].items():
        a = doc["attacks"][name]
        lines.append(f"{name:<18}{a['kind']:<10}{fmt(doc['eps50'][name]):>9}{c['success'][j]:>18.3f}"
                     f"{c['detected'][j]:>10.3f}{a['seconds']:>9.0f}")
    h = doc["headline"]
    lines.append(f"best adaptive at ε={e:.3g}: {h['best_adaptive']} {h['best_success']:.3f} "
                 f"(joint PGD {h['joint_pgd_success']:.3f})")
    c = doc["convergence"]
    lines.append(f"convergence at ε={c['eps']:.3g}, {c['n']} images, {c['steps'][0]} → {c['steps'][1]} steps: " +
                 ", ".join(f"{k} {v[0]:.2f}→{v[1]:.2f}" for k, v in c["success"].items()))
    for name, b in doc.get("baselines", {}).items():
        held = b["operating_points"]["clean_fpr_held_out"][fpr_key(doc["fpr"])]
        lines.append(
            f"  {name}, n={b['n']} (flags above {b['threshold']:.4g} at {doc['fpr']:.0%}: {held:.3f} of its held-out "
            f"clean images; differentiable: {b['differentiable']}):"
        )
        for a, c in b["curves"].items():
            lines.append(f"    {a:<18}{fmt(b['eps50'][a]):>9}{c['success'][j]:>18.3f}{c['detected'][j]:>10.3f}")
        for a, why in b.get("not_run", {}).items():
            lines.append(f"    {a:<18}{why}")
    op = doc["operating_points"]
    lines.append("clean FPR on the evaluation images: " + ", ".join(
        f"{k}: {v:.3f}" for k, v in op["clean_fpr_held_out"].items()))
    for name, d in op["detection"].items():
        lines.append(f"  detection of {name:<16}" + "  ".join(f"@{k}: {v:.3f}" for k, v in d.items() if v is not None)
                     + f"   AUC {op['roc'][name]['auc']:.3f}")
    return "\n".join(lines)
