"""Leaderboards from the results store: one table per dataset / split / matrix protocol.

Each row is one model variant (model, flip, decoder, NMS); the columns are the standard
stats, the crowding and occlusion breakdowns, the error diagnosis, tracking (MOTA and
identity switches, only when some cell tracked) and the throughput. The
values are read from the store's tidy metrics, never recomputed, so a leaderboard number is
always the store's number. Output: Markdown (with a legend of the conventions) and CSV per
table, written atomically.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from occbench.benchmark.store import DONE, ResultsStore
from occbench.fileio import write_text_atomic

# Leaderboard column -> the (breakdown, subset, metric) rows of the evaluation table it shows.
# The first candidate present wins (COCO and CrowdPose protocols name some stats differently).
COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "AP": [("standard", "all", "AP")],
    "AP50": [("standard", "all", "AP50")],
    "AP75": [("standard", "all", "AP75")],
    "AR": [("standard", "all", "AR")],
    "AP easy": [
        ("standard", "all", "AP_easy"),
        ("crowd_index:published", "easy", "AP"),
        ("crowd_index:recomputed", "easy", "AP"),
    ],
    "AP medium": [
        ("standard", "all", "AP_medium"),
        ("crowd_index:published", "medium", "AP"),
        ("crowd_index:recomputed", "medium", "AP"),
    ],
    "AP hard": [
        ("standard", "all", "AP_hard"),
        ("crowd_index:published", "hard", "AP"),
        ("crowd_index:recomputed", "hard", "AP"),
    ],
    "AP occ none": [("occlusion:coco-analyze", "none", "AP")],
    "AP occ partial": [("occlusion:coco-analyze", "partial", "AP")],
    "AP occ heavy": [("occlusion:coco-analyze", "heavy", "AP")],
    "AP visible-only": [("keypoint_subset", "visible", "AP")],
    "AP occluded-only": [("keypoint_subset", "occluded", "AP")],
    "swap rate": [("errors", "all", "swap")],
}
# Tracking columns read only the PoseTrack rows of a cell (protocol ``posetrack``), which share
# breakdown names such as standard/all/AP with the pose table; pose columns never read them.
TRACKING_PROTOCOLS = ("posetrack", "posetrack_poseval")
TRACKING_COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "MOTA": [("standard", "all", "MOTA")],
    "IDs": [("standard", "all", "num_switches")],
    "IDs heavy occ": [("occlusion:switch_frame", "heavy", "num_switches")],
}
PERCENT_COLUMNS = {c for c in COLUMNS if c.startswith("AP") or c.startswith("AR") or c in ("swap rate",)} | {"MOTA"}
COUNT_COLUMNS = {"IDs", "IDs heavy occ"}
LEGEND = """\
Conventions (see docs/evaluation.md):
- AP/AR: COCO-style keypoint AP over OKS .50:.05:.95, maxDets 20; CrowdPose protocol uses bbox*0.53 area and
  ignores crowd regions and ground truths with num_keypoints == 0.
- AP easy/medium/hard: re-evaluation on the images with crowdIndex < 0.2, [0.2, 0.8), >= 0.8 (published
  crowdIndex where the dataset has one, else recomputed); n/a: the band has no ground truth (the tools' -1).
- AP occ none/partial/heavy: instance occlusion ratio (occluded / joints with known status) in [0, 0.1],
  (0.1, 0.5], (0.5, 1], "coco-analyze" convention (other ground truths ignored, unmatched detections are false
  positives in every band).
- AP visible-only / occluded-only: OKS over only the visible (occluded) joints of each ground truth.
- swap rate: share of joints of matched detections that lie on the same joint of another person (Ronchi & Perona).
- MOTA, IDs (tracking cells on video splits): PoseTrack MOTA (mean over joints) and identity switches (sum over
  joints) of the predictions linked frame to frame (docs/tracking.md); IDs heavy occ: the switches whose ground-truth
  person was heavily occluded (ratio in (0.5, 1]) in the frame of the switch. Columns appear only when a cell tracks.
- persons/s: inference throughput of the cell's pipeline (boxes -> crops -> model -> decoding -> NMS) on its device.
"""


@dataclass
class Leaderboard:
    dataset: str
    split: str
    protocol: str
    table: pd.DataFrame

    @property
    def slug(self) -> str:
        return re.sub(r"[^\w.-]+", "-", f"{self.dataset}_{self.split}_{self.protocol}").strip("-")


def _pick(cell_metrics: pd.DataFrame, candidates: list[tuple[str, str, str]]) -> float:
    for breakdown, subset, metric in candidates:
        hit = cell_metrics[
            (cell_metrics["breakdown"] == breakdown)
            & (cell_metrics["subset"] == subset)
            & (cell_metrics["metric"] == metric)
        ]
        if len(hit):
            return float(hit["value"].iloc[0])
    return math.nan


def build_leaderboards(store: ResultsStore) -> list[Leaderboard]:
    records = [r for r in store.records() if r.status == DONE]
    metrics = store.metrics(records)
    if metrics.empty:
        return []
    rows = []
    tracking_rows = metrics["protocol"].isin(TRACKING_PROTOCOLS)
    for rec in records:
        in_cell = metrics["cell"] == rec.key
        cell = metrics[in_cell & ~tracking_rows]
        tracked = metrics[in_cell & tracking_rows]
        row = {
            "dataset": rec.dataset,
            "split": rec.split,
            "protocol": rec.protocol,
            "model": rec.model,
            "variant": rec.variant(),
        }
        for column, candidates in COLUMNS.items():
            row[column] = _pick(cell, candidates)
        for column, candidates in TRACKING_COLUMNS.items():
            row[column] = _pick(tracked, candidates)
        row["persons/s"] = float(rec.provenance.get("persons_per_s", math.nan) or math.nan)
        row["cell"] = rec.key
        rows.append(row)
    frame = pd.DataFrame(rows)
    boards = []
    for (dataset, split, protocol), group in frame.groupby(["dataset", "split", "protocol"], sort=True):
        table = group.drop(columns=["dataset", "split", "protocol"])
        table = table.loc[:, [c for c in table.columns if not table[c].isna().all()]]
        table = table.sort_values(["AP", "model", "variant"], ascending=[False, True, True], na_position="last")
        boards.append(Leaderboard(str(dataset), str(split), str(protocol), table.reset_index(drop=True)))
    return boards


def _format(column: str, value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if column in PERCENT_COLUMNS:
            # -1 is the COCO tools' "no ground truth in this band", not a score.
            return "n/a" if value == -1 and column != "MOTA" else f"{100 * value:.1f}"
        if column in COUNT_COLUMNS:
            return f"{value:,.0f}"
        return f"{value:,.1f}"
    return str(value).replace("|", "\\|")


def to_markdown(board: Leaderboard) -> str:
    shown = [c for c in board.table.columns if c != "cell"]
    lines = [
        f"## {board.dataset} / {board.split} / {board.protocol}",
        "",
        "| rank | " + " | ".join(shown) + " |",
        "|---:|" + "|".join("---:" if board.table[c].dtype.kind == "f" else "---" for c in shown) + "|",
    ]
    for rank, row in enumerate(board.table.itertuples(index=False), start=1):
        values = dict(zip(board.table.columns, row, strict=True))
        lines.append(f"| {rank} | " + " | ".join(_format(c, values[c]) for c in shown) + " |")
    return "\n".join(lines) + "\n"


def write_leaderboards(store: ResultsStore, out_dir: str | Path) -> list[Path]:
    """Write README.md (all tables + legend) and one CSV per table into ``out_dir``."""
    out = Path(out_dir)
    boards = build_leaderboards(store)
    written = []
    sections = [f"# Leaderboards ({store.root.name})", "", "AP/AR values are in percent.", ""]
    for board in boards:
        sections.append(to_markdown(board))
        csv_path = out / f"{board.slug}.csv"
        write_text_atomic(csv_path, board.table.to_csv(index=False, float_format=_csv_float))
        written.append(csv_path)
    sections += ["## Legend", "", LEGEND]
    md_path = out / "README.md"
    write_text_atomic(md_path, "\n".join(sections))
    written.append(md_path)
    return written


def _csv_float(value: float) -> str:
    return repr(float(np.float64(value)))
