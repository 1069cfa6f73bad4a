"""Heatmap targets, target weights and losses on hand-built cases with known answers."""

from __future__ import annotations

import math

import pytest
import torch

from occbench.skeletons import Visibility
from occbench.training.losses import OccNetLossConfig, multi_stage_mse, occnet_loss, ohkm_mse, weighted_mse
from occbench.training.targets import cpn_sigmas, gaussian_heatmaps, joint_weights, visibility_split

V = Visibility


def test_official_target_peaks_at_rounded_pixel_and_is_windowed() -> None:
    joints = torch.tensor([[[10.4, 20.6], [3.5, 3.49]]])
    targets, weights = gaussian_heatmaps(joints, torch.ones(1, 2), (64, 48), sigma=2.0)
    assert targets.shape == (1, 2, 64, 48) and weights.tolist() == [[1.0, 1.0]]
    peak = divmod(int(targets[0, 0].argmax()), 48)
    assert peak == (21, 10) and targets[0, 0, 21, 10] == 1.0
    assert targets[0, 1, 3, 4] == 1.0  # floor(3.5 + 0.5) = 4, floor(3.49 + 0.5) = 3
    # Value at distance (dx, dy) = (1, 2): exp(-(1 + 4) / 8); zero beyond 3 sigma.
    assert math.isclose(float(targets[0, 0, 23, 11]), math.exp(-5 / 8), rel_tol=1e-6)
    assert targets[0, 0, 21, 17] == 0.0 and targets[0, 0, 21, 16] > 0


def test_unbiased_target_centroid_is_the_float_position() -> None:
    joints = torch.tensor([[[20.3, 30.7]]])
    targets, _ = gaussian_heatmaps(joints, torch.ones(1, 1), (64, 48), sigma=2.0, encoding="unbiased")
    t = targets[0, 0]
    ys, xs = torch.meshgrid(torch.arange(64.0), torch.arange(48.0), indexing="ij")
    cx, cy = float((t * xs).sum() / t.sum()), float((t * ys).sum() / t.sum())
    assert abs(cx - 20.3) < 1e-4 and abs(cy - 30.7) < 1e-4


def test_weights_from_classes_and_off_map_joints() -> None:
    vis = torch.tensor([[V.VISIBLE, V.OCCLUDED, V.SELF_OCCLUDED, V.TRUNCATED, V.UNLABELED, V.LABELED_UNKNOWN]])
    assert joint_weights(vis).tolist() == [[1, 1, 1, 0, 0, 1]]
    joints = torch.tensor([[[-7.0, 5.0], [-6.0, 5.0], [54.0, 5.0], [10.0, float("nan")]]])
    _, weights = gaussian_heatmaps(joints, torch.ones(1, 4), (64, 48), sigma=2.0)
    # -7 + 6 + 1 = 0: the 3-sigma window no longer touches the map; -6 still does.
    assert weights.tolist() == [[0.0, 1.0, 0.0, 0.0]]


def test_cpn_sigmas_follow_opencv_rule() -> None:
    # k=15: 0.3 * (7 - 1) + 0.8 = 2.6; k=7: 0.3 * (3 - 1) + 0.8 = 1.4
    assert [round(s, 3) for s in cpn_sigmas()] == [2.6, 2.0, 1.7, 1.4]


def test_occnet_masks_route_each_joint_to_its_branch() -> None:
    # Joints: visible, occluded, self-occluded (counts as visible), labelled-unknown (occluded branch).
    vis = torch.tensor([[V.VISIBLE, V.OCCLUDED, V.SELF_OCCLUDED, V.LABELED_UNKNOWN]])
    visible_mask, occluded_mask = visibility_split(vis)
    assert visible_mask.tolist() == [[1, 0, 1, 0]] and occluded_mask.tolist() == [[0, 1, 0, 1]]
    target = torch.rand(1, 4, 8, 6)
    hv = torch.zeros(1, 4, 8, 6, requires_grad=True)
    ho = torch.zeros(1, 4, 8, 6, requires_grad=True)
    total, parts = occnet_loss(
        hv, ho, target, torch.ones(1, 4), visible_mask, occluded_mask, OccNetLossConfig("soft", 1.5)
    )
    total.backward()
    touched_vis = (hv.grad.abs().sum(dim=(-2, -1)) > 0)[0].tolist()
    touched_occ = (ho.grad.abs().sum(dim=(-2, -1)) > 0)[0].tolist()
    assert touched_vis == [True, False, True, False] and touched_occ == [False, True, False, True]
    expected_vis = 0.5 * (target[0, [0, 2]] ** 2).sum() / target.numel()
    assert torch.isclose(parts["loss_vis"], expected_vis)
    assert torch.isclose(total, parts["loss_vis"] + 1.5 * parts["loss_occ"])


def test_occnet_hard_variant_zeroes_the_wrong_branch() -> None:
    vis = torch.tensor([[V.VISIBLE, V.OCCLUDED]])
    visible_mask, occluded_mask = visibility_split(vis)
    target = torch.ones(1, 2, 4, 4)
    perfect_vis = target * visible_mask[..., None, None]
    perfect_occ = target * occluded_mask[..., None, None]
    total, _ = occnet_loss(
        perfect_vis, perfect_occ, target, torch.ones(1, 2), visible_mask, occluded_mask, OccNetLossConfig("hard")
    )
    assert total == 0
    # The same maps under "soft" are wrong only where a branch should fire: none here.
    wrong = torch.ones(1, 2, 4, 4)  # the visible branch firing on the occluded joint
    total, parts = occnet_loss(
        wrong, perfect_occ, target, torch.ones(1, 2), visible_mask, occluded_mask, OccNetLossConfig("hard")
    )
    assert parts["loss_vis"] == pytest.approx(0.5 * 16 / 32)


def test_ohkm_picks_the_hardest_joints_and_multistage_sums() -> None:
    target = torch.zeros(2, 4, 2, 2)
    pred = torch.zeros(2, 4, 2, 2)
    pred[0, 0] = 1.0  # sample 0: one bad joint
    pred[1, 1:] = 2.0  # sample 1: three bad joints
    losses = ohkm_mse(pred, target, torch.ones(2, 4), top_k=1)
    assert losses == pytest.approx((0.5 * 1.0 + 0.5 * 4.0) / 2)
    assert multi_stage_mse([pred, pred], target, torch.ones(2, 4)) == pytest.approx(
        2 * float(weighted_mse(pred, target, torch.ones(2, 4)))
    )
