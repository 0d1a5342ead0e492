"""Operating points of the shipped detectors, set on clean test images they never saw.

The test split is cut, with a fixed seed, into roles (``core.data.test_roles``): the *calibration* role sets each
detector's thresholds (its P(attack) scores are stored with the detector), the *evaluation* role measures the
clean false-positive rate those thresholds really give.  A detector trained on either role is refused.
Writes ``artifacts/results/<dataset>/operating_points.json`` through ``core.results.operating_points``.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from core.data import SPLIT_SEED, load_split, roles_record, test_roles
from core.detector import TRAINED_ON, check_unseen, load, load_watched, store, watched_features
from core.detector.thresholds import FPRS, fpr_key
from core.io.manifest import code_version, update_manifest
from core.io.paths import artifact_root
from core.results.operating_points import COMMAND, write_operating_points


def calibrate(dataset: str, data_root: str | None = None, trained_on: Sequence[str] | None = None,
              progress: Callable | None = None, variant: str = "paper", device: str = "cpu") -> dict[str, Any]:
    """Set and store the operating points of the shipped ``dataset`` detectors; write their held-out FPRs."""

    x, _ = load_split(dataset, "test", data_root)
    roles = test_roles(len(x))
    cal, held = roles["calibration"], roles["evaluation"]
    f = watched_features(load_watched(dataset, variant, device), x).numpy()
    command = COMMAND.format(dataset=dataset) + ("" if variant == "paper" else f" --variant {variant}")
    names = list(trained_on or (TRAINED_ON if variant == "paper" else ("all",)))
    rows = {}
    for name in progress(names, desc=f"calibrate {dataset}", unit="detector") if progress else names:
        det = load(dataset, name, variant)
        check_unseen(det, "test", "calibration", "calibrate")
        check_unseen(det, "test", "evaluation", "evaluate")
        det.calibrate(det.predict_proba_features(f[cal]))
        p_held = det.predict_proba_features(f[held])
        det.meta["calibration"] = {"split": "test", "role": "calibration", "seed": SPLIT_SEED,
                                   "calibration_images": int(len(cal)), "evaluation_images": int(len(held)),
                                   "command": command}
        store(det, det.meta.get("command", command))
        rows[name] = {
            fpr_key(a): {"threshold": det.threshold(a), "clean_fpr_held_out": float((p_held > det.threshold(a)).mean())}
            for a in FPRS
        }
    out = {
        "dataset": dataset,
        "variant": variant,
        "command": command,
        "code_version": code_version(),
        "split_seed": SPLIT_SEED,
        "calibration_images": int(len(cal)),
        "held_out_images": int(len(held)),
        "roles": roles_record(dataset),
        "note": "thresholds on P(attack) of the calibration role of the clean test split; the clean "
        "false-positive rate they give on the evaluation role",
        "detectors": rows,
    }
    # the roles every result file records
    update_manifest("roles", dataset, roles_record(dataset), replace=True, root=artifact_root(dataset))
    write_operating_points(out, command)
    return out


