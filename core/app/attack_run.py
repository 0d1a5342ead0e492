"""One interactive attack, step by step: what the dashboard's attack lab plays, replays and downloads.

``AttackRun`` wraps ``core.attacks.budget_search_steps`` for a single image:
every step the engine yields becomes a :class:`RunStep` holding the perturbed
image, both models' softmax (in the fixed order model 1, model 2, whichever
is attacked), the detector's probability of attack and whether the attacked
model is fooled.  The run stops at the first fooling step (the engine's budget
search does too).  The detector judges at an operating point: it flags when
P(attack) > ``detector.threshold(fpr)``, the threshold with clean false-positive
rate ``fpr``.

The adaptive attacks of ``core.attacks.adaptive`` (they know both models and the
detector) play ``search_steps`` instead: model 1 is always the attacked model, one
step per L∞ budget of ``core.security.GRIDS``, each with the engine's outcome
(model 1 right / fooled but caught / fooled and not flagged); the run stops at the
first undetected success.  ``to_json`` / ``from_json`` and :func:`core.data.uploads.to_png`
give the downloads.  Nothing here imports Streamlit.
"""
from __future__ import annotations

import base64
import json
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

import numpy as np
import torch

from core import ATTACK_LABELS
from core.app.glossary import fpr_words
from core.app.verdicts import FALSE_ALARM, clean_share_below, detector_sentence, rank_words
from core.attacks import ATTACK_SPECS, budget_search_steps
from core.attacks.adaptive import ADAPTIVE_ATTACKS, ADAPTIVE_SPECS, get_adaptive, search_steps
from core.attacks.adaptive.grids import GRIDS
from core.data import CLASSES
from core.data.uploads import quantise
from core.detector import watched_features
from core.detector.judges import judge_for
from core.detector.thresholds import DEFAULT_FPR
from core.results.security import eps_text

FORMAT_VERSION = 3  # 2: operating point (fpr), adaptive attacks, per-step outcome; 3: per-step clean_share, variant
# (version 1 and 2 files still load)
RIGHT, CAUGHT, EVADED = 0, 1, 2  # per-step outcome of an adaptive run (as in core.attacks.adaptive)
OUTCOME_NAMES = {RIGHT: "model 1 right", CAUGHT: "caught", EVADED: "evaded"}
ADAPTIVE_BUDGET_NAME = "ε (L∞)"
T = TypeVar("T")


def adaptive_attacks() -> tuple[str, ...]:
    """The detector-aware attacks the lab offers after the paper's seven."""

    return tuple(ADAPTIVE_ATTACKS)


def is_adaptive(attack: str) -> bool:
    """Whether ``attack`` is one of the detector-aware attacks (played with ``search_steps``, on model 1)."""
    return attack in adaptive_attacks()


def attack_choice_label(attack: str) -> str:
    """What the attack selector shows: the paper's label, or e.g. "Joint PGD (adaptive)" / "PGD, no detector
    (reference)" for the detector-aware attacks (labels from ``ADAPTIVE_SPECS``)."""
    if is_adaptive(attack):
        spec = ADAPTIVE_SPECS[attack]
        tag = "adaptive" if spec.adaptive else "reference"
        return f"{spec.label[:-1]}, {tag})" if spec.label.endswith(")") else f"{spec.label} ({tag})"
    return ATTACK_LABELS[attack]


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

    n = int(os.environ.get("MISMATCH_APP_THREADS", default))
    torch.set_num_threads(n)
    return n


@torch.no_grad()
def p_attack_of(detector: Any) -> Callable[[np.ndarray, np.ndarray, torch.Tensor], float]:
    """``score(p1, p2, x)``: ``detector``'s P(attack) of image ``x`` from the pair's softmax ``p1, p2`` (already
    computed) and, for a detector that watches more models (``pool``), theirs; those are loaded once, here."""

    more = detector.models()[2:]

    def score(p1: np.ndarray, p2: np.ndarray, x: torch.Tensor) -> float:
        f = [p1, p2] + ([watched_features(more, x)[0].double().numpy()] if more else [])
        return float(detector.predict_proba_features(np.concatenate(f)[None])[0])

    return score


def softmax_pair(m1: torch.nn.Module, m2: torch.nn.Module, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Both models' softmax for one image ``[1,C,H,W]`` → two float64 ``[10]`` arrays."""
    return (torch.softmax(m1(x), 1)[0].double().numpy(), torch.softmax(m2(x), 1)[0].double().numpy())


def distortion(x0: np.ndarray | torch.Tensor, x: np.ndarray | torch.Tensor) -> dict[str, float]:
    """MSE, L2 and L-infinity of ``x - x0`` in pixel space ([0,1])."""
    d = np.asarray(x, np.float64) - np.asarray(x0, np.float64)
    return {"mse": float((d**2).mean()), "l2": float(np.sqrt((d**2).sum())),
            "linf": float(np.abs(d).max()) if d.size else 0.0}


def amplified(x0: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The perturbation scaled to fill [0,1] for display: grey 0.5 = unchanged, darker/lighter = -/+."""
    d = np.asarray(x, np.float32) - np.asarray(x0, np.float32)
    m = float(np.abs(d).max())
    return np.clip(0.5 + d / (2 * m), 0, 1) if m > 0 else np.full_like(d, 0.5)


def budget_text(value: float | None, budget_name: str, dataset: str) -> str:
    """A budget as the lab prints it: L∞ budgets as ``core.security.eps_text`` does (CIFAR-10: ``8/255``, the
    unit its pixels come in), any other budget (σ, γ, iterations…) to 4 significant digits."""
    if value is None:
        return "—"
    return eps_text(value, dataset) if "L∞" in budget_name else f"{value:.4g}"


def paced(steps: Iterable[T], seconds: float, lead: float = 0.0, clock: Callable[[], float] = time.perf_counter,
          sleep: Callable[[float], None] = time.sleep) -> Iterator[T]:
    """Yield ``steps`` at least ``seconds`` apart, the first at least ``lead`` after the start: a live demo sees
    every step of a search that computes faster than a browser draws (an MNIST FGSM search: 40 steps in under a
    second).  Steps that reach a browser while it is busy (drawing the page a run starts from) are merged into
    one drawing and never seen: ``lead`` gives it that time.  Slower steps pass at once."""
    last, gap = clock(), lead
    for step in steps:
        wait = gap - (clock() - last)
        if wait > 0:
            sleep(wait)
        last, gap = clock(), seconds
        yield step


@torch.no_grad()
def clean_prediction(model: torch.nn.Module, x0: np.ndarray) -> int:
    """``model``'s class for the clean image ``x0 [C,H,W]`` (an upload's label when the user gives none)."""
    return int(model(torch.from_numpy(np.ascontiguousarray(x0, np.float32))[None]).argmax(1)[0])


@torch.no_grad()
def clean_softmax(m1: torch.nn.Module, m2: torch.nn.Module, x0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both models' softmax on the clean image ``x0 [C,H,W]``: what the lab shows before a run."""
    return softmax_pair(m1, m2, torch.from_numpy(np.ascontiguousarray(x0, np.float32))[None])


@dataclass
class RunStep:
    index: int
    budget: float
    x: np.ndarray  # [C,H,W] float32
    probs_1: np.ndarray  # [10] model 1's softmax
    probs_2: np.ndarray  # [10] model 2's softmax
    fooled: bool  # the attacked model's prediction differs from the label
    p_attack: float | None  # the universal detector's P(attack), None without a detector
    seconds: float = 0.0  # engine time for this step (attack + detector)
    outcome: int | None = None  # adaptive runs: RIGHT / CAUGHT / EVADED as the engine judged it; None otherwise
    clean_share: float | None = None  # share of the detector's clean calibration scores below ``p_attack``

    def to_dict(self, with_image: bool = True) -> dict[str, Any]:
        d = {"index": self.index, "budget": self.budget, "fooled": self.fooled, "p_attack": self.p_attack,
             "outcome": self.outcome, "outcome_name": OUTCOME_NAMES.get(self.outcome),
             "pred_1": int(np.argmax(self.probs_1)), "pred_2": int(np.argmax(self.probs_2)),
             "probs_1": [round(float(p), 6) for p in self.probs_1],
             "probs_2": [round(float(p), 6) for p in self.probs_2],
             "seconds": round(self.seconds, 4), "clean_share": self.clean_share}
        if with_image:
            d["x_float32_b64"] = base64.b64encode(np.ascontiguousarray(self.x, np.float32).tobytes()).decode()
        return d


def step_outcome(step: RunStep) -> tuple[str, str]:
    """A step's outcome: its kind (``fooled``, ``not_yet``, ``evaded``, ``caught``, ``right``; the page picks an
    icon for it) and its words (adaptive runs: the engine's verdict; paper runs: fooled or not yet)."""
    if step.outcome is None:
        return ("fooled", "**model fooled**") if step.fooled else ("not_yet", "not fooled yet")
    if step.outcome == EVADED:
        return "evaded", "**evaded**: model 1 fooled, the detector stays silent"
    if step.outcome == CAUGHT:
        return "caught", "**caught**: model 1 fooled, but the detector flags the image"
    return "right", "model 1 still right"


@dataclass
class AttackRun:
    """A budget search on one image, recorded step by step, judged at the operating point ``fpr``."""

    dataset: str
    attack: str
    attacked: int  # 1 or 2 (always 1 for the adaptive attacks)
    label: int
    x0: np.ndarray  # [C,H,W] float32, the clean image
    source: str = ""  # e.g. "sample 17", "upload digit.png"
    seed: int = 0
    threshold: float | None = None  # the detector's P(attack) threshold at ``fpr`` (None: no verdict possible)
    budget_name: str = "budget"
    clean_probs_1: np.ndarray | None = None
    clean_probs_2: np.ndarray | None = None
    clean_p_attack: float | None = None
    steps: list[RunStep] = field(default_factory=list)
    label_source: str = "ground truth"
    png_pred: int | None = None  # the attacked model's prediction on the final image rounded to 8 bits
    fpr: float | None = DEFAULT_FPR  # the operating point (None: a version-1 file, judged at a bare threshold)
    pgd_steps: int = 100  # adaptive runs: PGD steps per budget
    detector_note: str = ""  # why the detector gave no verdict (e.g. no operating points)
    variant: str = "paper"  # the detector variant that judged the run
    clean_images: int | None = None  # how many clean calibration scores each step's ``clean_share`` ranks against
    _clean_scores: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def adaptive(self) -> bool:
        return is_adaptive(self.attack)

    # -- running -----------------------------------------------------------------------------------
    def play(self, m1: torch.nn.Module, m2: torch.nn.Module, detector: Any = None, max_steps: int | None = None,
             surrogate: Sequence[torch.nn.Module] | None = None) -> Iterator[RunStep]:
        """Run the budget search, yielding (and recording) each step; stops at the first success.

        Paper attacks stop at the first step that fools the attacked model; adaptive attacks (which need
        ``detector``, and ``surrogate`` for ``transfer``) at the first budget where model 1 is fooled and the
        detector does not flag the image at ``fpr``.
        """
        if self.adaptive:
            yield from self._play_adaptive(m1, m2, detector, max_steps, surrogate)
            return

        self.budget_name = ATTACK_SPECS[self.attack].budget_name
        x = torch.from_numpy(np.ascontiguousarray(self.x0, np.float32))[None]
        y = torch.tensor([self.label], dtype=torch.int64)
        self.clean_probs_1, self.clean_probs_2 = softmax_pair(m1, m2, x)
        self._set_threshold(detector)
        score = None if detector is None else p_attack_of(detector)
        if score is not None:
            self.clean_p_attack = score(self.clean_probs_1, self.clean_probs_2, x)
        attacked, other = (m1, m2) if self.attacked == 1 else (m2, m1)
        self.steps = []
        t = time.perf_counter()
        for s in budget_search_steps(self.attack, attacked, x, y, seed=self.seed, other_model=other):
            xs = s.x.detach().reshape(1, *self.x0.shape).float()
            pa = np.asarray(torch.as_tensor(s.probs_attacked).detach().reshape(-1).double().numpy())
            po = s.probs_other.detach().reshape(-1).double().numpy()  # given other_model, every step has it
            p1, p2 = (pa, po) if self.attacked == 1 else (po, pa)
            p_attack = None if score is None else score(p1, p2, xs)
            step = RunStep(int(s.index), float(s.budget), xs[0].numpy().astype(np.float32), p1, p2, bool(s.fooled),
                           p_attack, time.perf_counter() - t, clean_share=self._share(p_attack))
            self.steps.append(step)
            yield step
            t = time.perf_counter()
            if step.fooled or (max_steps is not None and len(self.steps) >= max_steps):
                break
        self._check_png(attacked)

    def _play_adaptive(self, m1: torch.nn.Module, m2: torch.nn.Module, detector: Any, max_steps: int | None,
                       surrogate: Sequence[torch.nn.Module] | None) -> Iterator[RunStep]:
        """``search_steps`` against ``judge_for(detector, fpr)`` on model 1, one step per budget of the grid."""

        if detector is None:
            raise ValueError(f"the adaptive attack {self.attack!r} attacks the detector, and none is loaded")
        if self.fpr is None:
            raise ValueError("an adaptive run needs an operating point (fpr)")
        if self.attacked != 1:
            raise ValueError("adaptive attacks attack model 1 (the model whose answer the user gets)")
        attack = get_adaptive(self.attack, surrogate if self.attack == "transfer" else None)
        self.threshold = float(detector.threshold(self.fpr))  # RuntimeError without operating points
        self._set_clean_scores(detector)
        judge = judge_for(detector, self.fpr)
        self.budget_name = ADAPTIVE_BUDGET_NAME
        x = torch.from_numpy(np.ascontiguousarray(self.x0, np.float32))[None]
        y = torch.tensor([self.label], dtype=torch.int64)
        t = time.perf_counter()
        self.clean_probs_1, self.clean_probs_2 = softmax_pair(m1, m2, x)
        score = p_attack_of(detector)
        self.clean_p_attack = score(self.clean_probs_1, self.clean_probs_2, x)
        first = self._adaptive_step(0, 0.0, x, None, m1, m2, score, time.perf_counter() - t)
        self.steps = [first]
        yield first
        if first.outcome == EVADED or (first.fooled and attack.stop_on_fooled):  # already wrong on the clean image
            self._check_png(m1)
            return
        t = time.perf_counter()
        for k, (eps, x_adv, outcome) in enumerate(search_steps(attack, judge, x, y, GRIDS[self.dataset],
                                                               steps=self.pgd_steps, seed=self.seed), start=1):
            step = self._adaptive_step(k, eps, x_adv, int(outcome), m1, m2, score, time.perf_counter() - t)
            self.steps.append(step)
            yield step
            t = time.perf_counter()
            if max_steps is not None and len(self.steps) >= max_steps:
                break
        self._check_png(m1)

    def _adaptive_step(self, index: int, eps: float, x_adv: torch.Tensor, outcome: int | None, m1: torch.nn.Module,
                       m2: torch.nn.Module, score: Callable[..., float], seconds: float) -> RunStep:
        """One recorded budget: the image, both softmax vectors and P(attack) from a fresh pass over that image.

        ``outcome`` is the engine's (``None`` for the clean image, where it is read off the fresh pass).
        """
        xs = x_adv.detach().reshape(1, *self.x0.shape).float()
        p1, p2 = softmax_pair(m1, m2, xs)
        p_attack = score(p1, p2, xs)
        fooled = int(np.argmax(p1)) != self.label
        if outcome is None:
            outcome = RIGHT if not fooled else CAUGHT if p_attack > self.threshold else EVADED
        return RunStep(index, float(eps), xs[0].numpy().astype(np.float32), p1, p2, fooled, p_attack, seconds, outcome,
                       self._share(p_attack))

    def _set_threshold(self, detector: Any) -> None:
        """The detector's threshold at ``fpr``; a detector without operating points scores but gives no verdict."""
        self.threshold, self.detector_note = None, ""
        self._set_clean_scores(detector)
        if detector is None:
            return
        try:
            self.threshold = float(detector.threshold(self.fpr if self.fpr is not None else DEFAULT_FPR))
        except RuntimeError as e:
            self.detector_note = str(e)

    def _set_clean_scores(self, detector: Any) -> None:
        """The detector's clean calibration scores (``Calibrated.clean_scores_``), to rank each step against."""
        scores = getattr(detector, "clean_scores_", None)
        self._clean_scores = None if scores is None or len(scores) == 0 else np.sort(np.asarray(scores, np.float64))
        self.clean_images = None if self._clean_scores is None else len(self._clean_scores)

    def _share(self, p_attack: float | None) -> float | None:
        """The share of clean calibration scores below ``p_attack`` (None without a score or calibration)."""
        return None if p_attack is None or self._clean_scores is None else clean_share_below(p_attack,
                                                                                             self._clean_scores)

    def _check_png(self, attacked: torch.nn.Module) -> None:
        """Does the 8-bit PNG download still fool the attacked model?"""
        if self.steps:
            with torch.no_grad():
                xq = quantise(torch.from_numpy(self.steps[-1].x)[None])
                self.png_pred = int(attacked(xq).argmax(1)[0])

    # -- results -----------------------------------------------------------------------------------
    @property
    def final(self) -> RunStep | None:
        return self.steps[-1] if self.steps else None

    @property
    def fooled(self) -> bool:
        """The attacked model is wrong on the final image (adaptive runs: as the engine judged it)."""
        f = self.final
        if f is not None and f.outcome is not None:
            return f.outcome != RIGHT
        return bool(f and f.fooled)

    @property
    def caught(self) -> bool | None:
        """The detector flags the final image at the operating point (``None``: no detector or no threshold)."""
        f = self.final
        if f is not None and f.outcome is not None:
            return f.outcome == CAUGHT
        return None if f is None or f.p_attack is None or self.threshold is None else f.p_attack > self.threshold

    def operating_point(self) -> str:
        """The operating point in words: "5 % clean false positives" (or the bare threshold of an old file)."""
        if self.fpr is not None:
            return fpr_words(self.fpr)
        return "a bare P(attack) threshold" + ("" if self.threshold is None else f" of {self.threshold:.2f}") + \
            " (a run saved before operating points)"

    @property
    def clean_step(self) -> RunStep | None:
        """Step 0, the clean image as given (every run starts there), or None."""
        s = self.steps[0] if self.steps else None
        return s if s is not None and s.index == 0 and s.budget == 0 else None

    @property
    def clean_flagged(self) -> bool:
        """The detector flags the clean image itself, before any perturbation: a false alarm, which makes a later
        "caught" meaningless."""
        s = self.clean_step
        return bool(s is not None and s.p_attack is not None and self.threshold is not None
                    and s.p_attack > self.threshold)

    def budget_text(self, value: float | None) -> str:
        """A budget as the lab prints it (``budget_text``: CIFAR-10's L∞ budgets as k/255)."""
        return budget_text(value, self.budget_name, self.dataset)

    def rank(self, step: RunStep) -> str:
        """Where ``step``'s image ranks among clean test images ("more suspicious than 93 % of clean test images;
        flagged above 95 %"), or "" without calibration scores or operating point."""
        if step.clean_share is None or step.p_attack is None or self.fpr is None:
            return ""
        flagged = None if self.threshold is None else step.p_attack > self.threshold
        return rank_words(step.clean_share, self.fpr, flagged)

    def detector_line(self, step: RunStep) -> tuple[float, str]:
        """What the live detector bar shows for ``step``: its fill (the rank among clean test images, or
        P(attack) without calibration scores) and its text."""
        if step.p_attack is None:
            return 0.0, "no detector"
        fill = step.clean_share if step.clean_share is not None else step.p_attack
        text = detector_sentence(step.p_attack, self.threshold, self.fpr or DEFAULT_FPR, step.clean_share)
        if self.threshold is None and self.detector_note:
            text += f" ({self.detector_note})"
        elif self.threshold is not None:
            text += f" at {self.operating_point()}"
        if step is self.clean_step and self.clean_flagged:
            text = f"{FALSE_ALARM}: {text}"
        return min(max(float(fill), 0.0), 1.0), f"Detector: {text}"

    def verdict(self) -> str:
        """A one-line outcome for the user, naming the operating point the detector judged at.

        With the detector's clean calibration scores, the final image's rank among clean test images says what
        P(attack) means; a clean image flagged before any perturbation is named a false alarm, never "caught".
        """
        if self.final is None:
            return "not run"
        at = f"at {self.operating_point()}"
        if self.adaptive:
            return self._adaptive_verdict(at)
        who = f"model {self.attacked}"
        if not self.fooled:
            did_not = f"the attack did not fool {who} within its budget range"
            return f"{FALSE_ALARM} {at}; {did_not}" if self.clean_flagged else did_not
        if len(self.steps) == 1 and self.final.budget == 0:
            return f"{who} already misclassifies the clean image: no perturbation needed"
        if self.final.p_attack is None:
            return f"{who} fooled; no detector shipped to judge it"
        if self.caught is None:
            return f"{who} fooled; the detector has no operating point to judge it ({self.detector_note})"
        fooled_at = f"{who} fooled at {self.budget_name} {self.budget_text(self.final.budget)}"
        if self.clean_flagged:
            return (f"{FALSE_ALARM} {at}; {fooled_at}, and the adversarial image is "
                    + ("flagged too" if self.caught else "no longer flagged"))
        rank = self.rank(self.final)
        rank = f" — {rank}" if rank else ""
        return (f"caught: the detector flags the adversarial image {at}{rank}" if self.caught
                else f"missed: the detector takes the adversarial image for clean {at}{rank}")

    def verdict_detail(self) -> str:
        """The numbers behind the verdict: the final P(attack) against the threshold, and the clean image's."""
        f, c = self.final, self.clean_step
        if f is None or f.p_attack is None:
            return ""
        parts = [f"final image: {detector_sentence(f.p_attack, self.threshold, self.fpr or DEFAULT_FPR, None)}"]
        if c is not None and c is not f and c.p_attack is not None:
            rank = self.rank(c).split(";")[0]
            parts.append(f"clean image: P(attack) {c.p_attack:.4g}" + (f", {rank}" if rank else ""))
        return " · ".join(parts)

    def _adaptive_verdict(self, at: str) -> str:
        f = self.final
        eps = f"ε = {self.budget_text(f.budget)}"
        if len(self.steps) == 1 and f.budget == 0 and f.outcome != RIGHT:
            return "model 1 already misclassifies the clean image: no perturbation needed"
        if f.outcome == EVADED:
            return (f"evaded: model 1 fooled and the detector takes the image for clean {at} ({eps}) — "
                    "this attacker beats the detector")
        if self.clean_flagged:
            what = (f"model 1 fooled at {eps} and the image is flagged too" if f.outcome == CAUGHT
                    else f"the attack did not fool model 1 without detection up to {eps}")
            return f"{FALSE_ALARM} {at}; {what}"
        if f.outcome == CAUGHT:
            if self.attack == "no_detector":
                return f"caught: PGD, blind to the detector, fools model 1 at {eps}, but the detector flags it {at}"
            return f"caught: model 1 was fooled, but the detector flagged every fooling image {at} up to {eps}"
        return f"the attack did not fool model 1 without detection up to {eps} (the largest budget)"

    def matches(self, dataset: str, attack: str, attacked: int, label: int, x0: np.ndarray, seed: int,
                variant: str = "paper", pgd_steps: int = 100) -> bool:
        """Whether this run is of the image and the choices now on screen; if not, its results are stale."""
        return (self.dataset == dataset and self.attack == attack and self.attacked == int(attacked)
                and self.label == int(label) and self.seed == int(seed) and self.variant == variant
                and (not self.adaptive or self.pgd_steps == int(pgd_steps))
                and self.x0.shape == np.shape(x0) and np.array_equal(self.x0, np.asarray(x0, np.float32)))

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
        rnd = lambda p: None if p is None else [round(float(v), 6) for v in p]  # noqa: E731
        return {
            "format": "mismatch-lab attack run", "version": FORMAT_VERSION,
            "dataset": self.dataset, "attack": self.attack, "adaptive": self.adaptive, "budget_name": self.budget_name,
            "attacked_model": self.attacked, "seed": self.seed, "label": self.label,
            "label_name": self.classes()[self.label], "label_source": self.label_source,
            "source": self.source, "shape": list(self.x0.shape), "fpr": self.fpr,
            "operating_point": self.operating_point(), "detector_threshold": self.threshold,
            "pgd_steps": self.pgd_steps if self.adaptive else None, "variant": self.variant,
            "clean_images": self.clean_images,
            "clean": {"probs_1": rnd(self.clean_probs_1), "probs_2": rnd(self.clean_probs_2),
                      "p_attack": self.clean_p_attack, "x_float32_b64": enc(self.x0)},
            "verdict": self.verdict(), "verdict_detail": self.verdict_detail(), "metrics": self.metrics(),
            "steps": [s.to_dict() for s in self.steps],
            "note": "images are float32 [C,H,W] in [0,1], little-endian, base64 (exact values; the PNG rounds to "
                    "8 bits); the detector flags when P(attack) > detector_threshold, its threshold at clean "
                    "false-positive rate fpr; clean_share: the share of the detector's clean_images calibration "
                    "scores below a step's P(attack)",
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "AttackRun":
        """A run back from ``to_json`` (version 2) or from a version-1 file (no operating point: ``fpr`` None)."""
        d = json.loads(text)
        if d.get("format") != "mismatch-lab attack run":
            raise ValueError("not a Mismatch Lab attack-run JSON file")
        shape = tuple(d["shape"])
        dec = lambda s: np.frombuffer(base64.b64decode(s), np.float32).reshape(shape).copy()  # noqa: E731
        c = d["clean"]
        old = int(d.get("version", 1)) < 2
        run = cls(d["dataset"], d["attack"], d["attacked_model"], d["label"], dec(c["x_float32_b64"]),
                  source=d.get("source", ""), seed=d.get("seed", 0),
                  threshold=d.get("detector_threshold", 0.5 if old else None),
                  budget_name=d.get("budget_name", "budget"),
                  clean_probs_1=None if c["probs_1"] is None else np.array(c["probs_1"]),
                  clean_probs_2=None if c["probs_2"] is None else np.array(c["probs_2"]),
                  clean_p_attack=c.get("p_attack"), label_source=d.get("label_source", "ground truth"),
                  fpr=None if old else d.get("fpr"), pgd_steps=d.get("pgd_steps") or 100,
                  variant=d.get("variant", "paper"), clean_images=d.get("clean_images"))
        run.steps = [RunStep(s["index"], s["budget"], dec(s["x_float32_b64"]), np.array(s["probs_1"]),
                          np.array(s["probs_2"]), s["fooled"], s["p_attack"], s.get("seconds", 0.0), s.get("outcome"),
                          s.get("clean_share"))
                     for s in d["steps"]]
        return run
