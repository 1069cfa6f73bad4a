"""crowdIndex by the CrowdPose formula on hand-computed frames, and band parsing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from occbench.bands import CROWD_INDEX_BANDS, OCCLUSION_BANDS, assign_band, format_bands, parse_bands, sweep_bands
from occbench.datasets import crowding
from occbench.datasets.crowding import crowd_index


def test_hand_computed_frame() -> None:
    # Image 1: A's box [0,10]^2 holds one of B's two labelled joints; B's box [5,20]^2 holds
    # one of A's two joints; C is a crowd region and must not count. CI = (1/2 + 1/2) / 2.
    # Image 2: one person -> 0. Image 3: no person -> 0.
    boxes = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [0, 0, 30, 30], [0, 0, 1, 1]], float)
    kp = np.array([[[1, 1], [7, 7]], [[6, 6], [30, 30]], [[2, 2], [3, 3]], [[0, 0], [0, 0]]], float)
    labelled = np.array([[1, 1], [1, 1], [1, 1], [1, 0]], bool)
    counted = np.array([True, True, False, True])
    ci = crowd_index(np.array([3, 1, 2]), np.array([1, 1, 1, 2]), boxes, kp, labelled, counted)
    np.testing.assert_allclose(ci, [0.0, 0.5, 0.0])


def test_inclusive_box_edges_and_unlabelled_joints() -> None:
    boxes = np.array([[0, 0, 10, 10], [20, 20, 5, 5]], float)
    kp = np.array([[[20, 20], [25, 25], [22, 22]], [[10, 10], [0, 0], [5, 5]]], float)
    labelled = np.array([[1, 1, 1], [1, 1, 0]], bool)
    # A holds B's (10,10) and (0,0) on its edges (2 of A's N_a=3); (5,5) is unlabelled.
    # B holds A's (20,20), (25,25), (22,22): 3 / N_a(B)=2.
    ci = crowd_index(np.array([7]), np.array([7, 7]), boxes, kp, labelled)
    np.testing.assert_allclose(ci, [(2 / 3 + 3 / 2) / 2])


def test_chunking_gives_the_same_answer(monkeypatch) -> None:
    rng = np.random.default_rng(1)
    n, k = 300, 14
    img = rng.integers(0, 20, n)
    boxes = np.column_stack([rng.uniform(0, 500, (n, 2)), rng.uniform(10, 200, (n, 2))])
    kp = rng.uniform(0, 700, (n, k, 2))
    lab = rng.uniform(size=(n, k)) > 0.3
    full = crowd_index(np.arange(20), img, boxes, kp, lab)
    monkeypatch.setattr(crowding, "MAX_PAIRS_PER_CHUNK", 17)
    np.testing.assert_allclose(crowd_index(np.arange(20), img, boxes, kp, lab), full, rtol=0, atol=1e-12)


def test_band_parsing_and_assignment() -> None:
    assert format_bands(OCCLUSION_BANDS) == "none:[0,0.1],partial:(0.1,0.5],heavy:(0.5,1]"
    assert parse_bands(format_bands(CROWD_INDEX_BANDS)) == CROWD_INDEX_BANDS
    idx = assign_band(np.array([0.0, 0.1, 0.1000001, 0.5, 0.9, 1.0, np.nan, 1.2]), OCCLUSION_BANDS)
    np.testing.assert_array_equal(idx, [0, 0, 1, 1, 2, 2, -1, -1])
    idx = assign_band(np.array([0.0, 0.2, 0.79, 0.8, 3.02]), CROWD_INDEX_BANDS)
    np.testing.assert_array_equal(idx, [0, 1, 1, 2, 2])
    with pytest.raises(ValueError, match="cannot parse"):
        parse_bands("heavy:0.5-1")
    with pytest.raises(ValueError, match="above"):
        parse_bands("x:[1,0]")
    sweep = sweep_bands(0, 1, 0.25)
    assert [b.name for b in sweep] == ["0-0.25", "0.25-0.5", "0.5-0.75", "0.75-1"] and sweep[-1].high_closed
    assert math.isinf(parse_bands("hard:[0.8,inf]")[0].high)


def brute_force_crowd_index(image_ids, inst_img, boxes, kp, labelled, counted=None) -> np.ndarray:
    """The definition, person pair by person pair (the module docstring's reading)."""
    counted = np.ones(len(inst_img), bool) if counted is None else counted
    out = []
    for image in image_ids:
        people = [p for p in range(len(inst_img)) if inst_img[p] == image and counted[p] and labelled[p].any()]
        ratios = []
        for i in people:
            x, y, w, h = boxes[i]
            inside = 0
            for j in people:
                if j == i:
                    continue
                for (px, py), lab in zip(kp[j], labelled[j], strict=True):
                    inside += bool(lab and x <= px <= x + w and y <= py <= y + h)
            ratios.append(inside / labelled[i].sum())
        out.append(sum(ratios) / len(ratios) if ratios else 0.0)
    return np.asarray(out)


@pytest.mark.parametrize("path", ["sparse", "dense", "auto"])
def test_equals_the_definition_pair_by_pair(monkeypatch, path) -> None:
    rng = np.random.default_rng(7)
    n, k = 260, 14
    img = rng.integers(0, 25, n)  # irregular numbers of people per image, some images empty
    spread = rng.choice([40.0, 400.0], n)[:, None, None]  # compact people and sprawling ones
    kp = rng.uniform(0, 1, (n, k, 2)) * spread + rng.uniform(0, 600, (n, 1, 2))
    kp = np.round(kp)  # integer coordinates: joints land exactly on box edges
    lab = rng.uniform(size=(n, k)) > 0.3
    lab[::17] = False  # people without a labelled joint take no part
    boxes = np.column_stack([np.round(rng.uniform(0, 600, (n, 2))), np.round(rng.uniform(0, 300, (n, 2)))])
    counted = rng.uniform(size=n) > 0.1
    threshold = {"sparse": 2.0, "dense": -1.0, "auto": crowding.DENSE_PAIRS}[path]
    monkeypatch.setattr(crowding, "DENSE_PAIRS", threshold)
    ids = np.arange(27)
    expected = brute_force_crowd_index(ids, img, boxes, kp, lab, counted)
    got = crowd_index(ids, img, boxes, kp, lab, counted)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert (expected > 0).sum() > 10  # the case is not trivially empty
