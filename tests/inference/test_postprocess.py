"""Rescoring, OKS-NMS and parametric pose NMS: hand-computed cases and per-image references."""

from __future__ import annotations

import numpy as np

from occbench.inference.postprocess import PoseNMSParams, oks_nms, pose_nms, rescore
from occbench.skeletons import CROWDPOSE14

SIGMAS = CROWDPOSE14.sigmas_array


def test_rescore_hand_computed() -> None:
    scores = np.array([[0.1, 0.3, 0.5], [0.1, 0.2, 0.15], [0.9, 0.9, 0.9]])
    np.testing.assert_allclose(rescore(scores, [0.8, 1.0, 0.5]), [0.4 * 0.8, 0.0, 0.45])


def reference_oks_nms(kpts: np.ndarray, scores: np.ndarray, areas: np.ndarray, sigmas: np.ndarray, thr: float):
    """The official per-image loop (oks_iou without vis threshold)."""
    variances = (sigmas * 2) ** 2
    order = scores.argsort(kind="stable")[::-1]
    keep = []
    while len(order):
        i = order[0]
        keep.append(i)
        rest = order[1:]
        dx = kpts[rest, :, 0] - kpts[i, :, 0]
        dy = kpts[rest, :, 1] - kpts[i, :, 1]
        e = (dx**2 + dy**2) / variances / ((areas[i] + areas[rest])[:, None] / 2 + np.spacing(1)) / 2
        ious = np.exp(-e).mean(axis=1)
        order = rest[ious <= thr]
    return sorted(keep)


def crowded_poses(rng: np.random.Generator, images: int, k: int):
    groups, coords, scores, boxes = [], [], [], []
    for image in range(images):
        people = rng.integers(1, 12)
        base = rng.uniform(0, 300, (people, 1, 2)) + rng.uniform(-30, 30, (people, k, 2))
        # Duplicates: each person is predicted 1-3 times with small jitter (as from overlapping boxes).
        for person in base:
            for _ in range(rng.integers(1, 4)):
                groups.append(image)
                coords.append(person + rng.normal(0, rng.choice([0.3, 2.0, 8.0]), (k, 2)))
                scores.append(rng.uniform(0, 1, k))
                boxes.append([*person.min(0), *(np.ptp(person, axis=0) + 1)])
    return np.array(groups), np.array(coords), np.array(scores), np.array(boxes)


def test_oks_nms_equals_official_loop() -> None:
    rng = np.random.default_rng(0)
    groups, coords, _, boxes = crowded_poses(rng, 30, 14)
    scores = rng.uniform(0, 1, len(groups))
    scores[:6] = 0.5  # ties keep the official order (the later person first)
    areas = boxes[:, 2] * boxes[:, 3]
    keep = oks_nms(groups, coords, scores, areas, SIGMAS, 0.9)
    expected = np.zeros(len(groups), bool)
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        kept = reference_oks_nms(coords[members], scores[members], areas[members], SIGMAS, 0.9)
        expected[members[kept]] = True
    assert 0 < expected.sum() < len(groups)
    np.testing.assert_array_equal(keep, expected)


def test_oks_nms_hand_case() -> None:
    pose = np.array([[10.0, 10.0], [20.0, 30.0], [40.0, 60.0]])
    coords = np.stack([pose, pose + 0.5, pose + 100.0])
    sigmas = np.array([0.1, 0.1, 0.1])
    # OKS of the near copy: exp(-0.5 / (0.2² · 1000 · 2)) ≈ 0.9938 > 0.9: suppressed.
    keep = oks_nms(np.zeros(3), coords, np.array([0.7, 0.9, 0.8]), np.full(3, 1000.0), sigmas, 0.9)
    assert keep.tolist() == [False, True, True]
    # In different images nothing is suppressed.
    assert oks_nms(np.arange(3), coords, np.array([0.7, 0.9, 0.8]), np.full(3, 1000.0), sigmas, 0.9).all()


def test_pose_nms_hand_computed_merge() -> None:
    rng = np.random.default_rng(1)
    pose_a = rng.uniform(0, 100, (14, 2))
    coords = np.stack([pose_a, pose_a + np.array([0.5, 0.0]), pose_a + 300.0, pose_a + 600.0])
    scores = np.stack([np.full(14, 0.9), np.full(14, 0.6), np.full(14, 0.25), np.full(14, 0.5)])
    scores[3, 0] = 0.0  # a zero joint score counts as 1e-5
    boxes = np.array([[0, 0, 100, 200]] * 4, dtype=float)
    # Similarity of B to A: 14·tanh(0.9)·tanh(0.6) + 1.7·14·exp(-0.5/2.65) ≈ 25.1 > 22.48, and all 14
    # joints are within min(0.1·200, 7) px: B joins A's cluster. C's best joint score 0.25 < 0.3:
    # dropped. D stands alone.
    result = pose_nms(np.zeros(4), coords, scores, boxes)
    assert result.picks.tolist() == [0, 3]
    np.testing.assert_allclose(result.coords[0], pose_a + np.array([0.6 * 0.5 / 1.5, 0.0]))
    np.testing.assert_allclose(result.joint_scores[0], np.full(14, (0.81 + 0.36) / 1.5))
    np.testing.assert_allclose(result.coords[1], pose_a + 600.0)
    np.testing.assert_allclose(result.joint_scores[1], [1e-5] + [0.5] * 13)


def reference_pose_nms(coords: np.ndarray, scores: np.ndarray, boxes: np.ndarray, p: PoseNMSParams):
    """RMPE's pose NMS (AlphaPose's constants) for one image, step by step."""
    scores = np.where(scores == 0, 1e-5, scores)
    ref_dists = p.alpha * np.maximum(boxes[:, 2], boxes[:, 3])
    human = scores.mean(axis=1)
    remaining = list(range(len(coords)))
    out = []
    while remaining:
        pick = max(remaining, key=lambda i: (human[i], -i))
        ref = ref_dists[pick]
        cluster = []
        for j in remaining:
            dist = np.linalg.norm(coords[pick] - coords[j], axis=1)
            near = dist <= 1
            score_term = (np.tanh(scores[pick][near] / p.delta1) * np.tanh(scores[j][near] / p.delta1)).sum()
            similarity = score_term + p.mu * np.exp(-dist / p.delta2).sum()
            matches = (dist / min(ref, 7) <= 1).sum()
            if similarity > p.gamma or matches >= p.match_threshold or j == pick:
                cluster.append(j)
        remaining = [j for j in remaining if j not in cluster]
        if scores[pick].max() < p.score_threshold:
            continue
        pose, merged = np.zeros_like(coords[pick]), np.zeros(coords.shape[1])
        for k in range(coords.shape[1]):
            members = [j for j in cluster if np.linalg.norm(coords[pick, k] - coords[j, k]) <= min(ref, 15)]
            w = scores[members, k]
            pose[k] = (w[:, None] * coords[members, k]).sum(0) / w.sum()
            merged[k] = (w * w).sum() / w.sum()
        if merged.max() < p.score_threshold:
            continue
        out.append((pick, pose, merged))
    return sorted(out, key=lambda t: t[0])


def test_pose_nms_equals_reference_on_crowded_images() -> None:
    rng = np.random.default_rng(2)
    for k, images in ((14, 25), (17, 10)):
        groups, coords, scores, boxes = crowded_poses(rng, images, k)
        scores[rng.uniform(size=scores.shape) < 0.05] = 0.0
        result = pose_nms(groups, coords, scores, boxes)
        expected = []
        for g in np.unique(groups):
            members = np.flatnonzero(groups == g)
            reference = reference_pose_nms(coords[members], scores[members], boxes[members], PoseNMSParams())
            expected += [(members[pick], pose, merged) for pick, pose, merged in reference]
        expected.sort(key=lambda t: t[0])
        order = np.argsort(result.picks)
        assert result.picks[order].tolist() == [e[0] for e in expected]
        assert 0 < len(expected) < len(groups)
        np.testing.assert_allclose(result.coords[order], np.array([e[1] for e in expected]), atol=1e-9)
        np.testing.assert_allclose(result.joint_scores[order], np.array([e[2] for e in expected]), atol=1e-12)
