"""Joint schemas and mappings: the facts of SOURCES.md, and visibility carried through."""

from __future__ import annotations

import numpy as np
import pytest

from occbench.skeletons import (
    COCO17,
    CROWDPOSE14,
    JTA22,
    SCHEMAS,
    Visibility,
    get_mapping,
)


def test_crowdpose_schema_facts() -> None:
    assert CROWDPOSE14.joint_names[12:] == ("head", "neck")
    np.testing.assert_array_equal(
        CROWDPOSE14.sigmas_array,
        np.array([0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89, 0.79, 0.79]) / 10.0,
    )
    assert CROWDPOSE14.flip_pairs == ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11))
    perm = CROWDPOSE14.flip_permutation
    assert perm[12] == 12 and perm[13] == 13 and perm[0] == 1


def test_coco_sigmas_bit_identical_to_pycocotools() -> None:
    from pycocotools.cocoeval import Params

    np.testing.assert_array_equal(COCO17.sigmas_array, Params(iouType="keypoints").kpt_oks_sigmas)


@pytest.mark.parametrize("schema", list(SCHEMAS.values()), ids=lambda s: s.name)
def test_skeleton_is_valid_and_connected(schema) -> None:
    schema.check()
    k = schema.num_joints
    # Every joint is reachable from joint 0 through the skeleton (a valid drawing skeleton).
    adjacency = {j: set() for j in range(k)}
    for a, b in schema.skeleton:
        adjacency[a].add(b)
        adjacency[b].add(a)
    seen, stack = {0}, [0]
    while stack:
        for nxt in adjacency[stack.pop()] - seen:
            seen.add(nxt)
            stack.append(nxt)
    assert seen == set(range(k))
    # Left/right pairs really are left/right by name.
    for a, b in schema.flip_pairs:
        left, right = schema.joint_names[a], schema.joint_names[b]
        assert {left.split("_")[0], right.split("_")[0]} == {"left", "right"}
        assert left.split("_", 1)[1] == right.split("_", 1)[1]


def test_jta_to_crowdpose_is_the_occnet_table() -> None:
    mapping = get_mapping("jta22", "crowdpose14")
    expected = {0: 8, 1: 4, 2: 9, 3: 5, 4: 10, 5: 6, 6: 19, 7: 16, 8: 20, 9: 17, 10: 21, 11: 18, 12: 0, 13: 2}
    assert dict(enumerate(mapping.source_index)) == expected
    for target, source in expected.items():
        t, s = CROWDPOSE14.joint_names[target], JTA22.joint_names[source]
        if target < 12:
            assert t == s
    assert mapping.missing_joints == ()


def test_coco_crowdpose_share_twelve_limbs_and_report_missing() -> None:
    to_cp = get_mapping("coco17", "crowdpose14")
    assert to_cp.missing_joints == ("head", "neck")
    to_coco = get_mapping("crowdpose14", "coco17")
    assert to_coco.missing_joints == ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
    assert sum(i >= 0 for i in to_coco.source_index) == 12


def test_mapping_carries_visibility_through() -> None:
    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 100, size=(3, 22, 2))
    vis = rng.integers(0, len(Visibility), size=(3, 22)).astype(np.int8)
    out_kp, out_vis = get_mapping("jta22", "coco17").apply(kp, vis)
    assert out_kp.shape == (3, 17, 2) and out_vis.dtype == np.int8
    assert (out_vis[:, :5] == Visibility.UNLABELED).all() and (out_kp[:, :5] == 0).all()
    # coco left_wrist (9) <- jta left_wrist (10)
    np.testing.assert_array_equal(out_kp[:, 9], kp[:, 10])
    np.testing.assert_array_equal(out_vis[:, 9], vis[:, 10])
