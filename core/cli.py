"""``python -m core``: the command line over the same engine API the dashboard uses."""
from __future__ import annotations

import argparse
import importlib
import json
import shlex
import sys
from typing import Sequence

import torch
from tqdm.auto import tqdm

from core import DATASETS
from core.data import DATA_ROOT_HELP, make_samples
from core.experiments.calibration import calibrate
from core.experiments.heldout import HeldoutConfig
from core.experiments.heldout import run as run_heldout
from core.experiments.labs.commands import add_lab_commands
from core.experiments.pipeline import PipelineConfig
from core.experiments.pipeline import run as run_pipeline
from core.experiments.pipeline.config import PROTOCOLS, STAGES
from core.experiments.security import ATTACK_ORDER, SecurityConfig, default_attacks
from core.experiments.security import run as run_security
from core.experiments.table1 import evaluate_models, format_table1
from core.experiments.table2 import QualityConfig, format_table2, run_table2
from core.hardening.variants import compare_pair, format_pair, format_variant, harden, variants_table
from core.io.files import write_text
from core.io.labs import is_lab, lab_id
from core.io.manifest import register_file
from core.io.paths import check_dataset
from core.models import ModelSpec
from core.models.device import DEVICES, resolve
from core.models.training import adopt, pgd_recipe, recipe, robust_recipe, train, with_overrides
from core.results.heldout import format_heldout
from core.results.lab_report import REPORT_FORMATS, lab_report
from core.results.operating_points import format_operating_points
from core.results.report import report
from core.results.security import format_security


def _tqdm(iterable, **kw):
    return tqdm(iterable, dynamic_ncols=True, **kw)


def device_of(a: argparse.Namespace) -> str:
    """The resolved ``--device`` ("auto" → "cuda" when a GPU is visible, else "cpu"), checked up front."""

    return str(resolve(a.device))


def n_per_attack(a: argparse.Namespace) -> tuple[tuple[str, int], ...]:
    """``--n-attack ATTACK=N`` (repeatable) as the configs take it: ``(("jsma", 2000), ...)``."""
    return tuple((k, int(v)) for k, v in (item.split("=") for item in a.n_attack))


def add_n_attack(s: argparse.ArgumentParser, example: str) -> None:
    s.add_argument("--n-attack", action="append", default=[], metavar="ATTACK=N",
                   help=f"a smaller n for one attack (repeatable), e.g. {example}")


def cmd_train(a: argparse.Namespace) -> int:
    if a.pgd and not a.robust:
        raise ValueError("--pgd selects the multi-step recipe of the adversarially trained pair: add --robust")
    command = a.command_line
    for which in ([a.model] if a.model else [1, 2]):
        seed = a.seed if a.seed is not None or not a.surrogate else 1
        base = (pgd_recipe if a.pgd else robust_recipe)(a.dataset, which) if a.robust else recipe(
            a.dataset, which, a.full_size)
        role = ("surrogate" if base.role == "model" else f"{base.role}-surrogate") if a.surrogate else None
        cfg = with_overrides(base, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, seed=seed, limit=a.limit,
                             data_root=a.data_root, role=role)
        entry = train(cfg, progress=_tqdm, command=command, device=device_of(a))
        print(f"{a.dataset} model {which} ({entry['arch']}): test accuracy {entry['test_accuracy']:.2f}% "
              f"after {entry['epochs']} epochs, {entry['train_seconds']:.0f}s → artifacts/{entry['weights']}")
    return 0


def cmd_adopt(a: argparse.Namespace) -> int:
    entry = adopt(a.dataset, a.model, a.weights, ModelSpec(a.arch, json.loads(a.options)), a.role, a.provenance,
                  a.data_root, command=a.command_line)
    print(f"{a.dataset} {a.role} {a.model} ({entry['arch']}): test accuracy {entry['test_accuracy']:.2f}% → "
          f"artifacts/{entry['weights']}")
    return 0


def cmd_evaluate_models(a: argparse.Namespace) -> int:
    rows = [r for d in ([a.dataset] if a.dataset else DATASETS) for r in evaluate_models(d, a.data_root, device_of(a))]
    print("Table I — test accuracy (CIFAR-10: JPEG re-encoded test set; paper: original data, full-size models)")
    print(format_table1(rows))
    return 0


def cmd_make_samples(a: argparse.Namespace) -> int:
    for d in [a.dataset] if a.dataset else DATASETS:
        path = make_samples(d, a.data_root)
        register_file(path, f"python -m core make-samples --dataset {d}")
        print(f"wrote {path}")
    return 0


def cmd_pipeline(a: argparse.Namespace) -> int:
    torch.set_num_threads(a.threads)
    if is_lab(a.dataset) and a.protocol == "paper":
        a.protocol = "heldout"  # a lab has held-out images only
    attacks = tuple(a.attacks.split(",")) if a.attacks else PipelineConfig.attacks
    per = n_per_attack(a)
    cfg = PipelineConfig(a.dataset, n=a.n, n_per_attack=per, seed=a.seed, attacks=attacks, data_root=a.data_root,
                         command=a.command_line, device=device_of(a), protocol=a.protocol)
    run_pipeline(cfg, None if a.stage == "all" else [a.stage], force=a.force, progress=_tqdm, workers=a.workers,
        executor=a.executor, address=a.address)
    return 0


def cmd_heldout(a: argparse.Namespace) -> int:
    torch.set_num_threads(a.threads)
    attacks = tuple(a.attacks.split(",")) if a.attacks else HeldoutConfig.attacks
    cfg = HeldoutConfig(a.dataset, a.n, a.n_unseen, a.seed, attacks, not a.no_refits, a.data_root,
                        command=a.command_line, device=device_of(a))
    print(format_heldout(run_heldout(cfg, progress=_tqdm)))
    return 0


def cmd_calibrate(a: argparse.Namespace) -> int:
    for d in [a.dataset] if a.dataset else DATASETS:  # --lab sets a.dataset
        print(format_operating_points(calibrate(d, a.data_root, progress=_tqdm, variant=a.variant,
                                                device=device_of(a))))
    return 0


def cmd_harden(a: argparse.Namespace) -> int:
    print(format_variant(harden(a.dataset, a.variant, a.n, a.seed, a.data_root, progress=_tqdm,
                                device=device_of(a), n_per_attack=n_per_attack(a), recheck=a.recheck)))
    return 0


def cmd_compare_pair(a: argparse.Namespace) -> int:
    per = n_per_attack(a)
    print(format_pair(compare_pair(a.dataset, a.role, a.n, a.seed, a.data_root, progress=_tqdm,
                                   device=device_of(a), n_per_attack=per)))
    return 0


def cmd_security(a: argparse.Namespace) -> int:
    torch.set_num_threads(a.threads)
    attacks = tuple(a.attacks.split(",")) if a.attacks else default_attacks(a.dataset, a.defence)
    unknown = [x for x in attacks if x not in ATTACK_ORDER]
    if unknown:
        raise ValueError(f"unknown attack(s) {', '.join(unknown)}: choose from {', '.join(ATTACK_ORDER)}")
    if a.n is not None and a.n < 1:
        raise ValueError("--n must be at least 1")
    cfg = SecurityConfig(a.dataset, a.variant, a.n, a.seed, a.fpr, a.steps, a.long_steps, a.long_n, attacks,
                         a.data_root, command=a.command_line,
                         defence=a.defence, device=device_of(a))
    doc = run_security(cfg, progress=_tqdm, write=not a.cache_only, executor=a.executor, address=a.address)
    print(format_security(doc) if doc else f"cached {', '.join(attacks)} under {cfg.cache()}")
    return 0


def cmd_compare_variants(a: argparse.Namespace) -> int:
    print(variants_table([a.dataset] if a.dataset else list(DATASETS)))
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    if a.dataset and is_lab(a.dataset):
        text = lab_report(a.dataset, "md" if a.format == "text" else a.format)
        if a.out:
            write_text(a.out, text)
            print(f"wrote {a.out}")
        else:
            print(text)
        return 0
    if a.format != "text":
        raise ValueError("--format md|html|json is a lab's report (--lab NAME); the built-in report is text")
    print(report([a.dataset] if a.dataset else list(DATASETS)))
    return 0


BENCHMARKS = {  # name → module with `main(args) -> int`, each printing figures and ratios against a baseline
    "attacks": "core.experiments.benchmarks.attacks",
    "detect": "core.experiments.benchmarks.detect",
    "device": "core.experiments.benchmarks.device_speed",
    "executors": "core.experiments.benchmarks.executors",
}


def cmd_attack_quality(a: argparse.Namespace) -> int:
    doc = run_table2(QualityConfig(a.dataset, a.n, a.seed, a.data_root, device_of(a)),
                     progress=lambda **kw: _tqdm(None, **kw),
                     command=a.command_line)
    print(format_table2(doc))
    print(f"wrote artifacts/results/{a.dataset}/table2.json")
    return 0


def bench_target(text: str) -> tuple[str, float]:
    """``FIGURE=BOUND`` → (figure, bound) for ``bench --target``."""
    name, _, bound = text.partition("=")
    try:
        value = float(bound)
    except ValueError:
        value = None
    if not name.strip() or value is None:
        raise argparse.ArgumentTypeError(f"expected FIGURE=NUMBER, got {text!r}")
    return name.strip(), value


def cmd_bench(a: argparse.Namespace) -> int:
    """Run one benchmark; its exit code is 1 when a figure misses its target."""
    a.targets = dict(a.targets or [])
    return importlib.import_module(BENCHMARKS[a.target]).main(a)


def dataset_arg(text: str) -> str:
    """``--dataset`` of the commands that take labs: a built-in dataset or ``lab:NAME`` of an existing lab."""
    try:
        return check_dataset(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core",
                                description="Mismatch Lab engine: bi-model decision-mismatch adversarial detection.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func, help: str, dataset_required: bool = True, lab: bool = False) -> argparse.ArgumentParser:
        s = sub.add_parser(name, help=help.replace("%", "%%"), description=help)  # argparse %-formats help
        if not lab:
            s.add_argument("--dataset", choices=DATASETS, required=dataset_required)
        else:
            s.add_argument("--dataset", type=dataset_arg, metavar="{mnist,cifar10,lab:NAME}", default=None)
            s.add_argument("--lab", default=None, metavar="NAME",
                           help="a lab (`python -m core lab create`) instead of --dataset (docs/labs.md)")
        s.add_argument("--data-root", default=None,
                       help=DATA_ROOT_HELP)
        s.set_defaults(func=func, needs_dataset=dataset_required)
        return s

    t = add("train", cmd_train, "train model 1 and/or 2 (checkpoint each epoch, resume after a kill)")
    t.add_argument("--model", type=int, choices=(1, 2), default=None, help="which model (default: both)")
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--batch-size", type=int, default=None)
    t.add_argument("--lr", type=float, default=None)
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--limit", type=int, default=None, help="train on the first N images only (smoke runs)")
    t.add_argument("--full-size", action="store_true",
                   help="CIFAR-10: the paper's full VGG16 and ResNet-50 (for a GPU)")
    t.add_argument("--surrogate", action="store_true",
                   help="train a transfer attacker's own pair (seed 1 unless --seed) as surrogate_1/2, beside the "
                        "shipped pair")
    t.add_argument("--robust", action="store_true",
                   help="the adversarially trained pair of the hardened detector (robust_1/2; CIFAR-10: on a GPU; "
                        "with --surrogate: its attacker's own robust pair)")
    t.add_argument("--pgd", action="store_true",
                   help="with --robust: the multi-step PGD-trained pair (robust-pgd_1/2, MNIST; 7 steps; ~21 min "
                        "for the CNN on one core)")
    ad = add("adopt", cmd_adopt, "ship weights trained elsewhere (loaded weights-only, test accuracy measured here)")
    ad.add_argument("--model", type=int, choices=(1, 2), required=True)
    ad.add_argument("--weights", required=True, help="a state dict saved with torch.save")
    ad.add_argument("--arch", required=True, help="architecture name (core.models.ARCHS)")
    ad.add_argument("--options", default="{}", help="architecture options as JSON, e.g. '{\"width\": 0.375}'")
    ad.add_argument("--role", choices=("model", "surrogate"), default="surrogate")
    ad.add_argument("--provenance", default="", help="where and how the weights were trained")
    ev = add("evaluate-models", cmd_evaluate_models,
             "Table I: test accuracy of both models, ours beside the paper's", False)
    add("make-samples", cmd_make_samples, "write the shipped class-balanced test samples (200 per dataset)", False)
    pl = add("pipeline", cmd_pipeline,
             "detection experiments end to end: data, cv, transfer, detectors, baselines, embeddings", lab=True)
    pl.add_argument("--stage", default="all", choices=("all", *STAGES))
    pl.add_argument("--protocol", default="paper", choices=PROTOCOLS,
                    help="paper (default): the paper's tables on train-split images; heldout: the shipped detectors "
                         "from the test split's detector role (docs/detection.md)")
    pl.add_argument("--n", type=int, default=10_000,
                    help="images per attack (paper: 10,000; heldout: at most the 5,000 of the detector role)")
    add_n_attack(pl, "jsma=2000 when time is short")
    pl.add_argument("--seed", type=int, default=0)
    pl.add_argument("--attacks", default=None, help="comma-separated subset of attacks (default: all seven)")
    pl.add_argument("--force", action="store_true", help="rerun stages already marked done")
    pl.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the CPU is shared)")
    pl.add_argument("--workers", type=int, default=1,
                    help="processes for the per-attack stages data and embeddings (one thread each; results do not "
                         "depend on it); 2 on a free 2-core machine")
    pl.add_argument("--executor", default="process", choices=("process", "ray"),
                    help="process (default): --workers local processes; ray: one Ray task per attack (retried if "
                         "its worker dies), on --address or a local Ray with --workers CPUs")
    pl.add_argument("--address", default=None, metavar="ADDR",
                    help="with --executor ray: an existing cluster, e.g. 10.0.0.5:6379 or auto (see docs/detection.md)")
    ca = add("calibrate", cmd_calibrate, "operating points of the shipped detectors: thresholds at 1/5/10 % clean "
             "false positives on the test split's calibration role, checked on its evaluation role", False, lab=True)
    ca.add_argument("--variant", default="paper", help="detector variant (core.detector.VARIANTS)")
    hd = add("harden", cmd_harden, "build, calibrate and ship a hardened detector variant (e.g. robust: over the "
             "PGD-trained pair of `train --robust`)")
    hd.add_argument("--variant", default="robust", help="detector variant (core.detector.VARIANTS, not paper)")
    hd.add_argument("--n", type=int, default=2000, help="train images per attack (pooled over the seven)")
    hd.add_argument("--seed", type=int, default=0)
    add_n_attack(hd, "jsma=300")
    hd.add_argument("--recheck", action="store_true",
                    help="only redo the Table III check against the paper detector's current data set (after "
                         "`pipeline` remade it); the shipped variant detector and its results stay as they are")
    cp = add("compare-pair", cmd_compare_pair, "which pair to ship, by measurement: the Table III protocol on the "
             "same seeded rows for another role's pair (e.g. weights adopted from a GPU run) and the shipped pair")
    cp.add_argument("--role", default="surrogate", help="the candidate pair's role (core.models.ROLE_FLAGS)")
    cp.add_argument("--n", type=int, default=600, help="train images per attack")
    cp.add_argument("--seed", type=int, default=0)
    add_n_attack(cp, "jsma=200")
    ho = add("heldout", cmd_heldout, "the shipped detectors on evaluation images nothing was fitted on: detection "
             "at 1/5/10 % false positives and AUC per attack and model, incl. attacks no detector trained on", lab=True)
    ho.add_argument("--n", type=int, default=None, help="images per paper attack and model (default 1,000)")
    ho.add_argument("--n-unseen", type=int, default=None,
                    help="images per unseen attack (PGD, C&W, Square) and model (default 300)")
    ho.add_argument("--seed", type=int, default=0)
    ho.add_argument("--attacks", default=None, help="comma-separated subset (default: the seven and pgd_min, cw_l2, "
                    "square)")
    ho.add_argument("--no-refits", action="store_true",
                    help="skip the report's own SVM fits: leave one attack out and the ideas tried")
    ho.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    se = add("security", cmd_security, "the detector against attackers who know it: per-image smallest undetected "
             "L∞ budget of the paper's seven attacks, adaptive attacks and a transfer attack", lab=True)
    se.add_argument("--variant", default="paper", help="detector variant (core.detector.VARIANTS)")
    se.add_argument("--defence", default="mismatch", choices=("mismatch", "feature_squeezing", "feinman"),
                    help="the detector attacked: ours (default) or a baseline, written beside ours in security.json")
    se.add_argument("--n", type=int, default=None, help="test images (default: 500 MNIST, 200 CIFAR-10)")
    se.add_argument("--seed", type=int, default=0)
    se.add_argument("--fpr", type=float, default=0.05, help="the detector's clean false-positive rate (default 0.05)")
    se.add_argument("--steps", type=int, default=100, help="PGD steps per budget (default 100)")
    se.add_argument("--long-steps", type=int, default=1000, help="steps of the convergence check at the headline ε")
    se.add_argument("--long-n", type=int, default=100, help="images of the convergence check")
    se.add_argument("--attacks", default=None, help="comma-separated subset (default: all)")
    se.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    se.add_argument("--cache-only", action="store_true",
                    help="only compute --attacks into the cache (to share one evaluation between processes); "
                         "a run without it assembles and writes the file")
    se.add_argument("--executor", default="process", choices=("process", "ray"),
                    help="process (default): attacks one after another here; ray: each uncached attack in a Ray "
                         "task (one thread, retried if its worker dies), on --address or a local Ray with --threads "
                         "CPUs")
    se.add_argument("--address", default=None, metavar="ADDR",
                    help="with --executor ray: an existing cluster, e.g. 10.0.0.5:6379 or auto (see docs/detection.md)")
    rp = add("report", cmd_report, "every detection table beside the paper's (Tables II-IV, transfer, LOAO); with "
             "--lab, a lab's report to hand on", False, lab=True)
    rp.add_argument("--format", default="text", choices=("text", *REPORT_FORMATS),
                    help="with --lab: md, html or json (default md); the built-in report is text")
    rp.add_argument("--out", default=None, help="with --lab: write the report to this file instead of stdout")
    add_lab_commands(sub)
    add("compare-variants", cmd_compare_variants, "every detector variant with security results side by side: "
        "clean accuracy, FPR, Table III, each adaptive attacker's ε50 and its ratio to the paper detector's", False)
    aq = add("attack-quality", cmd_attack_quality,
             "Table II: MSE and success rate of the seven attacks, ours beside the paper's")
    aq.add_argument("--n", type=int, default=500, help="number of random test images (default 500)")
    aq.add_argument("--seed", type=int, default=0)
    b = add("bench", cmd_bench, "speed benchmarks, each against a baseline in the same process", False)
    b.add_argument("target", choices=tuple(BENCHMARKS))
    for s in (t, ev, aq, pl, ca, hd, cp, ho, se, b):
        s.add_argument("--device", default="cpu", choices=DEVICES,
                       help="where the networks run: cpu (default), cuda, or auto (cuda when a GPU is visible)")
    b.add_argument("--n", type=int, default=None, help="number of images (default: the benchmark's own)")
    b.add_argument("--record", action="store_true",
                   help="detect, device, executors: also write the figures to artifacts/results/<D>/bench_<name>.json")
    b.add_argument("--target", dest="targets", action="append", type=bench_target, default=None, metavar="FIGURE=BOUND",
                   help="hold FIGURE to BOUND instead of the benchmark's own target (repeatable); a missed target "
                        "makes the command exit 1")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a missing file, a bad value or a refused artifact is one line on stderr and exit 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.command_line = "python -m core " + shlex.join(argv)  # what results record as the command that made them
    try:
        if getattr(args, "lab", None):
            if args.dataset:
                parser.error("give --dataset or --lab, not both")
            args.dataset = check_dataset(lab_id(args.lab))
        elif getattr(args, "needs_dataset", False) and not args.dataset:
            parser.error("--dataset (or --lab) is required")
        return args.func(args)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
