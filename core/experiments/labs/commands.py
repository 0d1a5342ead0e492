"""``python -m core lab create|list|demo``: the command line of labs (the engine's other commands take ``--lab``)."""
from __future__ import annotations

import argparse

from tqdm.auto import tqdm

from core.data import DATA_ROOT_HELP
from core.experiments.labs.create import LAB_SPLIT, LabConfig, create
from core.experiments.labs.demos import DEMOS, run_demo
from core.io.labs import dataset_label, lab_id, lab_names, labs_dir, read_lab


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def cmd_lab_create(a: argparse.Namespace) -> int:
    cfg = LabConfig(a.name, a.model_1, a.model_2, a.data, a.split,
                    tuple(a.classes.split(",")) if a.classes else None, a.exclude,
                    tuple(a.size) if a.size else None, a.channels, a.mean, a.std, a.linf_step, a.data_root, a.force,
                    command=a.command_line)
    create(cfg, progress=lambda it, **kw: tqdm(it, dynamic_ncols=True, **kw))
    return 0


def cmd_lab_list(a: argparse.Namespace) -> int:
    names = lab_names()
    print(f"labs in {labs_dir()}: {len(names)}")
    for n in names:
        lab = read_lab(lab_id(n))
        pair = " / ".join(m["describe"] for m in lab.models)
        acc = " / ".join(f"{v} %" for v in lab.accuracy.values())
        print(f"  {dataset_label(lab_id(n))}: {pair}; {lab.data['images']} held-out images "
              f"{'x'.join(map(str, lab.shape))}; clean accuracy {acc}")
    return 0


def cmd_lab_demo(a: argparse.Namespace) -> int:
    return run_demo(a.demo, a.data_root, a.device, a.quick)


def add_lab_commands(sub: argparse._SubParsersAction) -> None:
    """``lab`` and its subcommands on the CLI's subparsers."""
    lab = sub.add_parser("lab", help="bring your own pair: make a lab from two classifiers and an image folder, list "
                         "labs, or remake the shipped demo labs", description="Labs: docs/labs.md")
    ls = lab.add_subparsers(dest="lab_command", required=True, metavar="LAB_COMMAND")
    c = ls.add_parser("create", help="check and write a lab (labs/NAME) from a pair and an image folder")
    c.add_argument("name", help="the lab's name (lower-case letters, digits, - and _)")
    for i in (1, 2):
        c.add_argument(f"--model-{i}", required=True, metavar="M",
                       help="ARCH=STATE_DICT (a torchvision architecture and its weights, loaded weights-only), or "
                            "a TorchScript file, or a torch.export .pt2 file (these run your own code)")
    c.add_argument("--data", required=True, metavar="DIR", help="an ImageFolder tree holding --split")
    c.add_argument("--split", default=LAB_SPLIT,
                   help=f"the folder of DIR with images the models never trained on (default {LAB_SPLIT})")
    c.add_argument("--exclude", default=None, metavar="FILE",
                   help="a text file naming images of the split (class/file, one a line) the models trained on")
    c.add_argument("--classes", default=None,
                   help="class folder names in the models' output order, comma-separated (default: sorted)")
    c.add_argument("--size", type=int, nargs=2, default=None, metavar=("H", "W"),
                   help="the image size the models take (default: the first image's); others are resized")
    c.add_argument("--channels", type=int, choices=(1, 3), default=None, help="1 (grey) or 3 (RGB)")
    c.add_argument("--mean", type=_floats, default=None, help="per-channel mean to normalise with, e.g. 0.5,0.5,0.5 "
                   "(default: the models normalise inside)")
    c.add_argument("--std", type=_floats, default=None, help="per-channel std, with --mean")
    c.add_argument("--linf-step", type=int, default=1, metavar="LEVELS",
                   help="pixel levels (of 255) per step of the detector-aware attacks' 16-step L∞ grid (default 1: "
                        "1/255 … 16/255, as CIFAR-10; about 5 for MNIST-like images)")
    c.add_argument("--force", action="store_true", help="replace a lab of that name")
    c.set_defaults(func=cmd_lab_create, needs_dataset=False)
    li = ls.add_parser("list", help="the labs found (artifacts/labs, or $ADV_LABS_DIR)")
    li.set_defaults(func=cmd_lab_list, needs_dataset=False)
    d = ls.add_parser("demo", help="remake a shipped demo lab end to end: its pair, the lab, the pipeline, "
                      "calibration, the held-out report and the security sweep")
    d.add_argument("demo", choices=tuple(DEMOS))
    d.add_argument("--quick", action="store_true",
                   help="tiny sizes, into the lab NAME-quick (a smoke run; the shipped lab stays as it is)")
    d.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    d.set_defaults(func=cmd_lab_demo, needs_dataset=False)
    for s in (c, d):
        s.add_argument("--data-root", default=None,
                       help=DATA_ROOT_HELP)
