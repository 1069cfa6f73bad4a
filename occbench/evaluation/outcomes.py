"""Every breakdown of a group of images before accumulation, and the rows from their combination.

An evaluation is planned split-wide first (``Plan``: the protocol, the breakdowns asked for,
which crowdIndex the bands use, whether the self-occlusion breakdown runs and which keypoint
subsets exist: decisions the whole-split evaluation takes from the whole split). A group of
images is then matched and reduced (``evaluate_group``) to:

- the ``Outcome`` of every matching pass, keyed by (breakdown, subset): the standard area
  ranges, each occlusion / self-occlusion band under each convention, each keypoint subset,
  each oracle correction; the crowdIndex bands (CrowdPose's and the ``crowding`` breakdown's)
  are the "all" range accumulated over their images, so only their regular ground truths are
  counted per group;
- sums that add across groups: joint-visibility counts and exact ks sums, error-class counts.

Matching, the error classes, the oracle's re-matching and the "assigned" convention's best
overlap are all per image, so a group's outcomes are the whole split's restricted to its
detections. ``accumulate_passes`` accumulates every key once, given the detections' scores and
their stable descending-score order in the reference's concatenation order, and ``rows_from``
builds the table rows, in one order, for the whole split (one group) and the evaluation by parts
(``occbench.evaluation.by_parts``) alike.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from occbench.bands import CROWD_INDEX_BANDS, OCCLUSION_BANDS, Band, sweep_bands
from occbench.evaluation import breakdowns as bd
from occbench.evaluation.breakdowns import Key, Outcome, Row, VisibilitySums
from occbench.evaluation.core import IOU_THRESHOLDS, Accumulated, accumulate
from occbench.evaluation.inputs import Detections, GroundTruth
from occbench.evaluation.protocols import area_pass, crowdpose_band_masks, oks_for, stats_from_accumulations
from occbench.skeletons import JointSchema, Visibility

ALL: Key = ("standard", "all")
CROWD_SWEEP = (*sweep_bands(0.0, 1.5, 0.1, last_closed=False), Band("1.5-inf", 1.5, float("inf"), True, True))
DEFAULT_BANDS = (OCCLUSION_BANDS, CROWD_INDEX_BANDS, CROWD_SWEEP)  # occlusion, crowdIndex, its sweep


@dataclass(frozen=True)
class Plan:
    """What an evaluation computes, decided split-wide before any matching."""

    protocol: str
    chosen: frozenset[str]
    occlusion_bands: tuple[Band, ...]
    crowd_bands: tuple[Band, ...]
    crowd_sweep: tuple[Band, ...]
    crowd_source: str  # "published" (every image has it) or "recomputed"
    self_occlusion: bool  # some person of the split has a self-occlusion ratio > 0
    subset_classes: tuple[Visibility, ...]  # the keypoint-subset classes the split has

    @property
    def areas(self) -> tuple[str, ...]:
        return ("all", "medium", "large") if self.protocol == "coco" else ("all",)

    def crowd_values(self, gt: GroundTruth) -> np.ndarray:
        """(M,) the crowdIndex of the images of ``gt`` that the bands use."""
        return gt.crowd_index if self.crowd_source == "published" else gt.crowd_index_recomputed

    def band_keys(self) -> list[Key]:
        """CrowdPose's own bands (its protocol's AP_easy ...), then the ``crowding`` breakdown's."""
        keys: list[Key] = []
        if self.protocol != "coco":
            keys += [("crowdpose", name) for name in ("easy", "medium", "hard")]
        if "crowding" in self.chosen:
            keys += [("crowd_index", band.name) for band in self.crowd_bands]
            keys += [("crowd_index_sweep", band.name) for band in self.crowd_sweep]
        return keys

    def band_mask(self, key: Key, values: np.ndarray) -> np.ndarray:
        """Where ``values`` (crowdIndex, per image or per detection) fall in band ``key``."""
        kind, name = key
        if kind == "crowdpose":
            return crowdpose_band_masks(values)[name]
        bands = self.crowd_bands if kind == "crowd_index" else self.crowd_sweep
        return next(band for band in bands if band.name == name).contains(values)


def plan_for(
    protocol: str,
    chosen: set[str],
    bands: tuple[tuple[Band, ...], tuple[Band, ...], tuple[Band, ...]],
    crowd_source: str,
    self_occlusion: bool,
    class_counts: np.ndarray,
) -> Plan:
    occlusion_bands, crowd_bands, crowd_sweep = bands
    return Plan(
        protocol,
        frozenset(chosen),
        occlusion_bands,
        crowd_bands,
        crowd_sweep,
        crowd_source,
        self_occlusion,
        bd.present_classes(class_counts),
    )


def has_self_occlusion(ratios: np.ndarray) -> bool:
    return bool(np.nan_to_num(ratios).max(initial=0) > 0)


@dataclass
class Packed:
    """An ``Outcome`` with its flags as bits: (ceil(2T / 8), Dk) uint8, the matched then the
    ignored flag of every threshold (3 bytes per detection instead of 20)."""

    bits: np.ndarray
    num_regular: int


def pack(outcome: Outcome) -> Packed:
    bits = np.packbits(np.concatenate([outcome.matched, outcome.ignored]), axis=0)
    return Packed(bits, outcome.num_regular)


def unpack(bits: list[np.ndarray], t_count: int = len(IOU_THRESHOLDS)) -> tuple[np.ndarray, np.ndarray]:
    """The (T, D) matched and ignored flags of ``Packed.bits`` of groups, concatenated."""
    if not bits:
        return np.zeros((t_count, 0), bool), np.zeros((t_count, 0), bool)
    flags = np.unpackbits(np.concatenate(bits, axis=1) if len(bits) > 1 else bits[0], axis=0, count=2 * t_count)
    flags = flags.view(bool)
    return flags[:t_count], flags[t_count:]


def _packed(outcomes: dict[Key, Outcome]) -> dict[Key, Packed]:
    return {key: pack(o) for key, o in outcomes.items()}


@dataclass
class GroupResult:
    """A group's evaluation before accumulation (see the module docstring); each pass's
    outcome is packed as soon as it is made, so a group holds 3 bytes per detection and pass."""

    outcomes: dict[Key, Packed] = field(default_factory=dict)
    band_regular: dict[Key, int] = field(default_factory=dict)  # regular ground truths per band
    visibility: VisibilitySums | None = None
    errors: np.ndarray | None = None  # bd.error_counts


def evaluate_group(gt: GroundTruth, dets: Detections, plan: Plan, workers: int = 2) -> GroupResult:
    """Match one group of images (or the whole split) for every pass the plan asks for."""
    oks = oks_for(gt, dets)
    result = GroupResult()
    for area in plan.areas:  # "all" first
        ev = area_pass(gt, dets, oks, area)
        result.outcomes["standard", area] = pack(bd.outcome(ev))
        if area == "all":
            ev_all = ev
    values = plan.crowd_values(gt)
    for key in plan.band_keys():
        in_band = plan.band_mask(key, values)[gt.inst_image]
        result.band_regular[key] = int((~ev_all.gt_ignore & in_band).sum())

    jobs: list[Callable[[], GroupResult]] = []
    chosen = plan.chosen
    if "occlusion" in chosen:
        bands = plan.occlusion_bands
        jobs.append(
            lambda: GroupResult(_packed(bd.ratio_band_outcomes(gt, dets, oks, gt.occlusion_ratio, bands, "occlusion")))
        )
        if plan.self_occlusion:
            ratios = gt.self_occlusion_ratio
            conventions = ("coco-analyze",)
            jobs.append(
                lambda: GroupResult(
                    _packed(bd.ratio_band_outcomes(gt, dets, oks, ratios, bands, "self_occlusion", conventions))
                )
            )
    if "keypoint_subset" in chosen:
        jobs.append(lambda: GroupResult(_packed(bd.keypoint_subset_outcomes(gt, dets, plan.subset_classes))))
    if "joint_visibility" in chosen:
        jobs.append(lambda: GroupResult(visibility=bd.joint_visibility_sums(gt, dets, ev_all)))
    if "errors" in chosen:

        def errors() -> GroupResult:
            joint_errors = bd.classify_errors(gt, dets, oks)
            return GroupResult(
                _packed(bd.oracle_outcomes(gt, dets, joint_errors, ev_all)), errors=bd.error_counts(gt, joint_errors)
            )

        jobs.append(errors)
    # The breakdowns are independent; numpy releases the GIL in its loops, so threads overlap.
    with ThreadPoolExecutor(max_workers=min(workers, max(1, len(jobs)))) as pool:
        for part in pool.map(lambda job: job(), jobs):
            result.outcomes.update(part.outcomes)
            result.visibility = part.visibility or result.visibility
            result.errors = part.errors if part.errors is not None else result.errors
    return result


def pass_keys(plan: Plan) -> list[Key]:
    """Every matching pass of the plan, in the order their rows come."""
    keys: list[Key] = [("standard", area) for area in plan.areas]
    if "occlusion" in plan.chosen:
        keys += bd.ratio_band_keys(plan.occlusion_bands, "occlusion", ("coco-analyze", "assigned"))
        if plan.self_occlusion:
            keys += bd.ratio_band_keys(plan.occlusion_bands, "self_occlusion", ("coco-analyze",))
    if "keypoint_subset" in plan.chosen:
        keys += bd.keypoint_subset_keys(plan.subset_classes)
    if "errors" in plan.chosen:
        keys += bd.ORACLE_KEYS
    return keys


def accumulate_passes(
    plan: Plan,
    score: np.ndarray,
    order: np.ndarray,
    flags: Callable[[Key], tuple[np.ndarray, np.ndarray]],
    regular: dict[Key, int],
    band_of_det: Callable[[Key], np.ndarray],
    workers: int = 2,
) -> dict[Key, Accumulated]:
    """Accumulate every pass key (``flags(key)``: its matched, ignored (T, D)) over all
    detections in ``order`` (the stable descending-score order of the concatenation order), and
    the "all" pass over each band's detections (``band_of_det(key)``: (D,) mask). ``regular``
    holds every key's regular ground truths, band keys included."""

    def one(key: Key) -> dict[Key, Accumulated]:
        matched, ignored = flags(key)
        out = {key: accumulate(score, matched, ignored, regular.get(key, 0), order=order)}
        if key == ALL:  # a subset of a stable order is the subset's stable order
            for band in plan.band_keys():
                band_order = order[band_of_det(band)[order]]
                out[band] = accumulate(score, matched, ignored, regular.get(band, 0), order=band_order)
        return out

    keys = pass_keys(plan)
    accumulations: dict[Key, Accumulated] = {}
    with ThreadPoolExecutor(max_workers=min(workers, len(keys))) as pool:
        for part in pool.map(one, keys):
            accumulations.update(part)
    return accumulations


def rows_from(
    plan: Plan,
    accumulations: dict[Key, Accumulated],
    group: GroupResult,
    schema: JointSchema,
    num_detections: int,
    band_images: dict[Key, int],
) -> list[Row]:
    """The table rows: the standard stats, then each breakdown asked for, in the order the
    table has always had (occlusion, self-occlusion, keypoint subsets, joint visibility,
    crowding, errors and oracle, PR curves). ``group`` holds the summed sums."""
    crowdpose = {name: accumulations[kind, name] for kind, name in plan.band_keys() if kind == "crowdpose"}
    areas = {area: accumulations["standard", area] for area in plan.areas}
    stats = stats_from_accumulations(plan.protocol, areas, crowdpose)
    rows: list[Row] = [("standard", "all", name, value) for name, value in stats.items()]
    rows += [
        ("standard", "all", "num_detections", float(num_detections)),
        ("standard", "all", "num_gt", float(accumulations[ALL].num_gt)),
    ]
    chosen = plan.chosen
    if "occlusion" in chosen:
        rows += bd.ap_rows(
            bd.ratio_band_keys(plan.occlusion_bands, "occlusion", ("coco-analyze", "assigned")), accumulations
        )
        if plan.self_occlusion:
            rows += bd.ap_rows(
                bd.ratio_band_keys(plan.occlusion_bands, "self_occlusion", ("coco-analyze",)), accumulations
            )
    if "keypoint_subset" in chosen:
        rows += bd.ap_rows(bd.keypoint_subset_keys(plan.subset_classes), accumulations)
    if "joint_visibility" in chosen and group.visibility is not None:
        rows += bd.joint_visibility_rows(schema, group.visibility)
    if "crowding" in chosen:
        rows += bd.crowding_rows(plan.crowd_source, plan.crowd_bands, plan.crowd_sweep, accumulations, band_images)
    if "errors" in chosen:
        if group.errors is not None:
            rows += bd.error_rows(group.errors)
        rows += bd.oracle_rows(accumulations, stats["AP"])
    if "pr_curve" in chosen:
        rows += bd.pr_curves(accumulations[ALL])
    return rows


def merge_into(total: GroupResult, group: GroupResult) -> None:
    """Add a group's sums (joint visibility, error counts, band ground truths) to ``total``."""
    for key, count in group.band_regular.items():
        total.band_regular[key] = total.band_regular.get(key, 0) + count
    if group.visibility is not None:
        if total.visibility is None:
            total.visibility = group.visibility
        else:
            total.visibility.merge(group.visibility)
    if group.errors is not None:
        total.errors = group.errors if total.errors is None else total.errors + group.errors


def evaluate_whole(gt: GroundTruth, dets: Detections, plan: Plan, num_detections: int, workers: int = 2) -> list[Row]:
    """The rows of the whole split, evaluated as one group."""
    group = evaluate_group(gt, dets, plan, workers)
    values = plan.crowd_values(gt)
    regular = {key: packed.num_regular for key, packed in group.outcomes.items()} | group.band_regular
    order = np.argsort(-dets.score, kind="stable")
    accumulations = accumulate_passes(
        plan,
        dets.score,
        order,
        lambda key: unpack([group.outcomes.pop(key).bits]),
        regular,
        lambda key: plan.band_mask(key, values)[dets.image],
        workers,
    )
    band_images = {key: int(plan.band_mask(key, values).sum()) for key in plan.band_keys()}
    return rows_from(plan, accumulations, group, gt.schema, num_detections, band_images)
