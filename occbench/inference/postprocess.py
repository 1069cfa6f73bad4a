"""Per-image post-processing of top-down poses: rescoring, OKS-NMS and parametric pose NMS.

- ``rescore``: instance score = box score × mean of the joint scores above 0.2 (0 if none is).
- ``oks_nms``: greedy NMS at OKS > 0.9 with the dataset sigmas, areas from the padded box
  (scale × 200 squared), all joints counted, as the official evaluation calls it. Ties in
  score keep the official order (``argsort()[::-1]``: the later person first).
- ``pose_nms``: RMPE's parametric pose NMS with AlphaPose's constants (``PoseNMSParams``).
  Joint scores ≤ 0 become 1e-5 (AlphaPose: == 0). The person with the highest mean joint score is picked (ties:
  the earlier one); every remaining pose with similarity > γ or ≥ 5 matching joints joins its
  cluster; a pick whose own or merged max joint score is < 0.3 is dropped; the cluster is
  merged per joint by a score-weighted average of the joints within min(ref, 15) px of the
  pick, and the merged joint score is Σs²/Σs over them. ``ref = α · max(box w, h)``.

Both NMS run over all images at once: persons are laid out per image in a padded
(images × persons) matrix, bucketed by count, and the greedy pass walks the rank axis, so
there is no Python loop over images or persons.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

NMS_KINDS = ("oks", "pose", "none")
RESCORE_THRESHOLD = 0.2
OKS_NMS_THRESHOLD = 0.9
# Elements of one (images × persons × persons × joints) block; bounds NMS memory.
_BLOCK_ELEMENTS = 1 << 22


@dataclass(frozen=True)
class PoseNMSParams:
    """RMPE / AlphaPose defaults (MODELS.md)."""

    delta1: float = 1.0
    mu: float = 1.7
    delta2: float = 2.65
    gamma: float = 22.48
    score_threshold: float = 0.3
    match_threshold: int = 5
    alpha: float = 0.1
    area_threshold: float = 0.0
    score_radius: float = 1.0
    match_radius_cap: float = 7.0
    merge_radius_cap: float = 15.0


def rescore(joint_scores: np.ndarray, box_scores: np.ndarray, threshold: float = RESCORE_THRESHOLD) -> np.ndarray:
    """(N, K) joint scores, (N,) box scores → (N,) instance scores."""
    joint_scores = np.asarray(joint_scores, dtype=np.float64)
    above = joint_scores > threshold
    count = above.sum(axis=1)
    total = np.where(above, joint_scores, 0.0).sum(axis=1)
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    return mean * np.asarray(box_scores, dtype=np.float64)


def padded_groups(groups: np.ndarray, *rank_keys: np.ndarray, joints: int = 1) -> Iterator[np.ndarray]:
    """Yield (G, P) matrices of person indices, one row per group, -1 as padding.

    Within a row, persons are sorted by ``rank_keys`` (``np.lexsort`` order: the last key is
    the primary one). Rows are bucketed by size and chunked so a (G, P, P, joints) block stays
    small.
    """
    groups = np.asarray(groups)
    n = len(groups)
    if n == 0:
        return
    order = np.lexsort((*rank_keys, groups))
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    counts = np.diff(np.r_[starts, n])
    group_of = np.repeat(np.arange(len(starts)), counts)
    rank = np.arange(n) - starts[group_of]
    bucket = np.ceil(np.log2(counts)).astype(np.int64)
    for b in np.unique(bucket):
        members = np.flatnonzero(bucket == b)
        width = int(counts[members].max())
        per_block = max(1, _BLOCK_ELEMENTS // (width * width * joints))
        for lo in range(0, len(members), per_block):
            block = members[lo : lo + per_block]
            row_of_group = np.full(len(starts), -1)
            row_of_group[block] = np.arange(len(block))
            persons = np.flatnonzero(np.isin(group_of, block))
            matrix = np.full((len(block), width), -1, dtype=np.int64)
            matrix[row_of_group[group_of[persons]], rank[persons]] = order[persons]
            yield matrix


def _gather(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    return values[np.where(index >= 0, index, 0)]


def oks_overlaps(coords: np.ndarray, areas: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """(G, P, K, 2) coords, (G, P) areas → (G, P, P) OKS between every pair, the official formula."""
    variances = (np.asarray(sigmas, dtype=np.float64) * 2) ** 2
    diff = coords[:, None, :, :, :] - coords[:, :, None, :, :]  # [g, i, j] = coords[j] - coords[i]
    sq = diff[..., 0] ** 2 + diff[..., 1] ** 2
    mean_area = (areas[:, :, None] + areas[:, None, :]) / 2 + np.spacing(1)
    e = sq / variances / mean_area[..., None] / 2
    return np.exp(-e).mean(axis=-1)


def oks_nms(
    groups: np.ndarray,
    coords: np.ndarray,
    scores: np.ndarray,
    areas: np.ndarray,
    sigmas: np.ndarray,
    threshold: float = OKS_NMS_THRESHOLD,
) -> np.ndarray:
    """Greedy OKS-NMS per group (image); returns a keep mask (N,)."""
    n = len(groups)
    keep = np.zeros(n, dtype=bool)
    if n == 0:
        return keep
    scores = np.asarray(scores, dtype=np.float64)
    k = coords.shape[1]
    # argsort()[::-1]: descending score, ties the higher index first.
    for idx in padded_groups(groups, -np.arange(n), -scores, joints=k):
        valid = idx >= 0
        overlap = oks_overlaps(_gather(coords, idx), _gather(areas, idx), sigmas)
        alive = valid.copy()
        later = np.triu(np.ones((idx.shape[1],) * 2, dtype=bool), 1)
        for r in range(idx.shape[1]):
            picked = alive[:, r]
            alive &= ~(picked[:, None] & later[r] & (overlap[:, r, :] > threshold))
        keep[idx[alive]] = True
    return keep


@dataclass
class PoseNMSResult:
    picks: np.ndarray  # (M,) indices of the kept (picked) persons
    coords: np.ndarray  # (M, K, 2) merged joints
    joint_scores: np.ndarray  # (M, K) merged joint scores


def pose_nms(
    groups: np.ndarray,
    coords: np.ndarray,
    joint_scores: np.ndarray,
    boxes: np.ndarray,
    params: PoseNMSParams | None = None,
) -> PoseNMSResult:
    """RMPE's parametric pose NMS per group (image); boxes are (N, 4) xywh."""
    p = params or PoseNMSParams()
    n, k = joint_scores.shape
    coords = np.asarray(coords, dtype=np.float64)
    # AlphaPose lifts zero scores to 1e-5; negative ones (raw heatmap maxima can be) would make the
    # score-weighted merge meaningless, so they are lifted too.
    scores = np.where(joint_scores <= 0, 1e-5, np.asarray(joint_scores, dtype=np.float64))
    ref_dist = p.alpha * np.maximum(boxes[:, 2], boxes[:, 3])
    human = scores.mean(axis=1)
    picks, merged, merged_scores = [], [], []
    for idx in padded_groups(groups, np.arange(n), -human, joints=k):
        g, width = idx.shape
        valid = idx >= 0
        xy, s, ref = _gather(coords, idx), _gather(scores, idx), _gather(ref_dist, idx)
        diff = xy[:, None] - xy[:, :, None]  # [g, i, j] = pose j - pose i (i is the pick)
        dist = np.sqrt(diff[..., 0] ** 2 + diff[..., 1] ** 2)  # (G, P, P, K)
        tanh = np.tanh(s / p.delta1)
        score_term = np.where(dist <= p.score_radius, tanh[:, :, None] * tanh[:, None], 0.0).sum(-1)
        similarity = score_term + p.mu * np.exp(-dist / p.delta2).sum(-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            matches = (dist / np.minimum(ref, p.match_radius_cap)[:, :, None, None] <= 1).sum(-1)
        absorbs = (similarity > p.gamma) | (matches >= p.match_threshold)
        alive = valid.copy()
        cluster = np.full((g, width), -1)
        for r in range(width):
            picked = alive[:, r]
            members = alive & absorbs[:, r] & picked[:, None]
            members[:, r] |= picked
            cluster[members] = r
            alive &= ~members
        # Merge each cluster into its pick: weights s where the joint is near the pick's joint.
        member = cluster[:, None, :] == np.arange(width)[None, :, None]  # [g, pick, j]
        near = dist <= np.minimum(ref, p.merge_radius_cap)[:, :, None, None]
        weight = np.where(member[..., None] & near, s[:, None], 0.0)  # (G, P, P, K)
        total = weight.sum(axis=2)
        is_pick = cluster == np.arange(width)[None, :]
        safe = np.where(total > 0, total, 1.0)
        pose = (weight[..., None] * xy[:, None]).sum(axis=2) / safe[..., None]
        pose_score = (weight * s[:, None]).sum(axis=2) / safe
        extent = np.ptp(pose[..., 0], axis=-1) * np.ptp(pose[..., 1], axis=-1)
        kept = (
            is_pick
            & (s.max(axis=-1) >= p.score_threshold)
            & (pose_score.max(axis=-1) >= p.score_threshold)
            & ~(1.5**2 * extent < p.area_threshold)
        )
        sel_g, sel_r = np.nonzero(kept)
        picks.append(idx[sel_g, sel_r])
        merged.append(pose[sel_g, sel_r])
        merged_scores.append(pose_score[sel_g, sel_r])
    if not picks:
        return PoseNMSResult(np.zeros(0, np.int64), np.zeros((0, k, 2)), np.zeros((0, k)))
    return PoseNMSResult(np.concatenate(picks), np.concatenate(merged), np.concatenate(merged_scores))
