"""Every evaluation breakdown of a large split, a group of parts at a time, in bounded memory.

Matching is per image, and accumulation needs only each kept detection's score, its match and
ignore flags per OKS threshold, and its place in the reference's concatenation order (images by
ascending id, score order within an image). So the split's parts are read a group at a time
(their ground truth, and the predictions of their images, read row group by row group), every
matching pass of every breakdown is run on them (``occbench.evaluation.outcomes``), and each pass
is reduced to those flags, bit-packed over the thresholds (3 bytes per kept detection and pass);
the joint-visibility and error sums add across groups. At the end the records are put in
concatenation order and each pass is accumulated once. Every row is the whole-split
evaluation's, bit for bit (tested). Memory is one group's inputs and working set plus about 17
bytes per kept detection (image id, rank, score) and 3 per detection and pass: about 20 passes
with every breakdown, so ~80 bytes per detection (full JTA test + val, ~10 M: ~0.8 GB).

Split-wide decisions are taken before the first group, as the whole-split evaluation takes
them: which crowdIndex the bands use (published only if every image of the split has it),
whether the self-occlusion breakdown runs (some person has a ratio > 0) and which keypoint
subsets exist (both read from two columns of every part), and that every prediction's image
is in the split.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from occbench.bands import Band
from occbench.datasets.format import VISIBILITY_COLUMN
from occbench.datasets.store import Dataset
from occbench.errors import OccbenchError
from occbench.evaluation import outcomes as oc
from occbench.evaluation.breakdowns import Key, Row, visibility_histogram
from occbench.evaluation.core import Accumulated
from occbench.evaluation.inputs import GroundTruth, default_protocol_for, prepare_detections
from occbench.predictions import check_image_ids, prediction_file, prediction_image_ids, read_predictions
from occbench.progress import make_progress

GROUP_INSTANCES = 1_000_000  # ground-truth people per group of parts (about 1 GB of working memory)
# With the breakdowns that add matching passes per group (occlusion, keypoint subsets, errors and
# oracle) or per-joint arrays (joint visibility), a group's working set is ~4.5 KB per person
# (measured on JTA-like splits): groups then hold at most this many people (~1.1 GB).
GROUP_INSTANCES_WITH_BREAKDOWNS = 250_000
HEAVY_BREAKDOWNS = frozenset({"occlusion", "keypoint_subset", "joint_visibility", "errors"})


@dataclass
class _Records:
    """What accumulation needs of every kept detection, gathered group by group."""

    image_id: list[np.ndarray] = field(default_factory=list)
    rank: list[np.ndarray] = field(default_factory=list)  # place in its image's score order
    score: list[np.ndarray] = field(default_factory=list)
    flags: dict[Key, list[np.ndarray]] = field(default_factory=dict)  # pass -> packed flags per group
    regular: dict[Key, int] = field(default_factory=dict)  # pass -> regular ground truths
    sums: oc.GroupResult = field(default_factory=oc.GroupResult)  # band counts, visibility, errors

    def add(self, key: Key, packed: oc.Packed) -> None:
        self.flags.setdefault(key, []).append(packed.bits)
        self.regular[key] = self.regular.get(key, 0) + packed.num_regular


@dataclass(frozen=True)
class PartsResult:
    rows: list[Row]
    num_detections: int
    dropped: int  # detections removed by the xtcocotools-compatibility rule
    groups: int
    crowd_source: str


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


def evaluate_by_parts(
    ds: Dataset,
    split: str,
    predictions: str | Path,
    protocol: str,
    chosen: set[str] | frozenset[str] = frozenset(),
    bands: tuple[tuple[Band, ...], tuple[Band, ...], tuple[Band, ...]] | None = None,
    *,
    xtcocotools_compat: bool = False,
    ignore_rule: str = "num_keypoints",
    group_instances: int | None = None,
    workers: int = 2,
    progress: bool = False,
) -> PartsResult:
    """The rows of ``evaluate`` for ``predictions`` (an occbench predictions Parquet) on ``split``
    with the breakdowns ``chosen`` and ``bands`` (occlusion, crowdIndex, crowdIndex sweep; the
    evaluation's defaults when None); groups of parts hold at most ``group_instances`` people
    (default ``GROUP_INSTANCES``, or ``GROUP_INSTANCES_WITH_BREAKDOWNS`` when a breakdown that
    matches more passes is asked for)."""
    source = prediction_file(predictions)
    images = ds.read_images(split)
    ids = images["image_id"].to_numpy()
    published = images["crowd_index"].to_numpy()
    crowd_source = "published" if len(published) and np.isfinite(published).all() else "recomputed"
    crowd_by_id = images["crowd_index" if crowd_source == "published" else "crowd_index_recomputed"].to_numpy()
    order_ids = np.argsort(ids, kind="stable")
    split_image_ids, crowd_by_id = ids[order_ids], crowd_by_id[order_ids]
    self_occlusion, counts = _scan(ds, split, "occlusion" in chosen, "keypoint_subset" in chosen)
    plan = oc.plan_for(protocol, set(chosen), bands or oc.DEFAULT_BANDS, crowd_source, self_occlusion, counts)

    pred_image = prediction_image_ids(source)
    check_image_ids(pred_image, split_image_ids, source)

    parts = ds.part_names(split)
    records = _Records()
    dropped = 0
    if group_instances is None:
        heavy = bool(HEAVY_BREAKDOWNS & set(chosen))
        group_instances = min(GROUP_INSTANCES, GROUP_INSTANCES_WITH_BREAKDOWNS) if heavy else GROUP_INSTANCES
    sizes = ds.part_sizes(split)
    groups = part_groups(sizes, group_instances)
    bar = make_progress()
    bar.disable = bar.disable or not progress
    options = (xtcocotools_compat, ignore_rule, workers)
    with bar:  # a long step at JTA size (minutes): people done, then the accumulation
        task = bar.add_task(f"evaluate {split} by parts", total=sum(sizes))
        for group in groups:
            dropped += _evaluate_group(ds, split, [parts[i] for i in group], source, pred_image, plan, records, options)
            bar.advance(task, sum(sizes[i] for i in group))
        bar.update(task, description=f"evaluate {split}: accumulating")
        band_images = {key: int(plan.band_mask(key, crowd_by_id).sum()) for key in plan.band_keys()}
        accumulations = _accumulate(plan, records, split_image_ids, crowd_by_id, workers)
    return PartsResult(
        rows=oc.rows_from(plan, accumulations, records.sums, ds.schema, len(pred_image), band_images),
        num_detections=len(pred_image),
        dropped=dropped,
        groups=len(groups),
        crowd_source=crowd_source,
    )


def _evaluate_group(
    ds: Dataset,
    split: str,
    names: list[str],
    source: Path,
    pred_image: np.ndarray,
    plan: oc.Plan,
    records: _Records,
    options: tuple[bool, str, int],
) -> int:
    """Match one group of parts and add its records; returns the detections the xtcocotools
    rule dropped. ``options``: (xtcocotools_compat, ignore_rule, workers)."""
    xtcocotools_compat, ignore_rule, workers = options
    m = ds.manifest
    data = ds.read_parts(split, names, with_3d=False)
    gt = GroundTruth.from_split(
        data, ds.schema, name=m.name, split=split, protocol=default_protocol_for(m.schema, m.area_convention, m.source)
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
        raise OccbenchError(error.reason, file=error.file, record=int(rows[error.record]), field=error.field) from None
    del preds
    result = oc.evaluate_group(gt, dets, plan, workers)
    first = np.searchsorted(dets.image, dets.image, side="left")
    records.image_id.append(gt.image_ids[dets.image])
    records.rank.append((np.arange(len(dets.image)) - first).astype(np.int8))  # < MAX_DETS
    records.score.append(dets.score)
    for key, packed in result.outcomes.items():
        records.add(key, packed)
    oc.merge_into(records.sums, result)
    return dets.dropped


def _scan(ds: Dataset, split: str, self_occlusion: bool, visibility: bool) -> tuple[bool, np.ndarray]:
    """Whether some person of the split has a self-occlusion ratio > 0, and how many joints hold
    each visibility class (``visibility_histogram``), from those two columns of every part (read only
    when asked: the occlusion and keypoint-subset breakdowns need them)."""
    counts = np.zeros(256, dtype=np.int64)
    found = False
    columns = (["self_occlusion_ratio"] if self_occlusion else []) + ([VISIBILITY_COLUMN] if visibility else [])
    if not columns:
        return found, counts
    folder = ds.root / split / "instances"
    for part in ds.part_names(split):
        table = pq.read_table(folder / f"{part}.parquet", columns=columns)
        if self_occlusion and not found:
            found = oc.has_self_occlusion(table.column("self_occlusion_ratio").to_numpy())
        if visibility:
            for chunk in table.column(VISIBILITY_COLUMN).chunks:
                counts += visibility_histogram(
                    chunk.flatten().to_numpy(zero_copy_only=False).astype(np.int8, copy=False)
                )
    return found, counts


def _member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """``np.isin(values, sorted_set)`` for an ascending ``sorted_set``, by binary search."""
    at = np.minimum(np.searchsorted(sorted_set, values), max(len(sorted_set) - 1, 0))
    return sorted_set[at] == values if len(sorted_set) else np.zeros(len(values), dtype=bool)


def _accumulate(
    plan: oc.Plan, records: _Records, image_ids: np.ndarray, crowd_by_id: np.ndarray, workers: int
) -> dict[Key, Accumulated]:
    """Every pass accumulated once in the reference's concatenation order (``image_ids``
    ascending, ``crowd_by_id`` their crowdIndex); the flags stay in group order and are read
    through the order, each pass's released once accumulated."""
    image_id = np.concatenate(records.image_id) if records.image_id else np.zeros(0, np.int64)
    rank = np.concatenate(records.rank) if records.rank else np.zeros(0, np.int8)
    score = np.concatenate(records.score) if records.score else np.zeros(0)
    records.image_id, records.rank, records.score = [], [], []
    concatenation = np.lexsort((rank, image_id))  # images by ascending id, score order within each
    del rank
    order = concatenation[np.argsort(-score[concatenation], kind="stable")]
    del concatenation
    crowd_of_det = crowd_by_id[np.searchsorted(image_ids, image_id)]
    del image_id
    return oc.accumulate_passes(
        plan,
        score,
        order,
        lambda key: oc.unpack(records.flags.pop(key, [])),
        records.regular | records.sums.band_regular,
        lambda key: plan.band_mask(key, crowd_of_det),
        workers,
    )
