"""``occbench info``: a readable summary of a unified dataset.

Per split: counts; the visibility-class distribution per joint; images per crowdIndex band
(published and recomputed); non-crowd instances per occlusion-ratio band; and MaxIoU bands
where the source has them (OCHuman). It reads part by part, so it works on full JTA.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from occbench.bands import CROWD_INDEX_BANDS, MAX_IOU_BANDS, OCCLUSION_BANDS, Band, assign_band, format_bands
from occbench.datasets.store import Dataset
from occbench.skeletons import VISIBILITY_NAMES, Visibility


@dataclass
class SplitSummary:
    split: str
    counts: dict[str, int]
    visibility_per_joint: dict[str, dict[str, int]]  # joint -> class -> count
    crowd_index_published: dict[str, int] | None
    crowd_index_recomputed: dict[str, int]
    occlusion: dict[str, int]
    self_occlusion_mean: float | None
    max_iou: dict[str, int] | None = None


@dataclass
class DatasetSummary:
    name: str
    source: str
    schema: str
    area_convention: str
    crowd_bands: str
    occlusion_bands: str
    warnings: list[str]
    splits: list[SplitSummary] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _band_counts(values: np.ndarray, bands: tuple[Band, ...]) -> np.ndarray:
    """Counts per band; element 0 counts values outside every band (and NaN)."""
    return np.bincount(assign_band(values, bands) + 1, minlength=len(bands) + 1)


def _as_dict(counts: np.ndarray, bands: tuple[Band, ...], outside: str) -> dict[str, int]:
    out = {b.name: int(c) for b, c in zip(bands, counts[1:], strict=True)}
    if counts[0]:
        out[outside] = int(counts[0])
    return out


def summarize_split(
    ds: Dataset,
    split: str,
    crowd_bands: tuple[Band, ...] = CROWD_INDEX_BANDS,
    occlusion_bands: tuple[Band, ...] = OCCLUSION_BANDS,
) -> SplitSummary:
    k = ds.schema.num_joints
    n_cls = len(Visibility)
    vis_counts = np.zeros((k, n_cls), dtype=np.int64)
    pub = np.zeros(len(crowd_bands) + 1, dtype=np.int64)
    rec = np.zeros(len(crowd_bands) + 1, dtype=np.int64)
    occ = np.zeros(len(occlusion_bands) + 1, dtype=np.int64)
    iou = np.zeros(len(MAX_IOU_BANDS) + 1, dtype=np.int64)
    has_published = has_iou = False
    self_occ_sum, self_occ_n = 0.0, 0
    counts = {"images": 0, "instances": 0, "crowd": 0, "with_keypoints": 0, "with_3d": 0}
    tracks: set[int] = set()
    sequences: set[str] = set()
    for _, part in ds.iter_parts(split):
        images, inst = part.images, part.instances
        crowd = inst["iscrowd"].to_numpy()
        counts["images"] += len(images)
        counts["instances"] += len(inst)
        counts["crowd"] += int(crowd.sum())
        counts["with_keypoints"] += int(((inst["num_keypoints"].to_numpy() > 0) & ~crowd).sum())
        if part.keypoints_3d is not None:
            counts["with_3d"] += len(inst)
        # Per joint x class counts in one bincount over (joint, class) codes.
        codes = np.arange(k)[None, :] * n_cls + part.visibility.astype(np.int64)
        vis_counts += np.bincount(codes.ravel(), minlength=k * n_cls).reshape(k, n_cls)
        published = images["crowd_index"].to_numpy()
        if np.isfinite(published).any():
            has_published = True
        pub += _band_counts(published, crowd_bands)
        rec += _band_counts(images["crowd_index_recomputed"].to_numpy(), crowd_bands)
        occ += _band_counts(inst["occlusion_ratio"].to_numpy()[~crowd], occlusion_bands)
        self_ratio = inst["self_occlusion_ratio"].to_numpy()[~crowd]
        self_occ_sum += float(np.nansum(self_ratio))
        self_occ_n += int(np.isfinite(self_ratio).sum())
        max_iou = inst["max_iou"].to_numpy()
        if np.isfinite(max_iou).any():
            has_iou = True
            iou += _band_counts(max_iou, MAX_IOU_BANDS)
        tracks.update(inst["track_id"].to_numpy()[inst["track_id"].to_numpy() >= 0].tolist())
        sequences.update(s for s in images["sequence"].unique().tolist() if s)
    if tracks:
        counts["tracks"] = len(tracks)
    if sequences:
        counts["sequences"] = len(sequences)
    joint_names = ds.schema.joint_names
    return SplitSummary(
        split=split,
        counts=counts,
        visibility_per_joint={
            joint_names[j]: {VISIBILITY_NAMES[c]: int(vis_counts[j, c]) for c in range(n_cls)} for j in range(k)
        },
        crowd_index_published=_as_dict(pub, crowd_bands, "outside bands") if has_published else None,
        crowd_index_recomputed=_as_dict(rec, crowd_bands, "outside bands"),
        occlusion=_as_dict(occ, occlusion_bands, "unknown (no joint with known status)"),
        self_occlusion_mean=self_occ_sum / self_occ_n if self_occ_n else None,
        max_iou=_as_dict(iou, MAX_IOU_BANDS, "outside bands") if has_iou else None,
    )


def summarize(
    ds: Dataset,
    splits: list[str] | None = None,
    crowd_bands: tuple[Band, ...] = CROWD_INDEX_BANDS,
    occlusion_bands: tuple[Band, ...] = OCCLUSION_BANDS,
) -> DatasetSummary:
    m = ds.manifest
    return DatasetSummary(
        name=m.name,
        source=m.source,
        schema=m.schema,
        area_convention=m.area_convention,
        crowd_bands=format_bands(crowd_bands),
        occlusion_bands=format_bands(occlusion_bands),
        warnings=list(m.warnings),
        splits=[summarize_split(ds, s, crowd_bands, occlusion_bands) for s in (splits or ds.splits)],
    )


def _band_table(title: str, rows: dict[str, dict[str, int] | None]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("")
    names: list[str] = []
    for counts in rows.values():
        for name in counts or {}:
            if name not in names:
                names.append(name)
    for name in names:
        table.add_column(name, justify="right")
    for label, counts in rows.items():
        if counts is not None:
            table.add_row(label, *[f"{counts.get(n, 0):,}" for n in names])
    return table


def print_summary(summary: DatasetSummary, console: Console) -> None:
    console.print(
        f"[bold]{summary.name}[/] (source {summary.source}, schema {summary.schema}, "
        f"OKS area: {summary.area_convention})",
        highlight=False,
    )
    for s in summary.splits:
        console.rule(f"split {s.split}")
        console.print("  ".join(f"{k.replace('_', ' ')}: [bold]{v:,}[/]" for k, v in s.counts.items()), highlight=False)
        vis = pd.DataFrame(s.visibility_per_joint).T
        vis = vis.loc[:, vis.sum(axis=0) > 0]
        table = Table(title="visibility class per joint", title_justify="left")
        table.add_column("joint")
        for col in vis.columns:
            table.add_column(col, justify="right")
        for joint, row in vis.iterrows():
            table.add_row(str(joint), *[f"{int(v):,}" for v in row])
        table.add_row("[bold]total", *[f"[bold]{int(v):,}" for v in vis.sum(axis=0)])
        console.print(table)
        console.print(
            _band_table(
                f"images per crowdIndex band ({summary.crowd_bands})",
                {"published": s.crowd_index_published, "recomputed": s.crowd_index_recomputed},
            )
        )
        occ_title = f"non-crowd instances per occlusion-ratio band ({summary.occlusion_bands})"
        console.print(_band_table(occ_title, {"instances": s.occlusion}))
        if s.self_occlusion_mean is not None:
            console.print(f"mean self-occlusion ratio: {s.self_occlusion_mean:.3f}")
        if s.max_iou is not None:
            console.print(_band_table("instances per MaxIoU band", {"instances": s.max_iou}))
    for warning in summary.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
