"""The standard stats of a large split, evaluated a group of parts at a time in bounded memory.

Matching is per image, and accumulation needs only each kept detection's score, its match and
ignore flags per OKS threshold, and its place in the reference's concatenation order (images by
ascending id, score order within an image). So the split's parts are read a group at a time
(their ground truth, and the predictions of their images, read row group by row group), matched,
and reduced to those records; the records of every group are put in concatenation order and
accumulated once. The stats are the whole-split evaluation's, bit for bit (tested); memory is
one group's inputs and OKS plus about 37 bytes per kept detection (77 under the COCO protocol's
three area ranges), whatever the split's size (full JTA test + val: about 10 M people).

Split-wide decisions are taken before the first group, as the whole-split evaluation takes
them: which crowdIndex the CrowdPose bands use (published only if every image of the split has
it), and that every prediction's image is in the split.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from occbench.bands import Band
from occbench.datasets.store import Dataset
from occbench.errors import OccbenchError
from occbench.evaluation.core import IOU_THRESHOLDS, Accumulated, accumulate
from occbench.evaluation.inputs import GroundTruth, default_protocol_for, prepare_detections
from occbench.evaluation.protocols import area_pass, crowdpose_band_masks, oks_for, stats_from_accumulations
from occbench.predictions import check_image_ids, prediction_file, prediction_image_ids, read_predictions

GROUP_INSTANCES = 1_000_000  # ground-truth people per group of parts (about 1 GB of working memory)


@dataclass
class _Records:
    """What accumulation needs of every kept detection, gathered group by group."""

    image_id: list[np.ndarray] = field(default_factory=list)
    rank: list[np.ndarray] = field(default_factory=list)  # place in its image's score order
    score: list[np.ndarray] = field(default_factory=list)
    matched: dict[str, list[np.ndarray]] = field(default_factory=dict)  # area -> (T, Dk) per group
    ignored: dict[str, list[np.ndarray]] = field(default_factory=dict)
    regular: dict[object, int] = field(default_factory=dict)  # area or band key -> regular ground truths

    def add_count(self, key: object, count: int) -> None:
        self.regular[key] = self.regular.get(key, 0) + count


@dataclass(frozen=True)
class PartsResult:
    stats: dict[str, float]
    num_detections: int
    num_gt: int  # regular ground truths of the "all" range
    dropped: int  # detections removed by the xtcocotools-compatibility rule
    groups: int
    crowd_source: str
    accumulated_all: Accumulated  # the "all" range (PR curves)
    band_accumulations: dict[tuple[str, str], Accumulated]  # the ``crowd_bands`` asked for
    band_images: dict[tuple[str, str], int]  # images of the split in each of them


def part_groups(sizes: list[int], limit: int = GROUP_INSTANCES) -> list[list[int]]:
    """Consecutive part indices grouped so each group holds at most ``limit`` people (a part
    larger than that is a group on its own)."""
    groups: list[list[int]] = []
    held = limit + 1
    for index, size in enumerate(sizes):
        if held + size > limit:
            groups.append([])
            held = 0
        groups[-1].append(index)
        held += size
    return groups


def standard_stats_by_parts(
    ds: Dataset,
    split: str,
    predictions: str | Path,
    protocol: str,
    *,
    xtcocotools_compat: bool = False,
    ignore_rule: str = "num_keypoints",
    group_instances: int | None = None,
    crowd_bands: dict[tuple[str, str], Band] | None = None,
) -> PartsResult:
    """The standard stats of ``predictions`` (an occbench predictions Parquet) on ``split``;
    groups of parts hold at most ``group_instances`` people (default ``GROUP_INSTANCES``).
    ``crowd_bands`` (key -> band of crowdIndex) are accumulated too, over their images."""
    source = prediction_file(predictions)
    m = ds.manifest
    images = ds.read_images(split)
    split_image_ids = np.sort(images["image_id"].to_numpy())
    published = images["crowd_index"].to_numpy()
    crowd_source = "published" if len(published) and np.isfinite(published).all() else "recomputed"
    crowd_column = "crowd_index" if crowd_source == "published" else "crowd_index_recomputed"

    def band_masks(values: np.ndarray) -> dict[tuple[str, str], np.ndarray]:  # per image (or detection)
        masks = {}
        if protocol != "coco":
            masks.update({("crowdpose", name): mask for name, mask in crowdpose_band_masks(values).items()})
        masks.update({key: band.contains(values) for key, band in (crowd_bands or {}).items()})
        return masks

    pred_image = prediction_image_ids(source)
    check_image_ids(pred_image, split_image_ids, source)

    parts = ds.part_names(split)
    records = _Records()
    dropped = 0
    groups = part_groups(ds.part_sizes(split), GROUP_INSTANCES if group_instances is None else group_instances)
    areas = ("all", "medium", "large") if protocol == "coco" else ("all",)
    for group in groups:
        data = ds.read_parts(split, [parts[i] for i in group], with_3d=False)
        gt = GroundTruth.from_split(
            data,
            ds.schema,
            name=m.name,
            split=split,
            protocol=default_protocol_for(m.schema, m.area_convention, m.source),
        )
        gt = dataclasses.replace(gt, ignore_rule=ignore_rule)
        del data
        rows = np.flatnonzero(_member(pred_image, gt.image_ids))  # ascending: the file order
        preds = read_predictions(source, rows=rows)
        try:
            dets = prepare_detections(gt, preds, xtcocotools_compat=xtcocotools_compat, source=source)
        except OccbenchError as error:  # name the prediction by its row in the file, not in the group
            if not isinstance(error.record, int):
                raise
            raise OccbenchError(
                error.reason, file=error.file, record=int(rows[error.record]), field=error.field
            ) from None
        dropped += dets.dropped
        del preds
        oks = oks_for(gt, dets)
        first = np.searchsorted(dets.image, dets.image, side="left")
        records.image_id.append(gt.image_ids[dets.image])
        records.rank.append((np.arange(len(dets.image)) - first).astype(np.int8))  # < MAX_DETS
        records.score.append(dets.score)
        for area in areas:
            ev = area_pass(gt, dets, oks, area)
            records.matched.setdefault(area, []).append(ev.matches.det_matched)
            records.ignored.setdefault(area, []).append(ev.det_ignored)
            records.add_count(area, int((~ev.gt_ignore).sum()))
            if area == "all":
                values = gt.crowd_index if crowd_source == "published" else gt.crowd_index_recomputed
                for key, in_band in band_masks(values).items():
                    records.add_count(key, int((~ev.gt_ignore & in_band[gt.inst_image]).sum()))
        del gt, dets, oks

    ids = images["image_id"].to_numpy()
    crowd_by_id = images[crowd_column].to_numpy()[np.argsort(ids, kind="stable")]
    accumulations, banded = _accumulate(records, areas, np.sort(ids), crowd_by_id, band_masks)
    asked = set(crowd_bands or {})
    return PartsResult(
        stats=stats_from_accumulations(
            protocol, accumulations, {name: acc for (kind, name), acc in banded.items() if kind == "crowdpose"}
        ),
        num_detections=len(pred_image),
        num_gt=accumulations["all"].num_gt,
        dropped=dropped,
        groups=len(groups),
        crowd_source=crowd_source,
        accumulated_all=accumulations["all"],
        band_accumulations={key: acc for key, acc in banded.items() if key in asked},
        band_images={key: int(mask.sum()) for key, mask in band_masks(crowd_by_id).items() if key in asked},
    )


def _member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """``np.isin(values, sorted_set)`` for an ascending ``sorted_set``, by binary search."""
    at = np.minimum(np.searchsorted(sorted_set, values), max(len(sorted_set) - 1, 0))
    return sorted_set[at] == values if len(sorted_set) else np.zeros(len(values), dtype=bool)


def _accumulate(
    records: _Records,
    areas: tuple[str, ...],
    image_ids: np.ndarray,
    crowd_by_id: np.ndarray,
    band_masks: Callable[[np.ndarray], dict[tuple[str, str], np.ndarray]],
) -> tuple[dict[str, Accumulated], dict[tuple[str, str], Accumulated]]:
    """Put the records in the reference's concatenation order and accumulate each area, and the
    "all" range over each band's images (``image_ids`` ascending, ``crowd_by_id`` their crowdIndex)."""
    image_id = np.concatenate(records.image_id) if records.image_id else np.zeros(0, np.int64)
    rank = np.concatenate(records.rank) if records.rank else np.zeros(0, np.int8)
    order = np.lexsort((rank, image_id))  # images by ascending id, score order within each
    score = (np.concatenate(records.score) if records.score else np.zeros(0))[order]
    by_score = np.argsort(-score, kind="stable")
    t_count = len(IOU_THRESHOLDS)

    def stacked(chunks: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(chunks, axis=1)[:, order] if chunks else np.zeros((t_count, 0), bool)

    accumulations, banded = {}, {}
    for area in areas:
        matched, ignored = stacked(records.matched.get(area, [])), stacked(records.ignored.get(area, []))
        accumulations[area] = accumulate(score, matched, ignored, records.regular.get(area, 0), order=by_score)
        if area == "all":
            crowd_of_det = crowd_by_id[np.searchsorted(image_ids, image_id[order])]
            for key, in_band in band_masks(crowd_of_det).items():
                band_order = by_score[in_band[by_score]]
                banded[key] = accumulate(score, matched, ignored, records.regular.get(key, 0), order=band_order)
    return accumulations, banded
