"""The COCO keypoint and CrowdPose protocols on top of the engine.

- COCO (pycocotools): area ranges all / medium [32², 96²] / large [96², 1e10]; ten stats AP,
  AP50, AP75, AP_M, AP_L, AR, AR50, AR75, AR_M, AR_L.
- CrowdPose (crowdposetools, faster-coco-eval ``keypoints_crowd``): the "all" range; AP, AP50,
  AP75, AR, AR50, AR75, and AP_easy / AP_medium / AP_hard: the evaluation re-run on the images
  with crowdIndex < 0.2, in [0.2, 0.8) and ≥ 0.8, each band's AP being the plain mean of its
  precision array (-1 when the band has no regular ground truth), rounded to 4 decimals as all
  three references round it (``round(np.mean(precision[:, :, :, 0, :]), 4)`` in
  ``get_type_result``). The bands are always CrowdPose's own; ``--crowd-bands`` only changes the
  ``crowd_index:*`` breakdown, which reports the unrounded AP. The per-image evaluation does not
  depend on which other images take part, so a band reuses the matches and only re-accumulates
  over its images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occbench.evaluation.core import (
    AREA_RANGES,
    Accumulated,
    Matches,
    PaddedOks,
    compute_oks,
    greedy_match,
    make_pairs,
    oks_values,
    pair_terms,
    summarize_ap,
    summarize_ar,
)
from occbench.evaluation.inputs import Detections, GroundTruth

COCO_STATS = ("AP", "AP50", "AP75", "AP_M", "AP_L", "AR", "AR50", "AR75", "AR_M", "AR_L")
CROWDPOSE_STATS = ("AP", "AP50", "AP75", "AR", "AR50", "AR75", "AP_easy", "AP_medium", "AP_hard")


@dataclass
class Evaluation:
    """One matching pass: what breakdowns reuse."""

    oks: PaddedOks
    matches: Matches
    gt_ignore: np.ndarray  # (N,) _ignore of this pass
    det_ignored: np.ndarray  # (T, Dk) final dtIgnore


def oks_for_masks(gt: GroundTruth, dets: Detections, joint_masks: list[np.ndarray]) -> list[PaddedOks]:
    """Padded OKS of all pairs for each joint mask (N, K) in one chunked pass: the pairs' per-joint
    terms are computed once per chunk and shared by the masks."""
    return compute_oks(
        dets.layout, gt.keypoints, joint_masks, gt.area, gt.bbox, dets.keypoints[..., :2], gt.schema.sigmas_array
    )


def oks_for(gt: GroundTruth, dets: Detections, joint_mask: np.ndarray | None = None) -> PaddedOks:
    """Padded OKS of all pairs; ``joint_mask`` (N, K) replaces COCO's v > 0 (keypoint subsets).
    The standard OKS is cached on the detections and shared by every breakdown."""
    key = "oks_standard"
    if joint_mask is None and key in dets.cache:
        return dets.cache[key]
    (padded,) = oks_for_masks(gt, dets, [gt.labelled if joint_mask is None else joint_mask])
    if joint_mask is None:
        dets.cache[key] = padded
    return padded


def oks_with_changed_detections(
    gt: GroundTruth, dets: Detections, new_keypoints: np.ndarray, changed: np.ndarray
) -> tuple[PaddedOks, np.ndarray]:
    """OKS of the images holding ``changed`` (Dk,) detections after replacing those detections'
    keypoints; only their pairs are recomputed, chunk by chunk. Returns the padded OKS restricted
    to those images (ready for ``run_pass(..., base=..., images=...)``) and the image mask."""
    base = oks_for(gt, dets)
    images = np.zeros(len(gt.image_ids), dtype=bool)
    images[dets.image[changed]] = True
    sigmas = gt.schema.sigmas_array
    xy = new_keypoints[..., :2]
    chunks = []
    for chunk_images, o in base.chunks:
        keep = np.flatnonzero(images[chunk_images])
        if len(keep) == 0:
            continue
        sub = o[keep].copy()
        pairs = make_pairs(dets.layout, chunk_images[keep])
        rows = np.flatnonzero(changed[pairs.det])
        if len(rows):
            terms = pair_terms(pairs, gt.keypoints, gt.area, xy, sigmas, rows=rows)
            values = oks_values(pairs, terms, gt.labelled, gt.bbox, gt.area, xy, sigmas, rows=rows)
            sub[pairs.img_local[rows], pairs.rank[rows], pairs.slot[rows]] = values
        chunks.append((chunk_images[keep], sub))
    return PaddedOks(chunks), images


def run_pass(
    gt: GroundTruth,
    dets: Detections,
    oks: PaddedOks,
    gt_ignore: np.ndarray,
    unmatched_ignored: np.ndarray | None = None,
    base: Evaluation | None = None,
    images: np.ndarray | None = None,
) -> Evaluation:
    """Match with a given ``_ignore`` and return the final detection-ignore flags.

    ``unmatched_ignored`` (Dk,) marks detections that are ignored when left unmatched (the
    area-range rule: a detection outside the range). With ``base`` and an image mask, only those
    images are re-matched (matching is per image) and the rest is taken from ``base``.
    """
    if base is not None and images is not None:
        sub = greedy_match(oks.restricted(images), dets.layout, gt_ignore, gt.iscrowd, num_dets=len(dets.score))
        redo_d = images[dets.image]
        redo_g = images[gt.inst_image]
        matches = Matches(
            np.where(redo_d, sub.det_matched, base.matches.det_matched),
            np.where(redo_d, sub.det_ignored, base.matches.det_ignored),
            np.where(redo_d, sub.det_gt, base.matches.det_gt),
            np.where(redo_g, sub.gt_matched, base.matches.gt_matched),
        )
    else:
        matches = greedy_match(oks, dets.layout, gt_ignore, gt.iscrowd, num_dets=len(dets.score))
    det_ignored = matches.det_ignored.copy()
    if unmatched_ignored is not None:
        det_ignored |= ~matches.det_matched & unmatched_ignored[None, :]
    return Evaluation(oks, matches, gt_ignore, det_ignored)


def run_passes(gt: GroundTruth, dets: Detections, oks: PaddedOks, gt_ignores: np.ndarray) -> list[Evaluation]:
    """Several passes over the same OKS with different ``_ignore`` flags (P, N), matched together.
    Unmatched detections are never ignored here (the band conventions decide that)."""
    matches = greedy_match(oks, dets.layout, gt_ignores, gt.iscrowd, num_dets=len(dets.score))
    t_count = matches.det_matched.shape[0] // len(gt_ignores)
    out = []
    for p, ignore in enumerate(gt_ignores):
        sl = slice(p * t_count, (p + 1) * t_count)
        m = Matches(matches.det_matched[sl], matches.det_ignored[sl], matches.det_gt[sl], matches.gt_matched[sl])
        out.append(Evaluation(oks, m, ignore, m.det_ignored.copy()))
    return out


def area_pass(
    gt: GroundTruth,
    dets: Detections,
    oks: PaddedOks,
    area_range: str,
    base: Evaluation | None = None,
    images: np.ndarray | None = None,
) -> Evaluation:
    lo, hi = AREA_RANGES[area_range]
    gt_ignore = gt.ignore | (gt.area < lo) | (gt.area > hi)
    return run_pass(gt, dets, oks, gt_ignore, (dets.area < lo) | (dets.area > hi), base, images)


def stats_from_accumulations(
    protocol: str, areas: dict[str, Accumulated], bands: dict[str, Accumulated]
) -> dict[str, float]:
    """The protocol's standard stats from its accumulations: ``areas`` "all" (and "medium",
    "large" for COCO), ``bands`` CrowdPose's "easy", "medium", "hard" (CrowdPose)."""
    acc_all = areas["all"]
    stats = {
        "AP": summarize_ap(acc_all),
        "AP50": summarize_ap(acc_all, 0.5),
        "AP75": summarize_ap(acc_all, 0.75),
        "AR": summarize_ar(acc_all),
        "AR50": summarize_ar(acc_all, 0.5),
        "AR75": summarize_ar(acc_all, 0.75),
    }
    if protocol == "coco":
        for suffix, name in (("M", "medium"), ("L", "large")):
            stats[f"AP_{suffix}"] = summarize_ap(areas[name])
            stats[f"AR_{suffix}"] = summarize_ar(areas[name])
        return {k: stats[k] for k in COCO_STATS}
    for name, acc in bands.items():
        stats[f"AP_{name}"] = crowdpose_band_ap(acc)
    return {k: stats[k] for k in CROWDPOSE_STATS}


def crowdpose_band_masks(crowd_index: np.ndarray) -> dict[str, np.ndarray]:
    """CrowdPose's own image split, exactly as ``split()`` in the reference tools writes it:
    crowdIndex < 0.2 easy, else < 0.8 medium, else hard (so a NaN lands in hard)."""
    easy = crowd_index < 0.2
    medium = ~easy & (crowd_index < 0.8)
    return {"easy": easy, "medium": medium, "hard": ~easy & ~medium}


def crowdpose_band_ap(acc: Accumulated) -> float:
    """``round(np.mean(precision[:, :, :, 0, :]), 4)`` as crowdposetools' / xtcocotools' /
    faster-coco-eval's ``get_type_result`` return it: the mean includes -1 entries and the
    rounding is numpy's (a float64's ``__round__``), not Python's decimal-exact one."""
    return float(round(np.float64(np.mean(acc.precision)), 4))
