"""Plotly figures for the dashboard (pure functions of arrays; no Streamlit, no engine calls).

Plotly 7 dropped ``figure_factory.create_annotated_heatmap``; annotated
heatmaps use ``px.imshow(..., text_auto=...)``.  Images use
``px.imshow(binary_string=True)`` (a PNG data URI, small and fast in the browser).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core import ATTACK_LABELS
from core.app.attack_run import amplified
from core.data.uploads import to_uint8

MODEL_COLOURS = ("#1f77b4", "#ff7f0e")
CLEAN_ATTACK_COLOURS = {"clean": "#2ca02c", "attack": "#d62728"}


def enlarge(img: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling of an ``[H,W]`` or ``[H,W,3]`` uint8 image (crisp pixels in ``st.image``)."""
    return np.repeat(np.repeat(img, factor, axis=0), factor, axis=1)


def display(x: np.ndarray, factor: int = 6) -> np.ndarray:
    """``[C,H,W]`` float in [0,1] → enlarged uint8 for ``st.image``."""
    return enlarge(to_uint8(x), factor)


def probs_bars(probs_1: Sequence[float], probs_2: Sequence[float], classes: Sequence[str], label: int | None = None,
               attacked: int | None = None, height: int = 260) -> go.Figure:
    """Both models' softmax side by side, fixed [0,1] axes; the true label's bar outlined."""
    fig = make_subplots(1, 2, subplot_titles=[f"model {i}" + (" (attacked)" if attacked == i else "") for i in (1, 2)],
                        horizontal_spacing=0.08)
    for col, probs in enumerate((probs_1, probs_2), start=1):
        p = np.asarray(probs, float)
        line = [2 if label is not None and k == label else 0 for k in range(len(p))]
        fig.add_trace(go.Bar(x=list(classes), y=p, marker_color=MODEL_COLOURS[col - 1], marker_line_width=line,
                             marker_line_color="black", name=f"model {col}", showlegend=False,
                             hovertemplate="%{x}: %{y:.3f}<extra></extra>"), 1, col)
        fig.update_yaxes(range=[0, 1], row=1, col=col)
        fig.update_xaxes(type="category", row=1, col=col)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10))
    return fig


def _image_trace(x: np.ndarray) -> go.Image:
    u8 = to_uint8(x)
    return px.imshow(u8, binary_string=True).data[0]


REPLAY_PANELS = ("perturbed image", "perturbation (amplified)", "model 1 softmax", "model 2 softmax")
REPLAY_FRAME_MS = 250  # the replay's default time per step (the lab's pace control sets it)


def _number(v: float) -> str:
    return f"{v:.4g}"


def budget_ticks(budgets: Sequence[float], fmt: Callable[[float], str] = _number, most: int = 7) -> dict[str, Any]:
    """x-axis ticks for a run's budgets: at most ``most`` of them, evenly picked, labelled by ``fmt`` (the lab's
    budget text: CIFAR-10's L∞ budgets as k/255)."""
    b = sorted(set(float(v) for v in budgets))
    if not b:
        return {}
    pick = [b[int(round(i))] for i in np.linspace(0, len(b) - 1, min(most, len(b)))]
    return {"tickvals": pick, "ticktext": [fmt(v) for v in pick]}


def log_ticks(lo: float, hi: float) -> tuple[list[float], list[str]]:
    """Readable ticks for a log axis over ``[lo, hi]`` (both > 0): whole decades ("0.001", "0.01", "0.1", "1"),
    else 1-2-5, else every digit, whichever first gives three ticks; less than a digit's step apart (0.95 to 1),
    evenly spaced decimals.

    Plotly's own labels on a short log range are bare mantissas ("9, 1, 2, 3") or long decimals ("0.01155371").
    """
    lo, hi = float(lo), float(hi)
    if not 0 < lo <= hi:
        raise ValueError(f"log axis bounds must satisfy 0 < lo <= hi, got {lo}, {hi}")
    a, b = int(np.floor(np.log10(lo) + 1e-9)), int(np.ceil(np.log10(hi) - 1e-9))

    def within(mantissas: Sequence[int]) -> list[float]:
        vals = [float(f"{m}e{k}") for k in range(a, b + 1) for m in mantissas]
        return [v for v in vals if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9)]

    vals: list[float] = []
    for mantissas in ((1,), (1, 2, 5), range(1, 10)):  # the sparsest that still gives three ticks
        vals = within(mantissas)
        if len(vals) >= 3:
            break
    if len(vals) < 3:  # less than a digit's step (0.95 to 1): evenly spaced 1-2-5 steps, as on a linear axis
        step = 10.0 ** np.floor(np.log10((hi - lo) / 4)) if hi > lo else 10.0 ** np.floor(np.log10(hi))
        step *= next((m for m in (1, 2, 5, 10) if (hi - lo) / (m * step) <= 5), 10)
        digits = max(0, int(-np.floor(np.log10(step) + 1e-9)))
        vals = sorted({round(float(v), digits) for v in np.arange(np.ceil(lo / step) * step, hi + step / 2, step)})
        return vals, [f"{v:.{digits}f}" for v in vals]
    return vals, [f"{v:g}" for v in vals]


def replay_figure(x0: np.ndarray, steps: Sequence[Any], classes: Sequence[str], budget_name: str = "budget",
                  label: int | None = None, budget_fmt: Callable[[float], str] = _number,
                  frame_ms: int = REPLAY_FRAME_MS) -> go.Figure:
    """A slider/play-button animation of a recorded run, rendered entirely in the browser.

    ``steps``: objects with ``.x [C,H,W]``, ``.budget``, ``.probs_1``, ``.probs_2``, ``.fooled``, ``.p_attack``.
    Four panels per frame, two images above two softmax charts (each panel keeps a readable width on a
    1000-px screen): perturbed image, amplified perturbation, model 1 and model 2 softmax.  Every frame names
    each trace's axes: an image trace from ``px.imshow`` carries ``xaxis="x"``, and a frame without its own
    axes would move both images into the first panel.  Every frame redraws (``redraw: True``, needed for image
    traces) and plays ``frame_ms`` apart; the title counts the steps ("step 3 of 12").
    """

    fig = make_subplots(2, 2, row_heights=[0.55, 0.45], vertical_spacing=0.16, horizontal_spacing=0.08,
                        subplot_titles=list(REPLAY_PANELS))
    cells = ((1, 1), (1, 2), (2, 1), (2, 2))
    n = len(steps)

    def traces(s: Any) -> list[Any]:
        return [_image_trace(s.x), _image_trace(amplified(x0, s.x)),
                go.Bar(x=list(classes), y=np.asarray(s.probs_1, float), marker_color=MODEL_COLOURS[0],
                       showlegend=False, hovertemplate="%{x}: %{y:.3f}<extra>model 1</extra>"),
                go.Bar(x=list(classes), y=np.asarray(s.probs_2, float), marker_color=MODEL_COLOURS[1],
                       showlegend=False, hovertemplate="%{x}: %{y:.3f}<extra>model 2</extra>")]

    def title(k: int, s: Any) -> str:
        p = "" if s.p_attack is None else f" · P(attack) {s.p_attack:.3g}"
        return f"step {s.index} ({k + 1} of {n}) · {budget_name} = {budget_fmt(s.budget)}" \
               f"{' · FOOLED' if s.fooled else ''}{p}"

    for t, (r, c) in zip(traces(steps[0]), cells):
        fig.add_trace(t, r, c)
    axes = [(t.xaxis, t.yaxis) for t in fig.data]

    def placed(s: Any) -> list[Any]:
        return [t.update(xaxis=xa, yaxis=ya) for t, (xa, ya) in zip(traces(s), axes)]

    fig.frames = [go.Frame(data=placed(s), traces=[0, 1, 2, 3], name=str(k), layout=go.Layout(title_text=title(k, s)))
                  for k, s in enumerate(steps)]
    for r, c in cells[2:]:
        fig.update_yaxes(range=[0, 1], fixedrange=True, row=r, col=c)
        fig.update_xaxes(type="category", fixedrange=True, tickangle=-45, row=r, col=c)
    for i, (r, c) in enumerate(cells[:2]):
        fig.update_xaxes(visible=False, fixedrange=True, constrain="domain", row=r, col=c)
        fig.update_yaxes(visible=False, fixedrange=True, autorange="reversed", scaleanchor=axes[i][0],
                         constrain="domain", row=r, col=c)
    anim = {"frame": {"duration": int(frame_ms), "redraw": True}, "transition": {"duration": 0}, "mode": "immediate"}
    fig.update_layout(
        title_text=title(0, steps[0]), title_font_size=14, height=600, margin=dict(l=10, r=10, t=60, b=90),
        updatemenus=[{"type": "buttons", "x": 0, "y": -0.2, "xanchor": "left", "yanchor": "top", "direction": "left",
                      "buttons": [
                          {"label": "▶ play", "method": "animate", "args": [None, {**anim, "fromcurrent": True}]},
                          {"label": "❚❚ pause", "method": "animate",
                           "args": [[None], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate"}]}]}],
        sliders=[{"active": 0, "x": 0.2, "len": 0.8, "y": -0.18, "yanchor": "top", "currentvalue": {"prefix": "step "},
                  "ticklen": 0, "font": {"size": 9},
                  "steps": [{"label": str(s.index), "method": "animate",
                             "args": [[str(k)], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate",
                                                 "transition": {"duration": 0}}]} for k, s in enumerate(steps)]}],
    )
    return fig


def trajectory_figure(steps: Sequence[Any], label: int, budget_name: str = "budget",
                      threshold: float | None = None, budget_fmt: Callable[[float], str] = _number) -> go.Figure:
    """Over the budget: each model's probability of the true class (top), the detector's P(attack) (below).

    The gap between the two models' curves is the decision mismatch the detector feeds on.  P(attack) has a
    panel and a log axis of its own, labelled in plain decimals (``log_ticks``), with the operating point's
    threshold as a dashed line on that axis: thresholds at 1 %, 5 % and 10 % clean false positives can lie
    orders of magnitude apart, and clean P(attack) is often tiny.  A step's hover says where it ranks among
    the detector's clean test images (``clean_share``, when the run has it).
    """
    b = [s.budget for s in steps]
    p = [s.p_attack for s in steps if s.p_attack is not None]
    rows = 2 if p else 1
    fig = make_subplots(rows, 1, shared_xaxes=True, vertical_spacing=0.12, row_heights=[0.5, 0.5] if p else None,
                        subplot_titles=[""] + (["detector: P(attack), log axis"] if p else []))
    hover_b = [budget_fmt(v) for v in b]
    for k, colour in ((1, MODEL_COLOURS[0]), (2, MODEL_COLOURS[1])):
        fig.add_trace(go.Scatter(x=b, y=[float(getattr(s, f"probs_{k}")[label]) for s in steps], mode="lines+markers",
                                 name=f"model {k}: P(true class)", line=dict(color=colour), customdata=hover_b,
                                 hovertemplate=f"{budget_name} %{{customdata}}: %{{y:.3f}}<extra>model {k}</extra>"),
                      1, 1)
    fig.update_yaxes(range=[0, 1.02], title_text="P(true class)", row=1, col=1)
    if p:
        share = [getattr(s, "clean_share", None) for s in steps]
        rank = ["" if v is None else f"<br>more suspicious than {100 * v:.1f} % of clean test images" for v in share]
        fig.add_trace(go.Scatter(x=b, y=[s.p_attack for s in steps], mode="lines+markers", name="detector: P(attack)",
                                 line=dict(color="#d62728", dash="dot"), customdata=list(zip(hover_b, rank)),
                                 hovertemplate=f"{budget_name} %{{customdata[0]}}: P(attack) %{{y:.4g}}"
                                               "%{customdata[1]}<extra>detector</extra>"), 2, 1)
        low = max(min(p + ([threshold] if threshold is not None else [])), 1e-8)
        top = 1.0
        span = max(np.log10(top) - np.log10(low), 0.3)
        vals, text = log_ticks(low, top)
        y_range = [np.log10(low) - 0.08 * span, 0.04 * span]
        fig.update_yaxes(type="log", range=y_range, tickvals=vals, ticktext=text, title_text="P(attack)", row=2, col=1)
        if threshold is not None:  # annotations on a log axis take log10 positions; the line takes the value
            y = float(np.log10(threshold))
            near_top = (y - y_range[0]) / (y_range[1] - y_range[0]) > 0.8  # label below the line, clear of the title
            fig.add_hline(y=threshold, line=dict(color="#d62728", width=1.5, dash="dash"), opacity=0.8, row=2, col=1)
            fig.add_annotation(x=0, xref="x2 domain", y=y, yref="y2", xanchor="left",
                               yanchor="top" if near_top else "bottom", showarrow=False,
                               text=f"threshold {threshold:.3g}: flags above", font=dict(color="#d62728", size=11))
    fig.update_xaxes(title_text=budget_name, row=rows, col=1, **budget_ticks(b, budget_fmt))
    fig.update_layout(height=440 if p else 280, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return fig


def heatmap(mat: np.ndarray, labels: Sequence[str], title: str, zmin: float | None = 0.0, zmax: float | None = 1.0,
            colorscale: str = "Viridis", fmt: str = ".2f", zmid: float | None = None,
            clickable: bool = False) -> go.Figure:
    """An annotated square heatmap, rows = detector trained on, columns = tested on.

    ``clickable``: an invisible marker on every cell, so a click selects the cell (heatmaps themselves emit no
    selection events); the point's ``customdata`` is ``[row, col]``.
    """
    m = np.asarray(mat, float)
    fig = px.imshow(
        m,
        x=list(labels),
        y=list(labels),
        text_auto=fmt,
        zmin=zmin,
        zmax=zmax,
        color_continuous_scale=colorscale,
        color_continuous_midpoint=zmid,
        aspect="auto",
        labels=dict(x="tested on", y="trained on", color=""),
    )
    k = len(labels)
    fig.update_xaxes(range=[-0.5, k - 0.5], fixedrange=True)
    fig.update_yaxes(range=[k - 0.5, -0.5], fixedrange=True)  # fixed: the click markers must not pad the axes
    if clickable:
        ii, jj = np.indices(m.shape)
        fig.add_trace(
            go.Scatter(
                x=[labels[j] for j in jj.ravel()],
                y=[labels[i] for i in ii.ravel()],
                mode="markers",
                marker=dict(size=28, symbol="square", color="rgba(0,0,0,0)"),
                customdata=np.c_[ii.ravel(), jj.ravel()],
                showlegend=False,
                hovertemplate="trained on %{y}<br>tested on %{x}<br>click to inspect<extra></extra>",
                selected=dict(marker=dict(color="rgba(0,0,0,0)")),
                unselected=dict(marker=dict(opacity=1)),
            )
        )
        fig.update_traces(
            hoverinfo="skip", hovertemplate=None, selector=dict(type="heatmap")
        )  # the markers take the hover
        fig.update_layout(clickmode="event+select", hovermode="closest")
    fig.update_layout(
        # no colour bar: every cell prints its value, and under Streamlit's theme the bar squeezes a half-width
        # heatmap at 1024 px to a few pixels per column
        title_text=title, height=440, margin=dict(l=10, r=10, t=40, b=10), coloraxis_showscale=False
    )
    fig.update_xaxes(side="bottom", tickangle=-35)
    return fig


def confusion_figure(cm: np.ndarray, title: str) -> go.Figure:
    cm = np.asarray(cm, float)
    fig = px.imshow(
        cm,
        x=["pred clean", "pred attack"],
        y=["clean", "attack"],
        text_auto=".0f",
        color_continuous_scale="Blues",
        aspect="equal",
    )
    fig.update_layout(title_text=title, height=300, margin=dict(l=10, r=10, t=40, b=10), coloraxis_showscale=False)
    return fig


def grouped_bars(
    values: dict[str, dict[str, float | None]],
    categories: Sequence[str],
    labels: dict[str, str] | None = None,
    title: str = "",
    yrange: tuple[float, float] = (0, 1),
) -> go.Figure:
    """``values[series][category]`` as grouped bars (e.g. LOAO ours vs paper, Table IV methods)."""
    labels = labels or {}
    fig = go.Figure()
    for series, per in values.items():
        ys = [per.get(c) for c in categories]
        fig.add_trace(
            go.Bar(
                name=series,
                x=[labels.get(c, c) for c in categories],
                y=[np.nan if v is None else v for v in ys],
                text=["—" if v is None else f"{v:.2f}" for v in ys],
                textposition="outside",
            )
        )
    fig.update_traces(cliponaxis=False)  # a value label above a bar near the top stays whole
    fig.update_layout(  # title on the first line, the legend on its own line under it, the labels under that
        barmode="group",
        title=dict(text=title, x=0, xanchor="left", y=1, yanchor="top", yref="container", pad=dict(t=6)),
        height=400,
        yaxis_range=list(yrange),
        margin=dict(l=10, r=10, t=100 if title else 70, b=10),
        legend=dict(orientation="h", x=0, xanchor="left", y=1.1, yanchor="bottom"),
    )
    return fig


def embedding_scatter(
    coords: np.ndarray, is_attack: np.ndarray, model: np.ndarray | None, title: str, index: np.ndarray | None = None
) -> go.Figure:
    """WebGL scatter: colour = clean/attack, symbol = attacked model (0 clean, 1, 2); customdata = row number."""
    coords = np.asarray(coords, float)
    is_attack = np.asarray(is_attack).astype(bool)
    model = np.zeros(len(coords), int) if model is None else np.asarray(model).astype(int)
    rows = np.arange(len(coords))
    fig = go.Figure()
    symbols = {0: "circle", 1: "diamond", 2: "x"}
    for name, mask_kind in (("clean", ~is_attack), ("attack", is_attack)):
        for m in (0, 1, 2):
            sel = mask_kind & (model == m) if name == "attack" else mask_kind & (model == m)
            if not sel.any():
                continue
            label = name if name == "clean" and m == 0 else f"{name} · model {m}" if m else name
            fig.add_trace(
                go.Scattergl(
                    x=coords[sel, 0],
                    y=coords[sel, 1],
                    mode="markers",
                    name=label,
                    marker=dict(color=CLEAN_ATTACK_COLOURS[name], symbol=symbols[m], size=6, opacity=0.7),
                    customdata=rows[sel],
                    hovertemplate=f"{label}<br>row %{{customdata}}<extra></extra>",
                )
            )
    fig.update_layout(
        title_text=title,
        height=540,
        dragmode="lasso",
        margin=dict(l=10, r=10, t=80, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.01, xanchor="left", x=0),
    )
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, scaleanchor="x")
    return fig


# ----------------------------------------------------------------------------- security (python -m core security)

PAPER_COLOURS = ("#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b", "#7f9fbf")  # one blue family
ADAPTIVE_COLOURS = ("#d62728", "#ff7f0e", "#9467bd", "#e377c2", "#8c564b", "#bcbd22")
REFERENCE_COLOUR = "#444444"


def security_labels(doc: dict[str, Any]) -> dict[str, str]:
    """Display names of the attacks in a security file: the paper's labels for its seven, the file's for the rest."""

    out = {}
    for name, info in doc.get("attacks", {}).items():
        out[name] = ATTACK_LABELS.get(name, name) if info.get("kind") == "paper" else info.get("label", name)
    return out


def security_style(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Line style per attack: the no-detector reference dashed grey, the paper's seven thin blues, the
    detector-aware (adaptive, transfer) attacks bold warm colours."""
    out, k_paper, k_adapt = {}, 0, 0
    for name in doc.get("curves", {}):
        kind = doc.get("attacks", {}).get(name, {}).get("kind", "adaptive")
        if kind == "reference":
            out[name] = {"color": REFERENCE_COLOUR, "width": 2.5, "dash": "dash"}
        elif kind == "paper":
            out[name] = {"color": PAPER_COLOURS[k_paper % len(PAPER_COLOURS)], "width": 1.5, "dash": "solid"}
            k_paper += 1
        else:
            out[name] = {
                "color": ADAPTIVE_COLOURS[k_adapt % len(ADAPTIVE_COLOURS)],
                "width": 4.0,
                "dash": "dot" if kind == "transfer" else "solid",
            }
            k_adapt += 1
    return out


def eps_ticks(dataset: str, eps: Sequence[float]) -> dict[str, Any]:
    """x-axis ticks for L∞ budgets: CIFAR-10's as k/255, MNIST's as decimals."""
    if dataset == "cifar10":
        return {"tickvals": list(eps), "ticktext": [f"{round(e * 255):d}/255" for e in eps]}
    return {}


def security_curves_figure(doc: dict[str, Any], labels: dict[str, str] | None = None) -> go.Figure:
    """Success vs L∞ budget, one line per attacker (``customdata``-free; each trace's ``meta`` is its attack name).

    The paper's seven and the adaptive attacks plot ``success`` (model 1 wrong and the detector silent at the
    file's operating point); ``no_detector`` plots ``fooled``, what plain PGD does to model 1 with no detector:
    the dashed reference.  A dotted vertical line marks the headline budget.
    """
    labels = labels or security_labels(doc)
    style = security_style(doc)
    fig = go.Figure()
    for name, c in doc.get("curves", {}).items():
        ref = doc.get("attacks", {}).get(name, {}).get("kind") == "reference"
        y = c["fooled"] if ref else c["success"]
        label = "no detector (PGD fools model 1)" if ref else labels.get(name, name)
        sty = style[name]
        fig.add_trace(
            go.Scatter(
                x=c["eps"],
                y=y,
                mode="lines+markers",
                name=label,
                meta=name,
                legendgroup=doc["attacks"].get(name, {}).get("kind", ""),
                line=dict(color=sty["color"], width=sty["width"], dash=sty["dash"]),
                marker=dict(size=4 if sty["width"] < 2 else 6),
                hovertemplate=f"{label}<br>ε %{{x:.4g}}: %{{y:.1%}}<extra></extra>",
            )
        )
    head = doc.get("headline", {}).get("eps")
    if head is not None:
        fig.add_vline(x=head, line=dict(color="#888", width=1, dash="dot"))
    eps = next(iter(doc.get("curves", {}).values()), {}).get("eps", [])
    fig.update_xaxes(title_text="L∞ budget ε", **eps_ticks(doc.get("dataset", ""), eps))
    fig.update_yaxes(title_text="share of images: model 1 wrong, detector silent", range=[0, 1.02], tickformat=".0%")
    fig.update_layout(
        height=460,
        margin=dict(l=10, r=10, t=40, b=10),
        hovermode="closest",
        title_text=f"Undetected success vs budget at {100 * doc.get('fpr', 0):g} % clean false positives",
        legend=dict(orientation="v", x=1.01, y=1),
    )
    return fig


def roc_figure(op: dict[str, Any], selected: str | None = None, labels: dict[str, str] | None = None) -> go.Figure:
    """ROC of the paper's attacks (``operating_points.roc``) with the three operating points marked.

    A marker sits at (clean FPR measured on the evaluation images, detection rate at that operating point) for every
    attack; ``selected`` (an ``fpr_key`` like ``"0.05"``) is drawn larger.  The x axis shows FPR ≤ 30 %, where
    the operating points are; the curves go on to 1 (zoom out to see them).
    """
    labels = labels or {}
    fig = go.Figure()
    names = [a for a in op.get("roc", {}) if op["roc"][a].get("fpr")]
    for k, name in enumerate(names):
        r = op["roc"][name]
        auc = r.get("auc")
        fig.add_trace(
            go.Scatter(
                x=r["fpr"],
                y=r["tpr"],
                mode="lines",
                meta=name,
                name=f"{labels.get(name, name)}" + ("" if auc is None else f" (AUC {auc:.3f})"),
                line=dict(color=PAPER_COLOURS[k % len(PAPER_COLOURS)], width=2),
            )
        )
    symbols = ("circle", "diamond", "square", "triangle-up")
    held = op.get("clean_fpr_held_out", {})
    for j, key in enumerate(op.get("thresholds", {})):
        xs, ys, text = [], [], []
        for name in names:
            rate = op.get("detection", {}).get(name, {}).get(key)
            if rate is None or key not in held:
                continue
            xs.append(held[key])
            ys.append(rate)
            text.append(labels.get(name, name))
        big = key == selected
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="markers",
                text=text,
                meta=f"operating point {key}",
                name=f"{100 * float(key):g} % operating point (clean FPR {held.get(key, float('nan')):.1%} held out)",
                marker=dict(
                    symbol=symbols[j % len(symbols)],
                    size=14 if big else 9,
                    color="#d62728" if big else "#555",
                    line=dict(width=1, color="white"),
                ),
                hovertemplate="%{text}<br>clean FPR %{x:.2%}<br>detected %{y:.1%}<extra></extra>",
            )
        )
    fig.update_xaxes(title_text="false-positive rate on clean images", range=[0, 0.3], tickformat=".0%")
    fig.update_yaxes(title_text="detection rate (images that fool model 1)", range=[0, 1.02], tickformat=".0%")
    fig.update_layout(
        height=440,
        margin=dict(l=10, r=10, t=40, b=10),
        title_text="ROC of the paper's attacks",
        legend=dict(orientation="v", x=1.01, y=1),
    )
    return fig
