"""The reference-exact engine: OKS, greedy matching and accumulation, vectorised.

This follows pycocotools' ``COCOeval`` for keypoints (and crowdposetools / faster-coco-eval's
``keypoints_crowd``, which differ only in the OKS area) rule for rule:

- detections are sorted by score within an image (stable, as mergesort) and cut to maxDets;
- OKS: ``e = (dx² + dy²) / (2σ)² / (area + eps) / 2`` over the ground truth's labelled joints
  (v > 0), or, for a ground truth without labelled joints, over all joints with the distance
  to its box enlarged twice in each direction; the mean of ``exp(-e)`` is summed in numpy's
  pairwise order so every OKS is bit-identical to the reference;
- matching per OKS threshold: detections in score order take the unmatched ground truth with
  the highest OKS ≥ ``min(t, 1 - 1e-10)`` (ties to the later one), regular ground truths
  before ignored ones, crowd regions matchable many times; a detection matched to an ignored
  ground truth is ignored, and so is an unmatched one whose area is outside the range;
- accumulation over images in ascending id order, a stable sort by score, cumulative TP/FP,
  the precision envelope and 101 recall points.

The greedy matching is sequential per image, so it runs over detection rank (at most maxDets
steps), vectorised across all images and all thresholds at once, in image chunks that bound
memory. Nothing depends on annotation ids (pycocotools' "id 0 counts as unmatched" is not
reproduced).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
MAX_DETS = 20
AREA_RANGES = {"all": (0.0, 1e5**2), "medium": (32.0**2, 96.0**2), "large": (96.0**2, 1e5**2)}
CHUNK_ELEMENTS = 4_000_000  # images x maxDets x ground-truth slots x joints of one chunk's pair terms
EPS = np.spacing(1)


def numpy_pairwise_sum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Row sums of the first ``counts[i]`` entries of ``values[i]``, added in exactly the order
    ``numpy.sum`` adds a contiguous 1-D array of that length: sequentially below 8 elements,
    otherwise 8 partial sums combined as a tree, then the tail one by one. Rows are grouped by
    length, so this is one vectorised pass per distinct length (at most K + 1)."""
    out = np.zeros(len(values))
    for n in np.unique(counts):
        rows = np.flatnonzero(counts == n)
        if n == 0:
            continue
        a = values[rows, :n]
        if n < 8:
            total = a[:, 0].copy()
            for j in range(1, n):
                total = total + a[:, j]
        else:
            blocks = n // 8
            r = a[:, :8].copy()
            for b in range(1, blocks):
                r = r + a[:, 8 * b : 8 * b + 8]
            total = ((r[:, 0] + r[:, 1]) + (r[:, 2] + r[:, 3])) + ((r[:, 4] + r[:, 5]) + (r[:, 6] + r[:, 7]))
            for j in range(8 * blocks, n):
                total = total + a[:, j]
        out[rows] = total
    return out


@dataclass
class PaddedOks:
    """OKS of every (detection rank, ground truth) pair, image by image, in padded chunks.

    ``chunks[c]`` is (images (I,), oks (I, R, Gm)) with -inf where a slot is empty. Ground-truth
    slots follow the ground truth's order within the image; detection ranks follow score order.
    """

    chunks: list[tuple[np.ndarray, np.ndarray]]

    def restricted(self, image_mask: np.ndarray) -> PaddedOks:
        """Only the images where ``image_mask`` (M,) is true."""
        out = []
        for images, o in self.chunks:
            keep = image_mask[images]
            if keep.any():
                out.append((images[keep], o[keep]))
        return PaddedOks(out)


@dataclass
class Layout:
    """Where each image's ground truths and kept detections sit in the flat arrays."""

    num_images: int
    gt_start: np.ndarray  # (M,)
    gt_count: np.ndarray  # (M,)
    det_start: np.ndarray  # (M,) into the kept-detection arrays (score-sorted per image)
    det_count: np.ndarray  # (M,) <= maxDets

    def chunks(self, num_joints: int = 1) -> list[np.ndarray]:
        """Images with detections and ground truth, in chunks whose padded pair x joint arrays
        (images x maxDets x ground-truth slots x joints) stay under CHUNK_ELEMENTS; images are
        sorted by ground-truth count so a chunk pads little. Every OKS array is built chunk by
        chunk, so memory is bounded whatever the split's size (JTA: ~100k frames x 22 people)."""
        active = np.flatnonzero((self.gt_count > 0) & (self.det_count > 0))
        order = active[np.argsort(self.gt_count[active], kind="stable")]
        counts = self.gt_count[order]
        budget = max(1, CHUNK_ELEMENTS // (MAX_DETS * max(1, num_joints)))
        out, start = [], 0
        while start < len(order):
            # Counts ascend, so (images so far) x (largest count) grows with the end position. A
            # chunk also stops where counts grow past 1.5x its first, so it pads little.
            size = (np.arange(start, len(order)) - start + 1) * counts[start:]
            end = start + max(1, int(np.searchsorted(size, budget, side="right")))
            end = min(end, int(np.searchsorted(counts, counts[start] * 1.5 + 2, side="right")))
            end = max(end, start + 1)
            out.append(order[start:end])
            start = end
        return out


@dataclass
class Pairs:
    """Every (kept detection, ground truth) pair of the images of one chunk."""

    images: np.ndarray  # (I,) image positions
    det: np.ndarray  # (P,) kept-detection index
    gt: np.ndarray  # (P,) ground-truth index
    img_local: np.ndarray  # (P,) row of the pair's image in the chunk
    rank: np.ndarray  # (P,) detection rank within its image
    slot: np.ndarray  # (P,) ground-truth slot within its image
    shape: tuple[int, int]  # (images, ground-truth slots)


def make_pairs(layout: Layout, images: np.ndarray) -> Pairs:
    """The pairs of ``images`` (positions), in image, rank, slot order. Indices are int32 (a
    split would need 2³¹ kept detections to overflow them) to halve the index memory."""
    gcount, dcount = layout.gt_count[images], layout.det_count[images]
    per_image = dcount * gcount
    img_local = np.repeat(np.arange(len(images), dtype=np.int32), per_image)
    within = np.arange(per_image.sum(), dtype=np.int64) - np.repeat(np.cumsum(per_image) - per_image, per_image)
    rank, slot = np.divmod(within, gcount[img_local])
    det = (layout.det_start[images][img_local] + rank).astype(np.int32)
    gt = (layout.gt_start[images][img_local] + slot).astype(np.int32)
    gm = int(gcount.max()) if len(images) else 0
    return Pairs(images, det, gt, img_local, rank.astype(np.int32), slot.astype(np.int32), (len(images), gm))


def pair_terms(
    pairs: Pairs,
    gt_xy: np.ndarray,
    gt_area: np.ndarray,
    det_xy: np.ndarray,
    sigmas: np.ndarray,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """(P, K) ``exp(-e)`` per pair and joint with e from the plain joint distance (the labelled form)."""
    d = pairs.det if rows is None else pairs.det[rows]
    g = pairs.gt if rows is None else pairs.gt[rows]
    variances = (sigmas * 2) ** 2
    dx = det_xy[d, :, 0] - gt_xy[g, :, 0]
    dy = det_xy[d, :, 1] - gt_xy[g, :, 1]
    return np.exp(-((dx**2 + dy**2) / variances / (gt_area[g][:, None] + EPS) / 2))


def _box_terms(
    det: np.ndarray, gt: np.ndarray, gt_bbox: np.ndarray, gt_area: np.ndarray, det_xy: np.ndarray, sigmas: np.ndarray
) -> np.ndarray:
    """``exp(-e)`` for ground truths without a used joint: distance to their box enlarged twice."""
    variances = (sigmas * 2) ** 2
    box = gt_bbox[gt]
    x0, x1 = (box[:, 0] - box[:, 2])[:, None], (box[:, 0] + box[:, 2] * 2)[:, None]
    y0, y1 = (box[:, 1] - box[:, 3])[:, None], (box[:, 1] + box[:, 3] * 2)[:, None]
    xd, yd = det_xy[det, :, 0], det_xy[det, :, 1]
    dx = np.maximum(0, x0 - xd) + np.maximum(0, xd - x1)
    dy = np.maximum(0, y0 - yd) + np.maximum(0, yd - y1)
    return np.exp(-((dx**2 + dy**2) / variances / (gt_area[gt][:, None] + EPS) / 2))


def oks_values(
    pairs: Pairs,
    terms: np.ndarray,
    gt_mask: np.ndarray,
    gt_bbox: np.ndarray,
    gt_area: np.ndarray,
    det_xy: np.ndarray,
    sigmas: np.ndarray,
    rows: np.ndarray | None = None,
    box_terms: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """OKS of the pairs (``terms`` belongs to ``rows``, or to all pairs), summed in numpy's order.

    ``box_terms`` (sorted pair rows, their box-distance terms) may hold precomputed box terms
    for every row that needs them (shared across several joint masks of the same chunk).
    """
    det = pairs.det if rows is None else pairs.det[rows]
    gt = pairs.gt if rows is None else pairs.gt[rows]
    use = gt_mask[gt]
    unlabelled = np.flatnonzero(~use.any(axis=1))
    n = use.sum(axis=1)
    partial = np.flatnonzero(n < use.shape[1])
    if len(unlabelled) or len(partial):
        terms = terms.copy()
    if len(unlabelled):
        if box_terms is None:
            terms[unlabelled] = _box_terms(det[unlabelled], gt[unlabelled], gt_bbox, gt_area, det_xy, sigmas)
        else:
            box_rows, values = box_terms
            terms[unlabelled] = values[np.searchsorted(box_rows, unlabelled)]
        use = use.copy()
        use[unlabelled] = True
        n[unlabelled] = use.shape[1]
        partial = np.flatnonzero(n < use.shape[1])
    # Pack each row's used terms to the front, in order; rows using every joint are packed already.
    if len(partial):
        sub_use = use[partial]
        packed = np.zeros((len(partial), use.shape[1]))
        rr, cc = np.nonzero(sub_use)
        packed[rr, (np.cumsum(sub_use, axis=1) - 1)[rr, cc]] = terms[partial][rr, cc]
        terms[partial] = packed
    with np.errstate(invalid="ignore", divide="ignore"):
        return numpy_pairwise_sum(terms, n) / n


def pad(pairs: Pairs, values: np.ndarray) -> np.ndarray:
    """(I, maxDets, Gm) OKS of one chunk, -inf in empty slots."""
    padded = np.full((pairs.shape[0], MAX_DETS, pairs.shape[1]), -np.inf)
    padded[pairs.img_local, pairs.rank, pairs.slot] = values
    return padded


def compute_oks(
    layout: Layout,
    gt_xy: np.ndarray,
    gt_masks: list[np.ndarray],
    gt_area: np.ndarray,
    gt_bbox: np.ndarray,
    det_xy: np.ndarray,
    sigmas: np.ndarray,
) -> list[PaddedOks]:
    """OKS for every kept detection and ground truth of the same image (see module docstring),
    one ``PaddedOks`` per joint mask in ``gt_masks``.

    A mask (N, K) selects the joints OKS is averaged over (COCO: v > 0); a ground truth whose
    mask is empty uses the box-distance form over all joints. Pairs and their per-joint terms
    exist one chunk at a time and are shared by the masks; only the padded OKS is kept.
    """
    out: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in gt_masks]
    for images in layout.chunks(det_xy.shape[1]):
        pairs = make_pairs(layout, images)
        terms = pair_terms(pairs, gt_xy, gt_area, det_xy, sigmas)
        box_terms = None
        if len(gt_masks) > 1:
            need = np.zeros(len(pairs.det), dtype=bool)
            for mask in gt_masks:
                need |= ~mask[pairs.gt].any(axis=1)
            box_rows = np.flatnonzero(need)
            box_terms = (
                box_rows,
                _box_terms(pairs.det[box_rows], pairs.gt[box_rows], gt_bbox, gt_area, det_xy, sigmas),
            )
        for m, mask in enumerate(gt_masks):
            values = oks_values(pairs, terms, mask, gt_bbox, gt_area, det_xy, sigmas, box_terms=box_terms)
            out[m].append((images, pad(pairs, values)))
    return [PaddedOks(chunks) for chunks in out]


@dataclass
class Matches:
    """Per kept detection and threshold: matched or not, ignored or not; per gt: matched."""

    det_matched: np.ndarray  # (T, Dk) bool
    det_ignored: np.ndarray  # (T, Dk) bool: matched to an ignored ground truth
    det_gt: np.ndarray  # (T, Dk) int32: the matched ground truth (flat index) or -1
    gt_matched: np.ndarray  # (T, N) bool


def greedy_match(
    oks: PaddedOks,
    layout: Layout,
    gt_ignore: np.ndarray,
    gt_crowd: np.ndarray,
    thresholds: np.ndarray = IOU_THRESHOLDS,
    num_dets: int | None = None,
) -> Matches:
    """pycocotools' greedy matching for every image and threshold at once (module docstring).

    ``gt_ignore`` is the ``_ignore`` flag of this evaluation (crowd, no keypoints, outside the
    area range or band ...): (N,) for one pass, or (P, N) for P passes over the same OKS, which
    are then matched together and returned stacked on the first axis (P * T rows, pass-major).
    """
    ignore_passes = np.atleast_2d(gt_ignore)
    n_pass = ignore_passes.shape[0]
    t_count = len(thresholds)
    rows_total = n_pass * t_count
    dk = int(num_dets if num_dets is not None else (layout.det_start + layout.det_count).max(initial=0))
    n_gt = ignore_passes.shape[1]
    det_matched = np.zeros((rows_total, dk), dtype=bool)
    det_ignored = np.zeros((rows_total, dk), dtype=bool)
    det_gt = np.full((rows_total, dk), -1, dtype=np.int32)
    gt_matched = np.zeros((rows_total, n_gt), dtype=bool)
    thr = np.tile(np.minimum(thresholds, 1 - 1e-10), n_pass)[:, None, None]
    for images, o in oks.chunks:
        # Images with more detections first, so the images active at rank r are a prefix.
        by_dets = np.argsort(-layout.det_count[images], kind="stable")
        images = images[by_dets]
        gm = o.shape[2]
        # Slots in reversed file order: the reference keeps the *last* ground truth (in file
        # order, regular ones before ignored ones) that reaches the best OKS, which is then the
        # first maximum argmax returns within each group.
        o = np.ascontiguousarray(o[by_dets][:, :, ::-1])
        gcount = layout.gt_count[images]
        slot_index = np.arange(gm)[::-1]
        g_ok = slot_index[None, :] < gcount[:, None]
        g_flat = np.where(g_ok, layout.gt_start[images][:, None] + slot_index[None, :], 0)
        ign = np.repeat(ignore_passes[:, g_flat] & g_ok[None], t_count, axis=0)  # (P*T, I, Gm)
        not_crowd = ~(gt_crowd[g_flat] & g_ok)
        dcount = layout.det_count[images]
        dstart = layout.det_start[images]
        matched = np.zeros((rows_total, len(images), gm), dtype=bool)
        for r in range(min(MAX_DETS, o.shape[1])):
            n_active = int(np.searchsorted(-dcount, -r, side="left"))  # images with dcount > r
            if n_active == 0:
                break
            o_r = o[:n_active, r, :]
            cand = (o_r >= thr) & ~(matched[:, :n_active] & not_crowd[:n_active]) & g_ok[:n_active]
            ign_r = ign[:, :n_active]
            regular = cand & ~ign_r
            found = regular.any(axis=2)
            choice = np.argmax(np.where(regular, o_r, -np.inf), axis=2)
            chosen_ignored = np.zeros_like(found)
            if not found.all():
                ignored = cand & ign_r
                found_ignored = ignored.any(axis=2) & ~found
                if found_ignored.any():
                    choice = np.where(found_ignored, np.argmax(np.where(ignored, o_r, -np.inf), axis=2), choice)
                    chosen_ignored = found_ignored
                    found = found | found_ignored
            t_idx, i_idx = np.nonzero(found)
            slot = choice[t_idx, i_idx]
            matched[t_idx, i_idx, slot] = True
            det_flat = dstart[i_idx] + r
            det_matched[t_idx, det_flat] = True
            det_ignored[t_idx, det_flat] = chosen_ignored[t_idx, i_idx]
            det_gt[t_idx, det_flat] = g_flat[i_idx, slot]
        tt, ii, ss = np.nonzero(matched)
        gt_matched[tt, g_flat[ii, ss]] = True
    return Matches(det_matched, det_ignored, det_gt, gt_matched)


@dataclass
class Accumulated:
    precision: np.ndarray  # (T, R), -1 when there is no regular ground truth
    recall: np.ndarray  # (T,), -1 likewise
    num_gt: int


def accumulate(
    det_score: np.ndarray,
    det_matched: np.ndarray,
    det_ignored: np.ndarray,
    num_regular_gt: int,
    recall_thresholds: np.ndarray = RECALL_THRESHOLDS,
    order: np.ndarray | None = None,
) -> Accumulated:
    """pycocotools' ``accumulate`` for one category / area / maxDets setting.

    ``det_score`` must be in the reference's concatenation order (images by ascending id, score
    order within an image); ``det_matched`` / ``det_ignored`` are (T, D). ``order`` may give the
    stable descending-score order (a subset of a stable order is the subset's stable order).
    """
    t_count = det_matched.shape[0]
    if num_regular_gt == 0:
        return Accumulated(-np.ones((t_count, len(recall_thresholds))), -np.ones(t_count), 0)
    if order is None:
        order = np.argsort(-det_score, kind="stable")
    precision = np.zeros((t_count, len(recall_thresholds)))
    recall = np.zeros(t_count)
    nd = len(order)
    # One threshold at a time: the same arithmetic row by row, with a tenth of the float arrays
    # alive at once (full JTA: millions of detections).
    for t in range(t_count if nd else 0):
        matched, kept = det_matched[t, order], ~det_ignored[t, order]
        # Counts summed in float64 directly: the same integers (exact below 2^53) without the
        # int64 arrays and their float copies (by parts: up to ~10 M detections at once).
        tp_sum = np.cumsum(matched & kept, dtype=np.float64)
        matched = ~matched
        matched &= kept
        fp_sum = np.cumsum(matched, dtype=np.float64)
        del matched, kept
        rc = tp_sum / num_regular_gt
        recall[t] = rc[-1]
        inds = np.searchsorted(rc, recall_thresholds, side="left")
        del rc
        # pr = tp / (fp + tp + eps), in place (the same operations in the same order).
        fp_sum += tp_sum
        fp_sum += np.spacing(1)
        pr = np.divide(tp_sum, fp_sum, out=fp_sum)
        del tp_sum
        valid = inds < nd
        # The envelope (suffix maximum of pr) is needed at the recall points only: the maximum of
        # each stretch between consecutive points, then a suffix maximum over the stretches.
        starts, where = np.unique(inds[valid], return_inverse=True)
        if len(starts):
            stretch = np.maximum.reduceat(pr, starts)
            precision[t, valid] = np.maximum.accumulate(stretch[::-1])[::-1][where]
    return Accumulated(precision, recall, num_regular_gt)


def summarize_ap(acc: Accumulated, threshold: float | None = None) -> float:
    """pycocotools' ``_summarize`` for AP: the mean over thresholds and recall points of valid entries."""
    s = acc.precision if threshold is None else acc.precision[np.flatnonzero(threshold == IOU_THRESHOLDS)]
    valid = s[s > -1]
    return -1.0 if valid.size == 0 else float(np.mean(valid))


def summarize_ar(acc: Accumulated, threshold: float | None = None) -> float:
    s = acc.recall if threshold is None else acc.recall[np.flatnonzero(threshold == IOU_THRESHOLDS)]
    valid = s[s > -1]
    return -1.0 if valid.size == 0 else float(np.mean(valid))
