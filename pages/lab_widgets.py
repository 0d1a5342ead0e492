"""The attack lab's live softmax bars, as plain HTML.

A live run redraws both models' softmax at every step, a few hundred milliseconds apart.  A Plotly chart there
is a new element at every step (one script run cannot reuse a chart's key), so the browser builds a whole new
plot each time, which on a busy machine takes longer than a step lasts, and steps are lost.  These bars are a
few ``div``s: a DOM update per step, crisp at any width, coloured as every Plotly figure colours the two models.
"""
from __future__ import annotations

import html
from typing import Sequence

import numpy as np

from core.app.figures import MODEL_COLOURS

BAR_HEIGHT_PX = 110


def _panel(title: str, probs: Sequence[float], classes: Sequence[str], label: int | None, colour: str) -> str:
    cols = []
    for k, (name, p) in enumerate(zip(classes, np.clip(np.asarray(probs, float), 0, 1))):
        outline = "outline:2px solid #000;outline-offset:-2px;" if label is not None and k == label else ""
        cols.append(
            f'<div title="{html.escape(name)}: {p:.3f}" style="flex:1 1 0;min-width:0;display:flex;'
            f'flex-direction:column;align-items:center">'
            f'<div style="height:{BAR_HEIGHT_PX}px;width:80%;display:flex;align-items:flex-end;'
            f'background:rgba(128,128,128,.08)"><div style="width:100%;height:{100 * p:.1f}%;background:{colour};'
            f'{outline}"></div></div>'
            f'<div style="font-size:11px;line-height:1.1;writing-mode:vertical-rl;transform:rotate(180deg);'
            f'margin-top:3px;white-space:nowrap">{html.escape(name)}</div></div>')
    return (f'<div style="flex:1 1 0;min-width:0"><div style="text-align:center;font-size:14px;opacity:.75">'
            f'{html.escape(title)}</div><div style="display:flex;gap:2px">{"".join(cols)}</div></div>')


def probs_html(probs_1: Sequence[float], probs_2: Sequence[float], classes: Sequence[str], label: int | None = None,
               attacked: int | None = None) -> str:
    """Both models' softmax side by side on a fixed 0–1 scale, the true label's bar outlined (hover: the value);
    for ``st.markdown(..., unsafe_allow_html=True)``.  Every text in it is escaped."""
    panels = [_panel(f"model {i}" + (" (attacked)" if attacked == i else ""), p, classes, label, MODEL_COLOURS[i - 1])
              for i, p in ((1, probs_1), (2, probs_2))]
    return f'<div style="display:flex;gap:24px;margin:4px 0 8px 0">{"".join(panels)}</div>'
