"""The self-contained HTML report: leaderboards, breakdown figures, gallery and provenance.

One file, no network: CSS is inline, figures are inline SVG, gallery images are data URIs,
and a Content-Security-Policy forbids any external load. Jinja2 autoescapes every string, so
a dataset or model called ``<script>`` shows as text.

Sections appear only when the store holds the breakdowns they plot; the mapping from
evaluation-table names to figures is ``FIGURES`` below.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from occbench import __version__
from occbench.benchmark.store import DONE, FAILED, ResultsStore
from occbench.fileio import write_text_atomic
from occbench.report import plots
from occbench.report.leaderboard import LEGEND, PERCENT_COLUMNS, build_leaderboards


@dataclass
class Figure:
    svg: str
    caption: str


@dataclass
class Section:
    anchor: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    note: str = ""


def _groups(metrics: pd.DataFrame) -> list[tuple[tuple[str, str, str], pd.DataFrame]]:
    keys = ["dataset", "split", "matrix_protocol"]
    return [(tuple(map(str, k)), g) for k, g in metrics.groupby(keys, sort=True)]


def _series_label(frame: pd.DataFrame) -> pd.Series:
    return frame["model"].astype(str) + " (" + frame["variant"].astype(str) + ")"


def _occlusion_figures(metrics: pd.DataFrame) -> list[Figure]:
    out = []
    for convention in ("coco-analyze", "assigned"):
        part = metrics[(metrics["breakdown"] == f"occlusion:{convention}") & (metrics["metric"] == "AP")]
        for (dataset, split, protocol), g in _groups(part):
            g = g.assign(series=_series_label(g))
            out.append(
                Figure(
                    plots.grouped_bars(
                        g,
                        "subset",
                        "series",
                        "value",
                        f"{dataset}/{split} · {protocol}",
                        f"AP ({convention} convention)",
                    ),
                    f"AP per instance-occlusion band, {convention} convention ({dataset} {split}, boxes: {protocol}).",
                )
            )
    return out


def _band_midpoint(name: str) -> float:
    numbers = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", name)]
    return float(np.mean(numbers[:2])) if numbers else np.nan


def _crowding_figures(metrics: pd.DataFrame) -> list[Figure]:
    part = metrics[metrics["breakdown"].str.startswith("crowd_index_sweep") & (metrics["metric"] == "AP")]
    part = part[part["value"] >= 0]
    out = []
    for (dataset, split, protocol), g in _groups(part):
        g = g.assign(series=_series_label(g), x=g["subset"].map(_band_midpoint))
        out.append(
            Figure(
                plots.curves(g, "x", "series", "value", f"{dataset}/{split} · {protocol}", "crowdIndex", "AP"),
                f"AP against crowdIndex (band midpoints; bands without ground truth omitted), {dataset} {split}.",
            )
        )
    return out


def _joint_figures(metrics: pd.DataFrame) -> list[Figure]:
    part = metrics[(metrics["breakdown"] == "joint_visibility") & (metrics["metric"] == "ks_mean")]
    out = []
    for (dataset, split, protocol), g in _groups(part):
        for series, s in g.assign(series=_series_label(g)).groupby("series", sort=False):
            split_subset = s["subset"].str.split("/", n=1, expand=True)
            matrix = s.assign(joint=split_subset[0], visibility=split_subset[1]).pivot_table(
                index="joint", columns="visibility", values="value", sort=False
            )
            out.append(
                Figure(
                    plots.heatmap(matrix, f"{series}"),
                    f"Mean keypoint similarity per joint and visibility class of matched detections, "
                    f"{dataset} {split}, boxes: {protocol}.",
                )
            )
    return out


def _error_figures(metrics: pd.DataFrame) -> list[Figure]:
    part = metrics[metrics["breakdown"] == "errors"]
    part = part[part["metric"].isin(list(plots.ERROR_COLORS))]
    out = []
    for (dataset, split, protocol), g in _groups(part):
        g = g.assign(bar=_series_label(g) + " · " + g["subset"].astype(str))
        out.append(
            Figure(
                plots.stacked_bars(g, "bar", "metric", "value", f"{dataset}/{split} · {protocol}", "share of joints"),
                f"Error types of matched detections' joints by visibility class (Ronchi & Perona), {dataset} {split}.",
            )
        )
    return out


def _pr_figures(metrics: pd.DataFrame) -> list[Figure]:
    part = metrics[(metrics["breakdown"] == "pr_curve")]
    out = []
    for (dataset, split, protocol), g in _groups(part):
        g = g.assign(
            series=_series_label(g) + " @" + g["subset"].astype(str),
            recall=g["metric"].str.extract(r"([\d.]+)$")[0].astype(float),
        )
        g = g[g["value"] >= 0]
        out.append(
            Figure(
                plots.curves(
                    g,
                    "recall",
                    "series",
                    "value",
                    f"{dataset}/{split} · {protocol}",
                    "recall",
                    "precision",
                    markers=False,
                ),
                f"Precision-recall at OKS thresholds, {dataset} {split}, boxes: {protocol}.",
            )
        )
    return out


def _noise_level(protocol_boxes: str) -> float:
    if protocol_boxes == "gt":
        return 0.0
    match = re.match(r"^jitter:([\d.]+)$", protocol_boxes)
    return float(match.group(1)) if match else np.nan


def _robustness_figures(metrics: pd.DataFrame, boxes_of_cell: dict[str, str]) -> list[Figure]:
    part = metrics[(metrics["breakdown"] == "standard") & (metrics["metric"] == "AP")].copy()
    part["noise"] = part["cell"].map(lambda k: _noise_level(boxes_of_cell.get(k, "")))
    part = part[np.isfinite(part["noise"])]
    out = []
    for (dataset, split), g in part.groupby(["dataset", "split"], sort=True):
        if g["noise"].nunique() < 2:
            continue
        g = g.assign(series=_series_label(g))
        out.append(
            Figure(
                plots.curves(
                    g, "noise", "series", "value", f"{dataset}/{split}", "box jitter σ (fraction of box size)", "AP"
                ),
                f"Box robustness: AP from ground-truth boxes jittered by increasing noise, {dataset} {split}.",
            )
        )
    return out


FIGURES: list[tuple[str, str, Callable[..., list[Figure]], str]] = [
    (
        "occlusion",
        "AP by occlusion level",
        _occlusion_figures,
        "Instance occlusion ratio = occluded joints / joints with known status; bands none [0, .1], "
        "partial (.1, .5], heavy (.5, 1].",
    ),
    ("crowding", "AP against crowding", _crowding_figures, ""),
    ("joints", "Per-joint accuracy by visibility", _joint_figures, ""),
    (
        "errors",
        "Error diagnosis",
        _error_figures,
        "good: ks ≥ .85; jitter: .5 ≤ ks < .85; inversion: would be ≥ .5 on the left/right partner; swap: would be "
        "≥ .5 on the same joint of another person; miss: anything else.",
    ),
    ("pr", "Precision-recall", _pr_figures, ""),
]


def _leaderboard_view(board: Any) -> dict[str, Any]:
    columns = [c for c in board.table.columns if c != "cell"]
    rows = []
    for values in board.table[columns].itertuples(index=False):
        row = []
        for column, value in zip(columns, values, strict=True):
            if isinstance(value, float):
                if np.isnan(value):
                    text = "–"
                elif column in PERCENT_COLUMNS:
                    text = "-1" if value == -1 else f"{100 * value:.1f}"
                else:
                    text = f"{value:,.1f}"
                row.append({"text": text, "num": True})
            else:
                row.append({"text": str(value), "num": False})
        rows.append(row)
    return {
        "dataset": board.dataset,
        "split": board.split,
        "protocol": board.protocol,
        "columns": columns,
        "rows": rows,
    }


def _provenance_view(records: list[Any]) -> dict[str, Any]:
    columns = [
        "cell",
        "model",
        "variant",
        "dataset",
        "protocol",
        "status",
        "checkpoint sha256",
        "dataset manifest",
        "device",
        "persons/s",
        "seconds",
        "occbench",
    ]
    rows = []
    for r in records:
        p = r.provenance
        rows.append(
            [
                r.key,
                r.model,
                r.variant(),
                f"{r.dataset}/{r.split}",
                r.protocol,
                r.status,
                str(p.get("checkpoint_sha256") or "–")[:16],
                str(p.get("dataset_manifest_sha256", "–"))[:16],
                p.get("device", "–"),
                f"{p['persons_per_s']:.1f}" if p.get("persons_per_s") else "–",
                f"{p['seconds']:.1f}" if p.get("seconds") else "–",
                p.get("occbench_version", "–"),
            ]
        )
    return {"columns": columns, "rows": rows}


def _environment() -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(str(resources.files("occbench.report") / "templates"))
    return jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)


def build_report(
    stores: list[ResultsStore],
    title: str = "occbench report",
    gallery: list[dict[str, str]] | None = None,
    extra_sections: list[Section] | None = None,
) -> str:
    """Render the report for one or more results stores to an HTML string."""
    records = [r for store in stores for r in store.records()]
    done = [r for r in records if r.status == DONE]
    metrics = pd.concat([s.metrics() for s in stores], ignore_index=True) if done else pd.DataFrame()
    boards = [b for store in stores for b in build_leaderboards(store)]
    sections: list[Section] = []
    if not metrics.empty:
        for anchor, heading, builder, note in FIGURES:
            figures = builder(metrics)
            if figures:
                sections.append(Section(anchor, heading, figures, note))
        boxes = {r.key: r.cell["protocol"]["boxes"] for r in done}
        robustness = _robustness_figures(metrics, boxes)
        if robustness:
            sections.append(
                Section(
                    "robustness",
                    "Box robustness",
                    robustness,
                    "Ground-truth boxes jittered in translation and scale (RMPE's motivation).",
                )
            )
    sections += extra_sections or []
    overview: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        row = overview.setdefault(
            (r.dataset, r.split), {"dataset": r.dataset, "split": r.split, "models": [], "protocols": [], "cells": 0}
        )
        row["cells"] += 1
        for key, value in (("models", r.model), ("protocols", r.protocol)):
            if value not in row[key]:
                row[key].append(value)
    css = (resources.files("occbench.report") / "templates" / "report.css").read_text()
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            title=title,
            css=css,
            generated=time.strftime("%Y-%m-%d %H:%M"),
            version=__version__,
            stores=[str(s.root) for s in stores],
            n_done=len(done),
            n_failed=sum(r.status == FAILED for r in records),
            failures=[
                {"label": r.label, "error": (r.error or "").strip().splitlines()[-1][:300]}
                for r in records
                if r.status == FAILED
            ],
            overview=list(overview.values()),
            leaderboards=[_leaderboard_view(b) for b in boards],
            legend=LEGEND,
            sections=sections,
            gallery=gallery or [],
            provenance=_provenance_view(records),
        )
    )


def write_report(stores: list[ResultsStore], out: str | Path, **kwargs: Any) -> Path:
    out = Path(out)
    write_text_atomic(out, build_report(stores, **kwargs))
    return out
