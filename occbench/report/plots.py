"""Figures for the HTML report, rendered by matplotlib to inline SVG text.

Every function takes a tidy pandas table and returns an ``<svg>`` string. Text stays text
(``svg.fonttype = none``) and matplotlib escapes it; mathtext parsing is off, so a model
called ``$x$`` or ``<script>`` is drawn literally.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "occbench",  # deterministic ids: the same data gives the same report bytes
    "text.parse_math": False,
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 100,
}
ERROR_COLORS = {"good": "#4c9a2a", "jitter": "#a4c639", "inversion": "#f0a202", "swap": "#d7263d", "miss": "#6c757d"}


@contextmanager
def _figure(width: float = 6.4, height: float = 3.2) -> Iterator[tuple[plt.Figure, plt.Axes]]:
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
        try:
            yield fig, ax
        finally:
            plt.close(fig)


def to_svg(fig: plt.Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": "occbench"})
    text = buffer.getvalue()
    # Drop the RDF metadata block: it only names XML namespaces, but the report stays free of URLs.
    return re.sub(r"<metadata>.*?</metadata>\s*", "", text[text.index("<svg") :], flags=re.S)


def grouped_bars(table: pd.DataFrame, group: str, series: str, value: str, title: str, ylabel: str) -> str:
    """Bars of ``value`` for each ``group`` (x axis), one bar per ``series`` value."""
    groups = list(dict.fromkeys(table[group]))
    names = list(dict.fromkeys(table[series]))
    width = 0.8 / max(len(names), 1)
    with _figure(max(4.8, 1.1 * len(groups) + 2.5)) as (fig, ax):
        x = np.arange(len(groups))
        for i, name in enumerate(names):
            part = table[table[series] == name].set_index(group)[value]
            heights = [float(part.get(g, np.nan)) for g in groups]
            ax.bar(x + (i - (len(names) - 1) / 2) * width, heights, width, label=str(name))
        ax.set_xticks(x, [str(g) for g in groups])
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize=7, loc="upper right", frameon=False)
        return to_svg(fig)


def curves(
    table: pd.DataFrame, x: str, series: str, value: str, title: str, xlabel: str, ylabel: str, markers: bool = True
) -> str:
    """One line per ``series`` value of ``value`` against ``x``."""
    with _figure() as (fig, ax):
        for name, part in table.groupby(series, sort=False):
            part = part.sort_values(x)
            ax.plot(part[x], part[value], marker="o" if markers else None, markersize=3, label=str(name))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize=7, frameon=False)
        return to_svg(fig)


def heatmap(matrix: pd.DataFrame, title: str, vmin: float = 0.0, vmax: float = 1.0, fmt: str = "{:.2f}") -> str:
    """A labelled heatmap of a (rows x columns) table; NaN cells are blank."""
    values = matrix.to_numpy(dtype=float)
    with _figure(1.2 + 0.9 * matrix.shape[1], 0.8 + 0.28 * matrix.shape[0]) as (fig, ax):
        ax.grid(False)
        image = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
        ax.set_xticks(range(matrix.shape[1]), [str(c) for c in matrix.columns], rotation=30, ha="right")
        ax.set_yticks(range(matrix.shape[0]), [str(r) for r in matrix.index])
        for (r, c), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(
                    c,
                    r,
                    fmt.format(v),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if v < (vmin + vmax) / 2 else "black",
                )
        ax.set_title(title)
        fig.colorbar(image, ax=ax, shrink=0.8)
        return to_svg(fig)


def stacked_bars(table: pd.DataFrame, bar: str, stack: str, value: str, title: str, ylabel: str) -> str:
    """Stacked shares: one bar per ``bar`` value, stacked by ``stack`` (error classes)."""
    bars = list(dict.fromkeys(table[bar]))
    stacks = [s for s in ERROR_COLORS if s in set(table[stack])] + [
        s for s in dict.fromkeys(table[stack]) if s not in ERROR_COLORS
    ]
    with _figure(max(4.8, 0.7 * len(bars) + 2.5)) as (fig, ax):
        bottom = np.zeros(len(bars))
        for s in stacks:
            part = table[table[stack] == s].set_index(bar)[value]
            heights = np.array([float(part.get(b, 0.0)) for b in bars])
            ax.bar(range(len(bars)), heights, 0.7, bottom=bottom, label=str(s), color=ERROR_COLORS.get(s))
            bottom += np.nan_to_num(heights)
        ax.set_xticks(range(len(bars)), [str(b) for b in bars], rotation=20, ha="right")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize=7, frameon=False, ncol=len(stacks))
        return to_svg(fig)
