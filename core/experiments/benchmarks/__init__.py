"""Speed benchmarks: each prints images/s of ours and of a baseline run in the same process, and the ratio.

Each benchmark states its targets as ``TARGETS`` (figure → (">=" or "<=", bound)); ``python -m core bench``
exits 1 when a measured figure misses its target, and ``--target FIGURE=BOUND`` replaces a bound for one run
(e.g. to check a stricter one).
"""
from __future__ import annotations

import argparse
from typing import Mapping

Targets = Mapping[str, tuple[str, float]]


def targets_from(args: argparse.Namespace, defaults: Targets,
                 figures: Mapping[str, float]) -> dict[str, tuple[str, float]]:
    """The benchmark's ``defaults`` with ``args.targets`` (``{figure: bound}`` from ``--target``) put in; a bound for a
    figure the benchmark does not measure is refused (``ValueError``)."""
    out = dict(defaults)
    for name, bound in (getattr(args, "targets", None) or {}).items():
        if name not in figures and name not in defaults:
            raise ValueError(f"no figure {name!r} to hold to a target: choose one of {', '.join(sorted(figures))}")
        out[name] = (defaults[name][0] if name in defaults else ">=", bound)
    return out


def missed(figures: Mapping[str, float], targets: Targets) -> list[str]:
    """One line per measured figure that misses its target (figures not measured in this run are not held)."""
    lines = []
    for name, (op, bound) in targets.items():
        if name in figures:
            value = figures[name]
            if not (value >= bound if op == ">=" else value <= bound):
                lines.append(f"MISSED {name} = {value:.4g} (target {op} {bound:g})")
    return lines


def verdict(figures: Mapping[str, float], targets: Targets) -> int:
    """Print every missed target; the exit code: 1 if any, else 0."""
    lines = missed(figures, targets)
    for line in lines:
        print(f"  {line}")
    print(f"  targets: {'all hit' if not lines else f'{len(lines)} missed'}")
    return 1 if lines else 0
