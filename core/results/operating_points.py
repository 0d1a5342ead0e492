"""``operating_points.json`` (and ``operating_points_<variant>.json``): path, writer, reader, printed table.

Written by ``python -m core calibrate`` (``core.experiments.calibration``): per shipped detector, the threshold on
P(attack) at each clean false-positive rate, set on the calibration role of the clean test split, and the
false-positive rate it gives on the evaluation role (``core.data.test_roles``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from core.detector.thresholds import FPRS, fpr_key
from core.io.files import read_result, write_json
from core.io.manifest import register_file
from core.io.paths import MAKE_COMMANDS, operating_points_path

COMMAND = MAKE_COMMANDS["operating_points"]


def write_operating_points(doc: dict[str, Any], command: str) -> Path:
    """Write ``doc`` atomically where its dataset and variant say, registered with ``command``."""
    path = operating_points_path(doc["dataset"], doc["variant"])
    write_json(path, doc)
    register_file(path, command)
    return path


def read_operating_points(dataset: str, variant: str = "paper") -> dict[str, Any]:
    """The committed operating points of ``dataset`` (``FileNotFoundError`` with the command if missing)."""
    return read_result(operating_points_path(dataset, variant), "operating points", COMMAND.format(dataset=dataset))


def format_operating_points(doc: dict[str, Any]) -> str:
    """The table ``python -m core calibrate`` and ``report`` print."""
    lines = [f"{doc['dataset']}: operating points (calibration {doc['calibration_images']} clean test images, "
             f"evaluation {doc['held_out_images']})",
             f"{'detector':<16}" + "".join(f"{'thr @' + k:>12}{'FPR held-out':>14}" for k in map(fpr_key, FPRS))]
    for name, row in doc["detectors"].items():
        lines.append(f"{name:<16}" + "".join(f"{row[fpr_key(a)]['threshold']:>12.4f}"
                                             f"{row[fpr_key(a)]['clean_fpr_held_out']:>14.3f}" for a in FPRS))
    return "\n".join(lines)
