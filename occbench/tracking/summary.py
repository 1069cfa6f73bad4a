"""The console summary of a tracking table: totals, then MOTA/AP per joint and the breakdowns."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table

SHOWN = {
    "joint": ("MOTA", "MOTP", "precision", "recall", "AP", "num_switches"),
    "occlusion:switch_frame": ("num_switches", "num_objects", "switch_rate"),
    "crowd_index:recomputed": ("MOTA", "num_switches", "num_objects", "num_frames"),
}


def _fmt(metric: str, value: float) -> str:
    return f"{value:,.0f}" if metric.startswith("num_") else f"{value:.4f}"


def print_tracking_summary(table: pd.DataFrame, console: Console) -> None:
    std = table[table["breakdown"] == "standard"]
    head = Table(
        title=f"{table['dataset'].iloc[0]} / {table['split'].iloc[0]} — {table['protocol'].iloc[0]} protocol",
        title_justify="left",
    )
    head.add_column("metric")
    head.add_column("value", justify="right")
    for metric, value in zip(std["metric"], std["value"], strict=True):
        head.add_row(metric, _fmt(metric, value))
    console.print(head)
    for breakdown, metrics in SHOWN.items():
        part = table[(table["breakdown"] == breakdown) & table["metric"].isin(metrics)]
        if part.empty:
            continue
        pivot = part.pivot_table(index="subset", columns="metric", values="value", sort=False, dropna=False)
        view = Table(title=breakdown, title_justify="left")
        view.add_column("")
        columns = [m for m in metrics if m in pivot.columns]
        for column in columns:
            view.add_column(column, justify="right")
        for subset, row in pivot.iterrows():
            view.add_row(str(subset), *[_fmt(c, float(row[c])) for c in columns])
        console.print(view)
