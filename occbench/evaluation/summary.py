"""The compact console summary of a metrics table: standard stats first, then the breakdowns."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table

SHOWN = {
    "occlusion:coco-analyze": ("AP", "num_gt"),
    "occlusion:assigned": ("AP",),
    "self_occlusion:coco-analyze": ("AP", "num_gt"),
    "keypoint_subset": ("AP", "num_gt"),
    "oracle": ("AP", "AP_gain"),
}


def _fmt(metric: str, value: float) -> str:
    if metric.startswith(("num_", "count")):
        return f"{value:,.0f}"
    return f"{value:.4f}" if value != -1 else "-1"


def print_summary(table: pd.DataFrame, console: Console) -> None:
    std = table[table["breakdown"] == "standard"]
    title = f"{table['dataset'].iloc[0]} / {table['split'].iloc[0]} — {table['protocol'].iloc[0]} protocol"
    head = Table(title=title, title_justify="left")
    head.add_column("metric")
    head.add_column("value", justify="right")
    for metric, value in zip(std["metric"], std["value"], strict=True):
        head.add_row(metric, _fmt(metric, value))
    console.print(head)
    for breakdown in dict.fromkeys(table["breakdown"]):
        if breakdown == "standard" or breakdown in ("pr_curve", "joint_visibility") or "sweep" in breakdown:
            continue
        part = table[table["breakdown"] == breakdown]
        metrics = SHOWN.get(breakdown)
        if breakdown == "errors":
            metrics = ("good", "jitter", "inversion", "swap", "miss", "count")
        elif breakdown.startswith("crowd_index"):
            metrics = ("AP", "num_images", "num_gt")
        part = part[part["metric"].isin(metrics)] if metrics else part
        pivot = part.pivot_table(index="subset", columns="metric", values="value", sort=False)
        pivot = pivot[[m for m in (metrics or pivot.columns) if m in pivot.columns]]
        view = Table(title=breakdown, title_justify="left")
        view.add_column("")
        for column in pivot.columns:
            view.add_column(str(column), justify="right")
        for subset, row in pivot.iterrows():
            view.add_row(str(subset), *[_fmt(str(c), float(v)) for c, v in row.items()])
        console.print(view)
    joints = table[(table["breakdown"] == "joint_visibility") & (table["metric"] == "ks_mean")]
    if len(joints):
        console.print(
            f"joint_visibility: {len(joints)} joint x visibility cells (see the table); "
            f"pr_curve: 101-point curves at OKS .50, .75 and .50:.95"
        )
