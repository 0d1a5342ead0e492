"""A lab's report to hand on (``python -m core report --lab NAME --format md|html|json``).

One dict (``build``), read from the lab's ``lab.json``, ``heldout.json``, ``operating_points.json`` and
``security.json``, rendered as Markdown, HTML (with the ε curves as inline SVG) or JSON.  What a lab has not made
yet is named with the command that makes it.  The Tramèr (2022) reading: a detector that, at L∞ budget ε, is
robust on a share R of images (each either classified right or flagged) implies an inefficient classifier robust
at ε/2 on the same share; the report says what the lab's figures imply and whether that is plausible.
"""
from __future__ import annotations

import html
import json
import platform
from typing import Any, Sequence

import numpy as np
import torch

from core import ATTACK_LABELS, FPRS, UNSEEN_LABELS
from core.io.files import read_json, write_text
from core.io.labs import dataset_label, read_lab
from core.io.manifest import register_file
from core.io.paths import heldout_path, make_command, operating_points_path, results_dir, security_path
from core.results.security import eps_text

REPORT_FORMATS = ("md", "html", "json")
# the best published L∞ robust accuracy of a classifier, for the plausibility of what a detector's figures imply:
# grey 28-px digits (MNIST) and 32-px natural images (CIFAR-10); a lab is read against its channel count's
REFERENCES = {
    1: {"eps": 0.3, "robust_accuracy": 0.961, "source": "TRADES (Zhang et al. 2019) on MNIST: 96.1 % at ε = 0.3"},
    3: {"eps": 8 / 255, "robust_accuracy": 0.707,
        "source": "the RobustBench CIFAR-10 L∞ leader (Wang et al. 2023): 70.7 % at 8/255"},
}
SHARE = 0.5  # the share of robust images the reading is given at (the ε50 of the strongest attacker)


def _read(path) -> dict[str, Any] | None:
    return read_json(path) if path.exists() else None


def tramer_reading(dataset: str, sec: dict[str, Any], channels: int) -> dict[str, Any]:
    """What the adaptive attackers' curves imply by Tramèr's reduction, and whether it is plausible: the implied
    classifier is checked against model 1 alone (plain PGD with no detector) and the best published one."""
    adaptive = [a for a, info in sec["attacks"].items() if info.get("kind") in ("adaptive", "transfer")]
    grid = sec["curves"][adaptive[0]]["eps"] if adaptive else []
    # robust share at each ε: images the strongest adaptive attacker did not get through undetected
    robust = [1 - max(sec["curves"][a]["success"][j] for a in adaptive) for j in range(len(grid))]
    held = [e for e, r in zip(grid, robust) if r >= SHARE]
    eps = max(held) if held else None
    alone = sec["eps50"].get("no_detector")  # model 1 with no detector: plain PGD's ε50 (None: above the grid)
    ref = REFERENCES[channels]
    out = {"share": SHARE, "eps": eps, "implied_classifier_eps": None if eps is None else eps / 2,
           "model_1_alone_eps50": alone, "robust_share_at_grid": dict(zip(map(float, grid), map(float, robust))),
           "reference": ref}
    t = lambda e: eps_text(e, dataset)  # noqa: E731
    if eps is None:
        out["plausible"], text = True, (
            f"Even at the smallest budget tried ({t(grid[0]) if grid else '?'}) the strongest detector-aware "
            "attacker gets through undetected on more than half of the images: the detector claims no robustness "
            "for Tramèr's reduction to test.")
    else:
        text = (f"The detector holds (each image classified right or flagged) on at least half of the images up to "
                f"{t(eps)} against the strongest detector-aware attacker"
                + (", the largest budget tried, so the true figure may be higher" if eps == grid[-1] else "")
                + f". By Tramèr (2022) a detector that robust implies an inefficient classifier robust at "
                f"{t(eps / 2)} on at least half of the images. ")
        if alone is None or eps / 2 <= alone:
            out["plausible"] = True
            text += (f"Model 1 alone, with no detector, already resists plain PGD on half of the images up to "
                     f"{t(alone) if alone is not None else 'beyond the largest budget'}: the implied classifier exists "
                     "(model 1 itself), so the figures are plausible.")
        elif eps / 2 <= ref["eps"]:
            out["plausible"] = True
            text += (f"Model 1 alone gives way at {t(alone)}, but adversarial training reaches such budgets "
                     f"({ref['source']}): plausible, provided the attacks converged (the convergence table).")
        else:
            out["plausible"] = False
            text += (f"That is beyond both model 1 alone ({t(alone)}) and the best published robust classifier "
                     f"({ref['source']}): distrust it, and suspect gradient masking or attacks that did not converge.")
    out["text"] = text
    return out


def build(dataset: str) -> dict[str, Any]:
    """Everything the report says, as one dict (the JSON format)."""
    lab = read_lab(dataset)
    ho = _read(heldout_path(dataset))
    op = _read(operating_points_path(dataset))
    sec = _read(security_path(dataset))
    missing = {what: make_command(cmd, dataset) for what, cmd, doc in (
        ("detectors", "pipeline", op), ("operating points", "operating_points", op),
        ("held-out detection", "heldout", ho), ("adaptive attacks", "security", sec)) if doc is None}
    doc: dict[str, Any] = {
        "lab": lab.name, "title": dataset_label(dataset),
        "pair": [{"model": i + 1, "describe": m["describe"], "kind": m["kind"], "parameters": m["parameters"],
                  "sha256": m["sha256"]} for i, m in enumerate(lab.models)],
        "input": {"shape": list(lab.shape), "classes": list(lab.classes),
                  "normalisation": "inside the models" if lab.mean is None else {"mean": lab.mean, "std": lab.std},
                  "budget_unit": lab.budgets["unit"]},
        "images": {"held_out": lab.data["images"], "folder": lab.data.get("data_root_relative") or lab.data["dir"],
                   "split": lab.data["split"], "roles": "detector 50 %, calibration 20 %, evaluation 30 % (seed 0)"},
        "clean_accuracy": lab.accuracy, "missing": missing,
        "versions": {"torch": torch.__version__, "python": platform.python_version(), "numpy": np.__version__},
        "commands": {"lab": lab.created.get("command")},
        "equivalence": lab.created.get("equivalence"), "note": lab.created.get("note"),
    }
    if op:
        doc["operating_points"] = {k: v for k, v in op["detectors"].get("all", {}).items()}
        doc["commands"]["calibrate"] = op["command"]
    if ho:
        doc["heldout"] = {"n": ho["n"], "clean": ho["clean"], "seed": ho["seed"], "by_attack": ho["by_attack"]}
        doc["commands"]["heldout"] = ho["command"]
        doc["code_version"] = ho["code_version"]
    if sec:
        doc["security"] = {"n": sec["n"], "fpr": sec["fpr"], "steps": sec["steps"], "seed": sec["seed"],
                           "eps50": sec["eps50"], "headline": sec["headline"], "curves": sec["curves"],
                           "labels": {a: i["label"] for a, i in sec["attacks"].items()},
                           "kinds": {a: i["kind"] for a, i in sec["attacks"].items()},
                           "not_run": sec.get("not_run", {}), "convergence": sec.get("convergence")}
        doc["commands"]["security"] = sec["command"]
        doc["tramer"] = tramer_reading(dataset, sec, lab.shape[0])
    return doc


def pair_rows(models: Sequence[dict[str, Any]], accuracy: dict[str, Any]) -> list[dict[str, Any]]:
    """A lab's two models (``LabSpec.models`` or the report's ``pair``) with their clean ``accuracy``, one row
    each: the report's first table and the Results page's."""
    return [{"model": i + 1, "what": m["describe"], "parameters": m["parameters"],
             "clean accuracy (%)": accuracy.get(f"model_{i + 1}"), "sha256": m["sha256"][:16] + "…"}
            for i, m in enumerate(models)]


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def _tables(doc: dict[str, Any], dataset: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table, shared by Markdown and HTML."""
    pair = pair_rows(doc["pair"], doc["clean_accuracy"])
    out = [("The pair", list(pair[0]), [[f"{v:,}" if isinstance(v, int) else str(v) for v in r.values()]
                                        for r in pair])]
    if "heldout" in doc:
        h = doc["heldout"]
        rows = [[ATTACK_LABELS.get(a) or UNSEEN_LABELS.get(a, a), str(v["fooled"]),
                 *[_pct(v["detection"][f"{f:g}"]) for f in FPRS], "–" if v["auc"] is None else f"{v['auc']:.3f}"]
                for a, v in h["by_attack"].items()]
        rows.append(["clean images (false positives)", str(h["clean"]["images"]),
                     *[_pct(h["clean"]["fpr"][f"{f:g}"]) for f in FPRS], ""])
        out.append((f"Held-out detection (evaluation images; {h['n']['paper']} per paper attack and model, "
                    f"{h['n']['unseen']} per unseen attack)", ["attack", "fooling images",
                                                               *[f"at {f:.0%} FPR" for f in FPRS], "AUC"], rows))
    if "security" in doc:
        s = doc["security"]
        e = s["headline"]["eps"]
        rows = [[ATTACK_LABELS.get(a) or s["labels"].get(a, a), s["kinds"].get(a, ""), eps_text(v, dataset),
                 _pct(s["headline"]["success"].get(a))] for a, v in s["eps50"].items()]
        conv = s.get("convergence") or {}
        if conv.get("success"):
            out.append((f"Convergence: undetected success at {eps_text(conv['eps'], dataset)} on {conv['n']} images, "
                        f"{conv['steps'][0]} and {conv['steps'][1]} PGD steps", ["attacker", *map(str, conv["steps"])],
                        [[s["labels"].get(a, a), *(_pct(v) for v in vals)] for a, vals in conv["success"].items()]))
        out.append((f"Attackers who know the detector ({s['n']} evaluation images, detector at {s['fpr']:.0%} "
                    f"false positives, {s['steps']} PGD steps)", ["attacker", "kind", "ε50",
                                                                   f"undetected success at {eps_text(e, dataset)}"],
                    rows))
    return out


def to_markdown(doc: dict[str, Any], dataset: str) -> str:
    lines = [f"# {doc['title']}: Mismatch Lab report", "",
             f"Input {'x'.join(map(str, doc['input']['shape']))}, {len(doc['input']['classes'])} classes; "
             f"{doc['images']['held_out']} held-out images ({doc['images']['folder']}/{doc['images']['split']}), "
             f"roles {doc['images']['roles']}. Every figure is measured on images nothing in the lab trained on.", ""]
    if doc.get("equivalence"):
        eq = doc["equivalence"]
        lines += [f"Foreign-model check: the lab's features differ from the built-in pair's by at most "
                  f"{eq['max_abs_feature_difference_vs_builtin_mnist']:.1e} on {eq['images']} images "
                  f"(tolerance {eq['tolerance']:g}).", ""]
    for title, header, rows in _tables(doc, dataset):
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows] + [""]
    if "tramer" in doc:
        lines += ["## What the figures imply (Tramèr 2022)", "", doc["tramer"]["text"], ""]
    if doc["missing"]:
        lines += ["## Not made yet", ""] + [f"- {w}: `{c}`" for w, c in doc["missing"].items()] + [""]
    lines += ["## Reproduce", ""] + [f"- {k}: `{v}`" for k, v in doc["commands"].items() if v]
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in doc["versions"].items())
              + (f"; code {doc['code_version']}" if doc.get("code_version") else "") + ". Seeds: 0 throughout."]
    return "\n".join(lines) + "\n"


def _svg(doc: dict[str, Any], dataset: str, width: int = 560, height: int = 260) -> str:
    """The undetected-success curves of the adaptive attackers, inline SVG."""
    s = doc["security"]
    names = [a for a, k in s["kinds"].items() if k in ("adaptive", "transfer", "reference")]
    eps = s["curves"][names[0]]["eps"]
    x0, y0, w, h = 50, 20, width - 170, height - 60
    px = lambda e: x0 + w * (e - eps[0]) / max(eps[-1] - eps[0], 1e-9)  # noqa: E731
    py = lambda v: y0 + h * (1 - v)  # noqa: E731
    colours = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11">',
             f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#999"/>']
    for v in (0, 0.5, 1):
        parts.append(f'<text x="{x0 - 6}" y="{py(v) + 4}" text-anchor="end">{v:.0%}</text>')
    for e in (eps[0], eps[len(eps) // 2], eps[-1]):
        parts.append(f'<text x="{px(e)}" y="{y0 + h + 14}" text-anchor="middle">{html.escape(eps_text(e, dataset))}'
                     '</text>')
    parts.append(f'<text x="{x0 + w / 2}" y="{height - 6}" text-anchor="middle">L∞ budget ε</text>')
    for i, a in enumerate(names):
        c = colours[i % len(colours)]
        pts = " ".join(f"{px(e):.1f},{py(v):.1f}" for e, v in zip(s["curves"][a]["eps"], s["curves"][a]["success"]))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="2"/>')
        parts.append(f'<text x="{x0 + w + 8}" y="{y0 + 12 + 14 * i}" fill="{c}">{html.escape(s["labels"][a])}</text>')
    return "".join(parts) + "</svg>"


def to_html(doc: dict[str, Any], dataset: str) -> str:
    e = html.escape
    body = [f"<h1>{e(doc['title'])}: Mismatch Lab report</h1>",
            f"<p>Input {'x'.join(map(str, doc['input']['shape']))}, {len(doc['input']['classes'])} classes; "
            f"{doc['images']['held_out']} held-out images; roles {e(doc['images']['roles'])}. Every figure is "
            "measured on images nothing in the lab trained on.</p>"]
    for title, header, rows in _tables(doc, dataset):
        body.append(f"<h2>{e(title)}</h2><table><tr>" + "".join(f"<th>{e(c)}</th>" for c in header) + "</tr>"
                    + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows) + "</table>")
    if "security" in doc:
        body.append("<h2>Undetected success against ε</h2>" + _svg(doc, dataset))
    if "tramer" in doc:
        body.append(f"<h2>What the figures imply (Tramèr 2022)</h2><p>{e(doc['tramer']['text'])}</p>")
    if doc["missing"]:
        body.append("<h2>Not made yet</h2><ul>" + "".join(f"<li>{e(w)}: <code>{e(c)}</code></li>"
                                                           for w, c in doc["missing"].items()) + "</ul>")
    body.append("<h2>Reproduce</h2><ul>" + "".join(f"<li>{e(k)}: <code>{e(v)}</code></li>"
                                                   for k, v in doc["commands"].items() if v) + "</ul>")
    body.append("<p>Versions: " + e(", ".join(f"{k} {v}" for k, v in doc["versions"].items())) + ". Seeds: 0.</p>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{e(doc['title'])}</title><style>{style}"
            "</style></head><body>" + "".join(body) + "</body></html>\n")


def _render(doc: dict[str, Any], dataset: str, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(doc, indent=2)
    return to_markdown(doc, dataset) if fmt == "md" else to_html(doc, dataset)


def lab_report(dataset: str, fmt: str = "md") -> str:
    """The report of lab ``dataset`` as ``fmt`` (``REPORT_FORMATS``)."""
    if fmt not in REPORT_FORMATS:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(REPORT_FORMATS)}")
    return _render(build(dataset), dataset, fmt)


def lab_reports(dataset: str) -> dict[str, str]:
    """The report of lab ``dataset`` in every format (``REPORT_FORMATS``), built once."""
    doc = build(dataset)
    return {fmt: _render(doc, dataset, fmt) for fmt in REPORT_FORMATS}


def write_lab_reports(dataset: str) -> list:
    """``report.md``, ``report.html`` and ``report.json`` in the lab's results folder, registered."""
    paths = []
    for fmt, text in lab_reports(dataset).items():
        path = results_dir(dataset) / f"report.{fmt}"
        write_text(path, text)
        register_file(path, make_command("lab_report", dataset).replace("--format md", f"--format {fmt}"))
        paths.append(path)
    return paths


__all__ = ["REPORT_FORMATS", "build", "lab_report", "lab_reports", "pair_rows", "write_lab_reports"]
