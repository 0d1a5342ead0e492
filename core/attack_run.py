"""One interactive attack, step by step: what the dashboard's attack lab plays, replays and downloads.

``AttackRun`` wraps ``core.attacks.budget_search_steps`` for a single image:
every step the engine yields becomes a :class:`Step` holding the perturbed
image, both models' softmax (in the fixed order model 1, model 2, whichever
is attacked), the detector's probability of attack and whether the attacked
model is fooled.  The run stops at the first fooling step (the engine's budget
search does too).  ``to_json`` / ``from_json`` and :func:`core.images.to_png`
give the downloads.  Nothing here imports Streamlit.
"""
from __future__ import annotations

import base64
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import torch

from .data import CLASSES

FORMAT_VERSION = 1


def choose_model(choice: str | int, seed: int | None = None) -> int:
    """``1``, ``2`` or ``"coin"`` (a fair coin, reproducible with ``seed``) → the model to attack."""
    if choice in (1, 2, "1", "2"):
        return int(choice)
    if choice == "coin":
        return random.Random(seed).choice((1, 2))
    raise ValueError(f"attacked model must be 1, 2 or 'coin', got {choice!r}")


def warm_up(*models: torch.nn.Module, shape: tuple[int, ...] = (1, 1, 28, 28)) -> None:
    """One forward and backward pass per model, so the first live step does not pay autograd's start-up cost."""
    for m in models:
        x = torch.zeros(shape, requires_grad=True)
        with torch.enable_grad():
            m(x).sum().backward()


def interactive_threads(default: int = 1) -> int:
    """Torch threads for interactive single-image work (``$MISMATCH_APP_THREADS``, default 1).

    One image at a time, a single intra-op thread is fastest; on a machine busy with training it also avoids
    threads waiting on each other (measured here: 0.5 ms vs 100 ms per forward pass of the MNIST pair).
    """
    import os

    n = int(os.environ.get("MISMATCH_APP_THREADS", default))
    torch.set_num_threads(n)
    return n


@torch.no_grad()
def softmax_pair(m1: torch.nn.Module, m2: torch.nn.Module, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Both models' softmax for one image ``[1,C,H,W]`` → two float64 ``[10]`` arrays."""
    return (torch.softmax(m1(x), 1)[0].double().numpy(), torch.softmax(m2(x), 1)[0].double().numpy())


def distortion(x0: np.ndarray | torch.Tensor, x: np.ndarray | torch.Tensor) -> dict[str, float]:
    """MSE, L2 and L-infinity of ``x - x0`` in pixel space ([0,1])."""
    d = np.asarray(x, np.float64) - np.asarray(x0, np.float64)
    return {"mse": float((d**2).mean()), "l2": float(np.sqrt((d**2).sum())), "linf": float(np.abs(d).max()) if d.size else 0.0}


def amplified(x0: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The perturbation scaled to fill [0,1] for display: grey 0.5 = unchanged, darker/lighter = -/+."""
    d = np.asarray(x, np.float32) - np.asarray(x0, np.float32)
    m = float(np.abs(d).max())
    return np.clip(0.5 + d / (2 * m), 0, 1) if m > 0 else np.full_like(d, 0.5)


@dataclass
class Step:
    index: int
    budget: float
    x: np.ndarray  # [C,H,W] float32
    probs_1: np.ndarray  # [10] model 1's softmax
    probs_2: np.ndarray  # [10] model 2's softmax
    fooled: bool  # the attacked model's prediction differs from the label
    p_attack: float | None  # the universal detector's P(attack), None without a detector
    seconds: float = 0.0  # engine time for this step (attack + detector)

    def to_dict(self, with_image: bool = True) -> dict[str, Any]:
        d = {"index": self.index, "budget": self.budget, "fooled": self.fooled, "p_attack": self.p_attack,
             "pred_1": int(np.argmax(self.probs_1)), "pred_2": int(np.argmax(self.probs_2)),
             "probs_1": [round(float(p), 6) for p in self.probs_1], "probs_2": [round(float(p), 6) for p in self.probs_2],
             "seconds": round(self.seconds, 4)}
        if with_image:
            d["x_float32_b64"] = base64.b64encode(np.ascontiguousarray(self.x, np.float32).tobytes()).decode()
        return d


@dataclass
class AttackRun:
    """A budget search on one image, recorded step by step."""

    dataset: str
    attack: str
    attacked: int  # 1 or 2
    label: int
    x0: np.ndarray  # [C,H,W] float32, the clean image
    source: str = ""  # e.g. "sample 17", "upload digit.png"
    seed: int = 0
    threshold: float = 0.5
    budget_name: str = "budget"
    clean_probs_1: np.ndarray | None = None
    clean_probs_2: np.ndarray | None = None
    clean_p_attack: float | None = None
    steps: list[Step] = field(default_factory=list)
    label_source: str = "ground truth"
    png_pred: int | None = None  # the attacked model's prediction on the final image rounded to 8 bits

    # -- running -----------------------------------------------------------------------------------
    def play(self, m1: torch.nn.Module, m2: torch.nn.Module, detector: Any = None, max_steps: int | None = None) -> Iterator[Step]:
        """Run the budget search, yielding (and recording) each step; stops at the first fooling step."""
        from .attacks import ATTACK_SPECS, budget_search_steps

        spec = ATTACK_SPECS.get(self.attack) if hasattr(ATTACK_SPECS, "get") else None
        self.budget_name = getattr(spec, "budget_name", self.budget_name)
        x = torch.from_numpy(np.ascontiguousarray(self.x0, np.float32))[None]
        y = torch.tensor([self.label], dtype=torch.int64)
        self.clean_probs_1, self.clean_probs_2 = softmax_pair(m1, m2, x)
        if detector is not None:
            self.threshold = float(getattr(detector, "threshold", 0.5))
            self.clean_p_attack = float(detector.predict_proba_features(np.concatenate([self.clean_probs_1, self.clean_probs_2])[None])[0])
        attacked, other = (m1, m2) if self.attacked == 1 else (m2, m1)
        self.steps = []
        t = time.perf_counter()
        for s in budget_search_steps(self.attack, attacked, x, y, seed=self.seed, other_model=other):
            xs = s.x.detach().reshape(1, *self.x0.shape).float()
            pa = np.asarray(torch.as_tensor(s.probs_attacked).detach().reshape(-1).double().numpy())
            po = (torch.softmax(other(xs), 1)[0].double().numpy() if getattr(s, "probs_other", None) is None
                  else np.asarray(torch.as_tensor(s.probs_other).detach().reshape(-1).double().numpy()))
            p1, p2 = (pa, po) if self.attacked == 1 else (po, pa)
            p_attack = None
            if detector is not None:
                p_attack = float(detector.predict_proba_features(np.concatenate([p1, p2])[None])[0])
            step = Step(int(s.index), float(s.budget), xs[0].numpy().astype(np.float32), p1, p2, bool(s.fooled), p_attack,
                        time.perf_counter() - t)
            self.steps.append(step)
            yield step
            t = time.perf_counter()
            if step.fooled or (max_steps is not None and len(self.steps) >= max_steps):
                break
        if self.steps:  # does the 8-bit PNG download still fool the attacked model?
            from .images import quantise

            with torch.no_grad():
                xq = quantise(torch.from_numpy(self.steps[-1].x)[None])
                self.png_pred = int(attacked(xq).argmax(1)[0])

    # -- results -----------------------------------------------------------------------------------
    @property
    def final(self) -> Step | None:
        return self.steps[-1] if self.steps else None

    @property
    def fooled(self) -> bool:
        return bool(self.final and self.final.fooled)

    @property
    def caught(self) -> bool | None:
        f = self.final
        return None if f is None or f.p_attack is None else f.p_attack >= self.threshold

    def verdict(self) -> str:
        """A one-line outcome for the user."""
        if self.final is None:
            return "not run"
        if not self.fooled:
            return f"the attack did not fool model {self.attacked} within its budget range"
        if len(self.steps) == 1 and self.final.budget == 0:
            return f"model {self.attacked} already misclassifies the clean image: no perturbation needed"
        if self.caught is None:
            return f"model {self.attacked} fooled; no detector shipped to judge it"
        return ("caught: the detector flags the adversarial image" if self.caught
                else "missed: the detector takes the adversarial image for clean")

    def metrics(self) -> dict[str, Any]:
        f = self.final
        d = distortion(self.x0, f.x) if f is not None else {"mse": 0.0, "l2": 0.0, "linf": 0.0}
        return {**d, "steps": len(self.steps), "budget": None if f is None else f.budget, "fooled": self.fooled,
                "caught": self.caught, "p_attack": None if f is None else f.p_attack,
                "png_still_fools": None if self.png_pred is None else self.png_pred != self.label}

    def classes(self) -> tuple[str, ...]:
        return CLASSES[self.dataset]

    def to_dict(self) -> dict[str, Any]:
        enc = lambda a: base64.b64encode(np.ascontiguousarray(a, np.float32).tobytes()).decode()  # noqa: E731
        return {
            "format": "mismatch-lab attack run", "version": FORMAT_VERSION,
            "dataset": self.dataset, "attack": self.attack, "budget_name": self.budget_name, "attacked_model": self.attacked,
            "seed": self.seed, "label": self.label, "label_name": self.classes()[self.label], "label_source": self.label_source,
            "source": self.source, "shape": list(self.x0.shape), "detector_threshold": self.threshold,
            "clean": {"probs_1": None if self.clean_probs_1 is None else [round(float(p), 6) for p in self.clean_probs_1],
                      "probs_2": None if self.clean_probs_2 is None else [round(float(p), 6) for p in self.clean_probs_2],
                      "p_attack": self.clean_p_attack, "x_float32_b64": enc(self.x0)},
            "verdict": self.verdict(), "metrics": self.metrics(),
            "steps": [s.to_dict() for s in self.steps],
            "note": "images are float32 [C,H,W] in [0,1], little-endian, base64 (exact values; the PNG rounds to 8 bits)",
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "AttackRun":
        d = json.loads(text)
        if d.get("format") != "mismatch-lab attack run":
            raise ValueError("not a Mismatch Lab attack-run JSON file")
        shape = tuple(d["shape"])
        dec = lambda s: np.frombuffer(base64.b64decode(s), np.float32).reshape(shape).copy()  # noqa: E731
        c = d["clean"]
        run = cls(d["dataset"], d["attack"], d["attacked_model"], d["label"], dec(c["x_float32_b64"]), d.get("source", ""),
                  d.get("seed", 0), d.get("detector_threshold", 0.5), d.get("budget_name", "budget"),
                  None if c["probs_1"] is None else np.array(c["probs_1"]), None if c["probs_2"] is None else np.array(c["probs_2"]),
                  c.get("p_attack"), label_source=d.get("label_source", "ground truth"))
        run.steps = [Step(s["index"], s["budget"], dec(s["x_float32_b64"]), np.array(s["probs_1"]), np.array(s["probs_2"]),
                          s["fooled"], s["p_attack"], s.get("seconds", 0.0)) for s in d["steps"]]
        return run
