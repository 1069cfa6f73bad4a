"""CrowdPose's crowdIndex, recomputed from annotations for any source.

For image I with persons i = 1..n (Li et al., CVPR 2019)::

    CI = (1/n) * sum_i N_b(i) / N_a(i)

N_a(i) is the number of labelled joints of person i, and N_b(i) the number of labelled
joints of *other* persons that lie inside person i's box. occbench's reading of the
details, which the paper leaves open (documented in docs/datasets.md):

- persons are the non-crowd instances with at least one labelled joint;
- "labelled" means COCO v > 0 (visible, occluded, self-occluded, labelled-unknown);
  truncated (off-screen) joints are not labelled;
- "inside" is inclusive: ``x0 <= x <= x0 + w`` and ``y0 <= y <= y0 + h``;
- an image with no such person has CI = 0.

The computation is vectorised over all same-image person pairs, in chunks so memory stays
bounded on crowded video frames.
"""

from __future__ import annotations

import numpy as np

MAX_PAIRS_PER_CHUNK = 1_000_000


def crowd_index(
    image_ids: np.ndarray,
    instance_image_ids: np.ndarray,
    boxes_xywh: np.ndarray,
    keypoints: np.ndarray,
    labelled: np.ndarray,
    counted: np.ndarray | None = None,
) -> np.ndarray:
    """crowdIndex for each of ``image_ids`` (float64, same order).

    ``keypoints`` is (N, K, 2), ``labelled`` (N, K) bool, ``counted`` (N,) bool selects the
    instances that take part (default: all with a labelled joint).
    """
    image_ids = np.asarray(image_ids)
    result = np.zeros(len(image_ids), dtype=np.float64)
    labelled = np.asarray(labelled, dtype=bool)
    n_a = labelled.sum(axis=1)
    keep = n_a > 0
    if counted is not None:
        keep &= np.asarray(counted, dtype=bool)
    if not keep.any():
        return result

    order_images = np.argsort(image_ids, kind="stable")
    sorted_ids = image_ids[order_images]
    inst_img = np.asarray(instance_image_ids)[keep]
    pos = np.searchsorted(sorted_ids, inst_img)
    pos = np.clip(pos, 0, len(sorted_ids) - 1)
    if not np.array_equal(sorted_ids[pos], inst_img):
        raise ValueError("instances refer to images that are not in image_ids")
    img_index = order_images[pos]

    # Group persons by image (stable sort keeps input order inside an image).
    order = np.argsort(img_index, kind="stable")
    group = img_index[order]
    boxes = np.asarray(boxes_xywh, dtype=np.float64)[keep][order]
    kx = np.asarray(keypoints, dtype=np.float64)[keep][order, :, 0]
    ky = np.asarray(keypoints, dtype=np.float64)[keep][order, :, 1]
    lab = labelled[keep][order]
    n_a_sorted = n_a[keep][order].astype(np.float64)

    sizes = np.bincount(group, minlength=len(image_ids))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    person_group_size = sizes[group]
    person_group_start = starts[group]

    n_b = np.zeros(len(group), dtype=np.float64)
    pairs_per_person = person_group_size.astype(np.int64)
    cum = np.cumsum(pairs_per_person)
    chunk_start = 0
    while chunk_start < len(group):
        base = cum[chunk_start - 1] if chunk_start else 0
        chunk_end = int(np.searchsorted(cum, base + MAX_PAIRS_PER_CHUNK, side="right"))
        chunk_end = max(chunk_end, chunk_start + 1)
        persons = np.arange(chunk_start, chunk_end)
        reps = pairs_per_person[persons]
        i_idx = np.repeat(persons, reps)
        offsets = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
        j_idx = np.repeat(person_group_start[persons], reps) + offsets
        other = i_idx != j_idx
        i_idx, j_idx = i_idx[other], j_idx[other]
        x0, y0 = boxes[i_idx, 0:1], boxes[i_idx, 1:2]
        x1, y1 = x0 + boxes[i_idx, 2:3], y0 + boxes[i_idx, 3:4]
        px, py = kx[j_idx], ky[j_idx]
        inside = lab[j_idx] & (px >= x0) & (px <= x1) & (py >= y0) & (py <= y1)
        n_b += np.bincount(i_idx, weights=inside.sum(axis=1), minlength=len(group))
        chunk_start = chunk_end

    ratio_sum = np.bincount(group, weights=n_b / n_a_sorted, minlength=len(image_ids))
    with np.errstate(invalid="ignore", divide="ignore"):
        result = np.where(sizes > 0, ratio_sum / np.maximum(sizes, 1), 0.0)
    return result
