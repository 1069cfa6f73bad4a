"""The self-contained HTML report: leaderboards, breakdown figures, gallery and provenance.

One file, no network: CSS is inline, figures are inline SVG, gallery images are data URIs,
and a Content-Security-Policy forbids any external load. Jinja2 autoescapes every string, so
a dataset or model called ``<script>`` shows as text.

Sections appear only when the store holds the breakdowns they plot; the mapping from
evaluation-table names to figures is ``FIGURES`` below. Tracking rows (protocol
``posetrack``) feed only the leaderboards' tracking columns and the tracking section.

The gallery shows, per (dataset, split), the worst cases of the leading cell (highest AP)
that stored its predictions (``occbench.report.gallery``): at most ``GALLERY_SIZE`` images in
all. The tracking section (``occbench.report.tracks``) shows track timelines and the frames
around the worst id switches of the leading tracking cell (highest MOTA) per (dataset,
split). Both read the dataset the cell ran on (its provenance records the folder) and decode
its images; when they are not available the section says so instead.
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
from occbench.benchmark.store import DONE, FAILED, CellRecord, ResultsStore
from occbench.errors import OccbenchError
from occbench.fileio import write_text_atomic
from occbench.report import plots
from occbench.report.gallery import GalleryItem
from occbench.report.leaderboard import (
    COUNT_COLUMNS,
    LEGEND,
    PERCENT_COLUMNS,
    TRACKING_PROTOCOLS,
    build_leaderboards,
)
from occbench.report.tracks import TrackingView

GALLERY_SIZE = 12
MAX_TRACKING_CELLS = 2


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
                    text = "n/a" if value == -1 and column != "MOTA" else f"{100 * value:.1f}"
                elif column in COUNT_COLUMNS:
                    text = f"{value:,.0f}"
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


def _dataset_of(record: CellRecord) -> tuple[Any, Path | None]:
    """The dataset a cell ran on (recorded folder, else the spec's path from here) and its image root."""
    from occbench.datasets.store import open_dataset

    folder = record.provenance.get("dataset_dir") or record.cell["dataset"]["dir"]
    image_root = record.provenance.get("image_root")
    return open_dataset(folder), Path(image_root) if image_root else None


def _leaders(
    stores: list[ResultsStore], metrics: pd.DataFrame, metric: str, tracking: bool, has_file: str
) -> list[tuple[ResultsStore, CellRecord, float]]:
    """Per (dataset, split): the done cell with the highest ``metric`` that stored ``has_file``."""
    if metrics.empty:
        return []
    rows = metrics[
        (metrics["protocol"].isin(TRACKING_PROTOCOLS) == tracking)
        & (metrics["breakdown"] == "standard")
        & (metrics["subset"] == "all")
        & (metrics["metric"] == metric)
    ]
    value = dict(zip(rows["cell"], rows["value"], strict=True))
    best: dict[tuple[str, str], tuple[ResultsStore, CellRecord, float]] = {}
    for store in stores:
        for r in store.records():
            path = store.cell_dir(r.key) / has_file
            if r.status != DONE or r.key not in value or not path.exists():
                continue
            v = float(value[r.key])
            current = best.get((r.dataset, r.split))
            if current is None or v > current[2]:
                best[(r.dataset, r.split)] = (store, r, v)
    return [best[k] for k in sorted(best)]


def build_gallery_items(
    stores: list[ResultsStore], metrics: pd.DataFrame, size: int = GALLERY_SIZE
) -> tuple[list[GalleryItem], str]:
    """The worst cases of each (dataset, split)'s leading cell, and a note on what was left out."""
    from occbench.report.gallery import build_gallery

    leaders = _leaders(stores, metrics, "AP", tracking=False, has_file="predictions.parquet")
    if not leaders:
        return [], "No cell stored its predictions, so there is nothing to draw."
    per_group = max(1, size // len(leaders))
    items: list[GalleryItem] = []
    missing = []
    for store, record, ap in leaders:
        label = f"{record.model} ({record.variant()}), boxes: {record.protocol}, AP {100 * ap:.1f}"
        try:
            dataset, image_root = _dataset_of(record)
            items += build_gallery(
                dataset,
                record.split,
                store.predictions_path(record.key),
                min(per_group, size - len(items)),
                image_root=image_root,
                label=label,
            )
        except (OccbenchError, ImportError) as exc:
            missing.append(f"{record.dataset}/{record.split}: {exc}")
        if len(items) >= size:
            break
    note = "Images not available for " + "; ".join(missing) if missing else ""
    return items, note


def build_tracking_views(stores: list[ResultsStore], metrics: pd.DataFrame) -> list[TrackingView]:
    from occbench.report.tracks import switch_frames, timeline_svgs
    from occbench.tracking.metrics import compute_tracking

    views = []
    leaders = _leaders(stores, metrics, "MOTA", tracking=True, has_file="tracked.parquet")
    for store, record, mota in leaders[:MAX_TRACKING_CELLS]:
        view = TrackingView(
            f"{record.dataset}/{record.split} · {record.model} ({record.variant()}), boxes: {record.protocol}, "
            f"MOTA {100 * mota:.1f}"
        )
        try:
            dataset, image_root = _dataset_of(record)
        except OccbenchError as exc:
            view.note = f"The dataset is not available: {exc}"
            views.append(view)
            continue
        result = compute_tracking(dataset, store.tracked_path(record.key), record.split)
        view.timelines = timeline_svgs(result)
        try:
            view.switches = switch_frames(result, dataset, record.split, image_root)
        except (OccbenchError, ImportError) as exc:
            view.note = f"Frames around the worst switches are not shown: images not available ({exc})."
        views.append(view)
    return views


def _environment() -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(str(resources.files("occbench.report") / "templates"))
    return jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)


def build_report(
    stores: list[ResultsStore],
    title: str = "occbench report",
    gallery: list[GalleryItem] | None = None,
    extra_sections: list[Section] | None = None,
    images: bool = True,
) -> str:
    """Render the report for one or more results stores to an HTML string.

    ``gallery`` replaces the automatic gallery; ``images=False`` leaves out everything that
    needs the datasets (gallery, track timelines and switch frames).
    """
    records = [r for store in stores for r in store.records()]
    done = [r for r in records if r.status == DONE]
    all_metrics = pd.concat([s.metrics() for s in stores], ignore_index=True) if done else pd.DataFrame()
    tracking_rows = (
        all_metrics["protocol"].isin(TRACKING_PROTOCOLS) if not all_metrics.empty else pd.Series([], dtype=bool)
    )
    metrics = all_metrics[~tracking_rows] if not all_metrics.empty else all_metrics
    boards = [b for store in stores for b in build_leaderboards(store)]
    gallery_note = ""
    if gallery is None:
        gallery = []
        if not images:
            gallery_note = "Gallery left out (report built without images)."
        elif done:
            gallery, gallery_note = build_gallery_items(stores, all_metrics)
    tracking = build_tracking_views(stores, all_metrics) if images and bool(tracking_rows.any()) else []
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
            gallery=gallery,
            gallery_note=gallery_note,
            tracking=tracking,
            provenance=_provenance_view(records),
        )
    )


def write_report(stores: list[ResultsStore], out: str | Path, **kwargs: Any) -> Path:
    out = Path(out)
    write_text_atomic(out, build_report(stores, **kwargs))
    return out
