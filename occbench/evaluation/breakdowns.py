"""Occlusion, crowding and error breakdowns (EVALUATION.md §1-6), built on the exact engine.

Every breakdown returns rows ``(breakdown, subset, metric, value)``; docs/evaluation.md defines
each name. Conventions:

- **occlusion:coco-analyze** — for band b, ground truths whose occlusion ratio is outside b
  are ignored (detections matched to them are ignored); an unmatched detection is a false
  positive in every band.
- **occlusion:assigned** — the same matching, but an unmatched detection is charged only to
  the band of the ground truth it overlaps most (highest OKS > 0); one overlapping no ground
  truth is a false positive in every band.
- **self_occlusion:coco-analyze** — the same by the self-occlusion ratio (datasets that have it).
- **keypoint_subset** — OKS over only the visible / occluded / self-occluded joints of each
  ground truth; a ground truth without such a joint is ignored.
- **joint_visibility** — for detections matched at OKS ≥ 0.5 (standard evaluation, all areas),
  each labelled joint's keypoint similarity ``ks = exp(-d² / (2 s² k²))``: mean and the share
  with ks ≥ 0.5, per joint × visibility class. The ks sums are kept exactly (``ExactSums``), so
  the mean is the correctly rounded one whatever the order or grouping of the detections.
- **crowd_index:SOURCE** / **crowd_index_sweep:SOURCE** — AP on the images of each crowdIndex
  band (published values where the dataset has them, else recomputed: SOURCE says which).
- **errors** — Ronchi & Perona: detections are associated with ground truths by the greedy
  matching at OKS ≥ 0.1 (coco-analyze's localisation threshold); each labelled joint is
  good (ks ≥ .85), jitter (.5 ≤ ks < .85), inversion (ks < .5 but ≥ .5 on the same person's
  left/right partner), swap (ks < .5 but ≥ .5 on the same joint of another person) or miss;
  inversion is tested before swap. Shares per visibility class and overall.
- **oracle** — AP, AP50, AP75 after correcting every joint of one error class (jitter,
  inversion, swap, miss), or of all four at once (``all``), and the AP gain over the actual AP.
  The correction is coco-analyze's: the joint goes onto its own ground-truth joint shifted along
  x by ``sqrt(-ln(c) * 2 * area * σ²)``, c = .85 for jitter, .5 for a miss, and the ks it had
  against the wrong joint for an inversion or swap; since OKS divides by (2σ)², the corrected
  joint scores ks = c^(1/4) (0.960 jitter, 0.841 miss). The classification itself stays the one
  above, which differs from coco-analyze's (docs/evaluation.md).
- **pr_curve** — the 101-point interpolated precision at OKS .50, .75 and averaged over .50:.95.

Each AP-type breakdown is a set of matching passes over the same kept detections. A pass is
reduced to an ``Outcome`` (per threshold and detection: matched, ignored; the pass's regular
ground-truth count) keyed by (breakdown, subset); the rows are built from the ``Accumulated``
of each key. The other breakdowns reduce to sums that add across images (``VisibilitySums``,
error-class counts). So the same functions serve the whole split and a group of its parts
(``occbench.evaluation.outcomes``, ``occbench.evaluation.by_parts``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from occbench.bands import Band, assign_band
from occbench.evaluation.core import (
    EPS,
    IOU_THRESHOLDS,
    RECALL_THRESHOLDS,
    Accumulated,
    PaddedOks,
    greedy_match,
    summarize_ap,
    summarize_ar,
)
from occbench.evaluation.inputs import Detections, GroundTruth
from occbench.evaluation.protocols import (
    Evaluation,
    area_pass,
    oks_for_masks,
    oks_with_changed_detections,
    run_pass,
    run_passes,
)
from occbench.skeletons import VISIBILITY_NAMES, JointSchema, Visibility

Row = tuple[str, str, str, float]
ERROR_CLASSES = ("good", "jitter", "inversion", "swap", "miss")
LOCALISATION_OKS = 0.1
# coco-analyze's target ks for corrected jitter and misses (inversions and swaps use their own).
CORRECTION_KS = {"jitter": 0.85, "miss": 0.5}
ORACLE_SUBSETS: dict[str, tuple[str, ...]] = {
    "jitter": ("jitter",),
    "inversion": ("inversion",),
    "swap": ("swap",),
    "miss": ("miss",),
    "all": ("jitter", "inversion", "swap", "miss"),
}
ERROR_BLOCK_PAIRS = 200_000  # detection x person pairs per block of the swap search
# The error shares are reported overall and per visibility class of the ground-truth joint.
ERROR_GROUPS: tuple[tuple[str, int | None], ...] = (
    ("all", None),
    *((cls.label, int(cls)) for cls in Visibility if cls not in (Visibility.UNLABELED, Visibility.TRUNCATED)),
)
SUBSET_CLASSES = (Visibility.VISIBLE, Visibility.OCCLUDED, Visibility.SELF_OCCLUDED)
Key = tuple[str, str]  # (breakdown, subset) of one matching pass


@dataclass
class Outcome:
    """What accumulation needs of one matching pass: per OKS threshold and kept detection,
    matched and ignored (the final dtIgnore); and the pass's number of regular ground truths."""

    matched: np.ndarray  # (T, Dk) bool
    ignored: np.ndarray  # (T, Dk) bool
    num_regular: int


def outcome(ev: Evaluation) -> Outcome:
    return Outcome(ev.matches.det_matched, ev.det_ignored, int((~ev.gt_ignore).sum()))


def ap_rows(keys: list[Key], accumulations: dict[Key, Accumulated]) -> list[Row]:
    """AP, AP50, AP75, AR and num_gt of each key, in the order of ``keys``."""
    return [row for key in keys for row in _ap_rows(*key, accumulations[key])]


def _ap_rows(breakdown: str, subset: str, acc: Accumulated, extra: dict[str, float] | None = None) -> list[Row]:
    rows = [
        (breakdown, subset, "AP", summarize_ap(acc)),
        (breakdown, subset, "AP50", summarize_ap(acc, 0.5)),
        (breakdown, subset, "AP75", summarize_ap(acc, 0.75)),
        (breakdown, subset, "AR", summarize_ar(acc)),
        (breakdown, subset, "num_gt", float(acc.num_gt)),
    ]
    return rows + [(breakdown, subset, k, float(v)) for k, v in (extra or {}).items()]


def best_overlap(oks: PaddedOks, dets: Detections, gt: GroundTruth) -> np.ndarray:
    """(Dk,) the non-crowd ground truth each detection overlaps most (OKS > 0), or -1."""
    best = np.full(len(dets.score), -1, dtype=np.int64)
    layout = dets.layout
    for images, o in oks.chunks:
        gm = o.shape[2]
        slots = layout.gt_start[images][:, None] + np.arange(gm)[None, :]
        valid = np.arange(gm)[None, :] < layout.gt_count[images][:, None]
        crowd = gt.iscrowd[np.where(valid, slots, 0)] & valid
        values = np.where(crowd[:, None, :], -np.inf, o)
        arg = values.argmax(axis=2)
        top = np.take_along_axis(values, arg[..., None], axis=2)[..., 0]
        i_idx, r_idx = np.nonzero(top > 0)
        det = layout.det_start[images][i_idx] + r_idx
        best[det] = slots[i_idx, arg[i_idx, r_idx]]
    return best


def ratio_band_keys(bands: tuple[Band, ...], name: str, conventions: tuple[str, ...]) -> list[Key]:
    return [(f"{name}:{c}", band.name) for band in bands for c in ("coco-analyze", "assigned") if c in conventions]


def ratio_band_outcomes(
    gt: GroundTruth,
    dets: Detections,
    oks: PaddedOks,
    values: np.ndarray,
    bands: tuple[Band, ...],
    name: str,
    conventions: tuple[str, ...] = ("coco-analyze", "assigned"),
) -> dict[Key, Outcome]:
    """The passes of a ratio's bands (occlusion, self-occlusion) under each convention."""
    band_of_gt = assign_band(values, bands)
    overlap = best_overlap(oks, dets, gt) if "assigned" in conventions else None
    out: dict[Key, Outcome] = {}
    ignores = np.stack([gt.ignore | (band_of_gt != b) for b in range(len(bands))])
    for b, (band, ev) in enumerate(zip(bands, run_passes(gt, dets, oks, ignores), strict=True)):
        if "coco-analyze" in conventions:
            out[f"{name}:coco-analyze", band.name] = outcome(ev)
        if overlap is not None:
            # Unmatched detections overlapping a ground truth of another band are not charged here.
            other = (overlap >= 0) & (band_of_gt[np.maximum(overlap, 0)] != b)
            unmatched = ~ev.matches.det_matched
            out[f"{name}:assigned", band.name] = Outcome(
                ev.matches.det_matched, ev.det_ignored | (unmatched & other), int((~ev.gt_ignore).sum())
            )
    return out


def visibility_histogram(visibility: np.ndarray) -> np.ndarray:
    """(256,) how many joints of ``visibility`` (int8 classes) hold each class value."""
    return np.bincount(np.ascontiguousarray(visibility).view(np.uint8).ravel(), minlength=256)


def present_classes(counts: np.ndarray) -> tuple[Visibility, ...]:
    """The keypoint-subset classes a split has, from its ``visibility_histogram``."""
    return tuple(c for c in SUBSET_CLASSES if counts[c] > 0)


def keypoint_subset_keys(classes: tuple[Visibility, ...]) -> list[Key]:
    return [("keypoint_subset", cls.label) for cls in classes]


def keypoint_subset_outcomes(gt: GroundTruth, dets: Detections, classes: tuple[Visibility, ...]) -> dict[Key, Outcome]:
    """OKS over only the joints of each class; ``classes`` are the split's (``present_classes``):
    a group without a class still takes part, all its ground truths ignored."""
    masks = [gt.visibility == c for c in classes]
    out: dict[Key, Outcome] = {}
    # One chunked OKS pass for all subsets: the per-joint terms are shared by the masks.
    for key, mask, oks in zip(
        keypoint_subset_keys(classes), masks, oks_for_masks(gt, dets, masks) if masks else [], strict=True
    ):
        out[key] = outcome(run_pass(gt, dets, oks, gt.ignore | ~mask.any(axis=1)))
    return out


def _pair_ks(
    gt: GroundTruth, dets: Detections, det_idx: np.ndarray, gt_idx: np.ndarray, joint_perm: np.ndarray | None = None
) -> np.ndarray:
    """(P, K) keypoint similarity of detections' joints against ground truths' (optionally permuted) joints."""
    variances = (gt.schema.sigmas_array * 2) ** 2
    gxy = gt.keypoints[gt_idx]
    if joint_perm is not None:
        gxy = gxy[:, joint_perm]
    d2 = ((dets.keypoints[det_idx, :, :2] - gxy) ** 2).sum(-1)
    var = variances if joint_perm is None else variances[joint_perm]
    return np.exp(-(d2 / var / (gt.area[gt_idx][:, None] + EPS) / 2))


@dataclass
class ExactSums:
    """Sums of non-negative floats per bin, kept exactly: each value is an integer mantissa
    times a power of two, and the mantissas are added as integers per (bin, exponent). Groups of
    values add in any order and ``totals`` is the correctly rounded sum of every value."""

    num_bins: int
    parts: dict[tuple[int, int], int] = field(default_factory=dict)  # (bin, exponent) -> mantissa sum

    def add(self, bins: np.ndarray, values: np.ndarray) -> None:
        # In chunks of 2^20 values: bounded temporaries, and the halves of the 53-bit integer
        # mantissas, summed as floats, stay exact (each < 2^27, so any 2^26 of them add exactly).
        for start in range(0, len(values), 1 << 20):
            mantissa, exponent = np.frexp(values[start : start + (1 << 20)])
            whole = (mantissa * 2.0**53).astype(np.int64)
            key = bins[start : start + (1 << 20)].astype(np.int64) * 4096 + (exponent + 2048)
            uniq, inv = np.unique(key, return_inverse=True)
            high = np.bincount(inv, weights=(whole >> 26).astype(float), minlength=len(uniq))
            low = np.bincount(inv, weights=(whole & ((1 << 26) - 1)).astype(float), minlength=len(uniq))
            for k, h, lo in zip(uniq.tolist(), high.tolist(), low.tolist(), strict=True):  # a few per bin
                part = (k // 4096, k % 4096 - 2048)
                self.parts[part] = self.parts.get(part, 0) + (int(h) << 26) + int(lo)

    def merge(self, other: ExactSums) -> None:
        for part, value in other.parts.items():
            self.parts[part] = self.parts.get(part, 0) + value

    def totals(self) -> np.ndarray:
        """(bins,) each bin's sum, correctly rounded (Python's int division rounds exactly)."""
        out = np.zeros(self.num_bins)
        by_bin: dict[int, list[tuple[int, int]]] = {}
        for (b, exponent), value in self.parts.items():
            by_bin.setdefault(b, []).append((exponent, value))
        for b, items in by_bin.items():
            low = min(e for e, _ in items)
            total = sum(value << (e - low) for e, value in items)  # x 2^(low - 53)
            out[b] = total / (1 << (53 - low)) if low < 53 else float(total << (low - 53))
        return out


@dataclass
class VisibilitySums:
    """The joint-visibility breakdown before division: per joint x visibility class, the labelled
    joints of matched detections, their ks sum and how many reach ks ≥ 0.5."""

    counts: np.ndarray  # (K * classes,) int64
    hits: np.ndarray  # (K * classes,) int64
    sums: ExactSums

    def merge(self, other: VisibilitySums) -> None:
        self.counts = self.counts + other.counts
        self.hits = self.hits + other.hits
        self.sums.merge(other.sums)


def joint_visibility_sums(gt: GroundTruth, dets: Detections, ev_all: Evaluation) -> VisibilitySums:
    t50 = 0
    k, n_cls = gt.schema.num_joints, len(Visibility)
    matched = ev_all.matches.det_matched[t50] & ~ev_all.matches.det_ignored[t50]
    det_idx = np.flatnonzero(matched)
    gt_idx = ev_all.matches.det_gt[t50, det_idx]
    ks = _pair_ks(gt, dets, det_idx, gt_idx)
    vis = gt.visibility[gt_idx]
    code = np.arange(k)[None, :] * n_cls + vis
    use = vis != Visibility.UNLABELED
    sums = ExactSums(k * n_cls)
    sums.add(code[use], ks[use])
    return VisibilitySums(
        np.bincount(code[use], minlength=k * n_cls).astype(np.int64),
        np.bincount(code[use][ks[use] >= 0.5], minlength=k * n_cls).astype(np.int64),
        sums,
    )


def joint_visibility_rows(schema: JointSchema, sums: VisibilitySums) -> list[Row]:
    n_cls = len(Visibility)
    totals = sums.sums.totals()
    rows: list[Row] = []
    for j, joint in enumerate(schema.joint_names):
        for c in range(n_cls):
            n = int(sums.counts[j * n_cls + c])
            if n == 0:
                continue
            subset = f"{joint}/{VISIBILITY_NAMES[c]}"
            rows += [
                ("joint_visibility", subset, "ks_mean", float(totals[j * n_cls + c] / n)),
                ("joint_visibility", subset, "ks_accuracy", float(sums.hits[j * n_cls + c] / n)),
                ("joint_visibility", subset, "count", float(n)),
            ]
    return rows


def crowding_rows(
    source: str,
    bands: tuple[Band, ...],
    sweep: tuple[Band, ...],
    accumulations: dict[tuple[str, str], Accumulated],
    num_images: dict[tuple[str, str], int],
) -> list[Row]:
    """The crowding rows from each band's accumulation, keyed ("crowd_index" or
    "crowd_index_sweep", band name); shared with the evaluation by parts."""
    rows: list[Row] = []
    for kind, band_set in (("crowd_index", bands), ("crowd_index_sweep", sweep)):
        for band in band_set:
            key = (kind, band.name)
            rows += _ap_rows(f"{kind}:{source}", band.name, accumulations[key], {"num_images": float(num_images[key])})
    return rows


def _localisation_pairs(gt: GroundTruth, dets: Detections, oks: PaddedOks) -> tuple[np.ndarray, np.ndarray]:
    """Detections associated with a regular ground truth at OKS ≥ 0.1, and that ground truth."""
    loc = greedy_match(
        oks, dets.layout, gt.ignore, gt.iscrowd, thresholds=np.array([LOCALISATION_OKS]), num_dets=len(dets.score)
    )
    det_idx = np.flatnonzero(loc.det_matched[0] & ~loc.det_ignored[0])
    return det_idx, loc.det_gt[0, det_idx]


@dataclass
class JointErrors:
    """The error class of every labelled joint of every associated detection."""

    det_idx: np.ndarray  # (P,) kept detection
    gt_idx: np.ndarray  # (P,) the ground truth it is associated with
    classes: np.ndarray  # (P, K) int8 index into ERROR_CLASSES, -1 where the ground truth has no label
    ks_wrong: np.ndarray  # (P, K) for inversions / swaps: the ks against the wrong joint, else 0


def _best_other_ks(gt: GroundTruth, dets: Detections, det_idx: np.ndarray, gt_idx: np.ndarray) -> np.ndarray:
    """(P, K) the highest ks of each joint against the same joint of any other non-crowd ground
    truth in the image (0 where there is none), in blocks of detection x person pairs."""
    k = gt.schema.num_joints
    labelled = gt.labelled
    layout = dets.layout
    best = np.zeros((len(det_idx), k))
    count = layout.gt_count[dets.image[det_idx]]
    ends = np.cumsum(count)
    start = 0
    while start < len(det_idx):
        # Detections whose pairs (with every person of their image) fit in one block.
        stop = max(start + 1, int(np.searchsorted(ends, ends[start] - count[start] + ERROR_BLOCK_PAIRS, "right")))
        sel = np.arange(start, stop, dtype=np.int64)
        c = count[sel]
        pair_row = np.repeat(sel, c)
        first = layout.gt_start[dets.image[det_idx[sel]]]
        other = np.repeat(first, c) + (np.arange(c.sum()) - np.repeat(np.cumsum(c) - c, c))
        keep = (other != gt_idx[pair_row]) & ~gt.iscrowd[other]
        pair_row, other = pair_row[keep], other[keep]
        ks_other = _pair_ks(gt, dets, det_idx[pair_row], other) * labelled[other]
        np.maximum.at(best, pair_row, ks_other)
        start = stop
    return best


def classify_errors(gt: GroundTruth, dets: Detections, oks: PaddedOks) -> JointErrors:
    """Ronchi & Perona's classes as EVALUATION.md §5 defines them (see the module docstring)."""
    det_idx, gt_idx = _localisation_pairs(gt, dets, oks)
    k = gt.schema.num_joints
    if len(det_idx) == 0:
        return JointErrors(det_idx, gt_idx, np.zeros((0, k), dtype=np.int8), np.zeros((0, k)))
    labelled = gt.labelled
    ks = _pair_ks(gt, dets, det_idx, gt_idx)
    flip = gt.schema.flip_permutation
    ks_flip = _pair_ks(gt, dets, det_idx, gt_idx, flip)
    ks_flip = ks_flip * (labelled[gt_idx][:, flip] & (flip != np.arange(k))[None, :])
    inversion = ks_flip >= 0.5
    best_other = _best_other_ks(gt, dets, det_idx, gt_idx)
    swap = best_other >= 0.5
    classes = np.select([ks >= 0.85, ks >= 0.5, inversion, swap], [0, 1, 2, 3], default=4).astype(np.int8)
    classes = np.where(labelled[gt_idx], classes, np.int8(-1))
    ks_wrong = np.where(classes == 2, ks_flip, np.where(classes == 3, best_other, 0.0))
    return JointErrors(det_idx, gt_idx, classes, ks_wrong)


def corrected_keypoints(gt: GroundTruth, dets: Detections, errors: JointErrors, fix: tuple[str, ...]) -> np.ndarray:
    """The kept detections' keypoints with every joint of the classes in ``fix`` corrected as
    coco-analyze corrects it: onto its own ground-truth joint, then shifted along x by
    ``sqrt(-ln(c) * 2 * area * sigma²)`` with c = .85 (jitter), .5 (miss), or the ks the joint had
    against the wrong joint (inversion, swap). OKS divides by (2σ)², so the corrected joint ends
    at ks = c^(1/4) against its own ground truth: 0.960 for jitter, 0.841 for a miss. ``area`` is
    the protocol's OKS area (COCO: the annotation's area; CrowdPose: bbox w x h x 0.53)."""
    fixed = dets.keypoints.copy()
    codes = [ERROR_CLASSES.index(name) for name in fix]
    target = np.isin(errors.classes, codes)
    rr, jj = np.nonzero(target)
    if len(rr) == 0:
        return fixed
    cls = errors.classes[rr, jj]
    wrong = errors.ks_wrong[rr, jj]
    # coco-analyze nudges a ks of exactly 1 below 1 so the shift stays defined (and non-zero).
    wrong = np.where(wrong == 1, 1 - np.spacing(1), wrong)
    c = np.where(cls == 1, CORRECTION_KS["jitter"], np.where(cls == 4, CORRECTION_KS["miss"], wrong))
    g = errors.gt_idx[rr]
    shift = np.sqrt(-np.log(c) * 2 * gt.area[g] * gt.schema.sigmas_array[jj] ** 2)
    d = errors.det_idx[rr]
    fixed[d, jj, 0] = gt.keypoints[g, jj, 0] + shift
    fixed[d, jj, 1] = gt.keypoints[g, jj, 1]
    return fixed


def error_counts(gt: GroundTruth, errors: JointErrors) -> np.ndarray:
    """(ERROR_GROUPS, ERROR_CLASSES) int64: the labelled joints of each error class, overall and
    per visibility class of the ground-truth joint."""
    classes = errors.classes
    vis = gt.visibility[errors.gt_idx] if len(errors.gt_idx) else np.zeros(classes.shape, dtype=np.int8)
    out = np.zeros((len(ERROR_GROUPS), len(ERROR_CLASSES)), dtype=np.int64)
    for g, (_, cls) in enumerate(ERROR_GROUPS):
        sel = (classes >= 0) if cls is None else (classes >= 0) & (vis == cls)
        out[g] = np.bincount(classes[sel], minlength=len(ERROR_CLASSES))
    return out


def error_rows(counts: np.ndarray) -> list[Row]:
    rows: list[Row] = []
    for (name, _), group in zip(ERROR_GROUPS, counts, strict=True):
        total = int(group.sum())
        if total == 0:
            continue
        rows += [("errors", name, err, float(group[i] / total)) for i, err in enumerate(ERROR_CLASSES)]
        rows.append(("errors", name, "count", float(total)))
    return rows


ORACLE_KEYS: list[Key] = [("oracle", subset) for subset in ORACLE_SUBSETS]


def oracle_outcomes(gt: GroundTruth, dets: Detections, errors: JointErrors, ev_all: Evaluation) -> dict[Key, Outcome]:
    """Correct every joint of one error class (or of all of them at once) and re-match; only
    the corrected detections' OKS and their images' matching are recomputed, the rest is
    ``ev_all``'s (matching is per image, so a group of parts uses its own ``ev_all``)."""
    out: dict[Key, Outcome] = {}
    for key, fix in zip(ORACLE_KEYS, ORACLE_SUBSETS.values(), strict=True):
        fixed = corrected_keypoints(gt, dets, errors, fix)
        changed = np.zeros(len(dets.score), dtype=bool)
        codes = [ERROR_CLASSES.index(f) for f in fix]
        changed[errors.det_idx[np.isin(errors.classes, codes).any(axis=1)]] = True
        new_oks, images = oks_with_changed_detections(gt, dets, fixed, changed)
        out[key] = outcome(area_pass(gt, dets, new_oks, "all", base=ev_all, images=images))
    return out


def oracle_rows(accumulations: dict[Key, Accumulated], base_ap: float) -> list[Row]:
    rows: list[Row] = []
    for key in ORACLE_KEYS:
        acc = accumulations[key]
        ap = summarize_ap(acc)
        rows += [
            (*key, "AP", ap),
            (*key, "AP50", summarize_ap(acc, 0.5)),
            (*key, "AP75", summarize_ap(acc, 0.75)),
            (*key, "AP_gain", ap - base_ap),
        ]
    return rows


def pr_curves(acc: Accumulated) -> list[Row]:
    rows: list[Row] = []
    valid = (acc.precision > -1).all()
    mean_curve = acc.precision.mean(axis=0) if valid else -np.ones(acc.precision.shape[1])
    curves: Iterator[tuple[str, np.ndarray]] = iter(
        [
            ("oks=0.50", acc.precision[np.flatnonzero(IOU_THRESHOLDS == 0.5)[0]]),
            ("oks=0.75", acc.precision[np.flatnonzero(IOU_THRESHOLDS == 0.75)[0]]),
            ("oks=0.50:0.95", mean_curve),
        ]
    )
    for subset, curve in curves:
        rows += [
            ("pr_curve", subset, f"precision@recall={r:.2f}", float(p))
            for r, p in zip(RECALL_THRESHOLDS, curve, strict=True)
        ]
    return rows
