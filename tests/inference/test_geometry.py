"""Geometry: the official affine convention, crops against an explicit formula, round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from occbench.inference.geometry import (
    affine_grid,
    affine_matrices,
    apply_affine,
    box_to_center_scale,
    clean_gt_boxes,
    crop_images,
    heatmap_to_image,
    sampling_grids,
)


def official_affine(center, scale, rot, output_size, shift=(0.0, 0.0), inv=False) -> np.ndarray:
    """The official get_affine_transform: three point pairs, solved exactly (cv2.getAffineTransform)."""
    scale200 = np.asarray(scale, float) * 200.0
    src_w = scale200[0]
    dst_w, dst_h = output_size
    rad = np.pi * rot / 180
    sn, cs = np.sin(rad), np.cos(rad)
    point = np.array([0.0, src_w * -0.5])
    src_dir = np.array([point[0] * cs - point[1] * sn, point[0] * sn + point[1] * cs])
    dst_dir = np.array([0.0, dst_w * -0.5])

    def third(a, b):
        d = a - b
        return b + np.array([-d[1], d[0]])

    src0 = np.asarray(center, float) + scale200 * np.asarray(shift)
    src1 = src0 + src_dir
    dst0 = np.array([dst_w * 0.5, dst_h * 0.5])
    dst1 = dst0 + dst_dir
    src = np.stack([src0, src1, third(src0, src1)])
    dst = np.stack([dst0, dst1, third(dst0, dst1)])
    if inv:
        src, dst = dst, src
    return np.linalg.solve(np.c_[src, np.ones(3)], dst).T


def test_box_to_center_scale_hand_computed() -> None:
    center, scale = box_to_center_scale(np.array([[10, 20, 30, 80], [0, 0, 120, 40]]), 192 / 256)
    # Tall box: width grows to 80 * 0.75 = 60. Wide box: height grows to 120 / 0.75 = 160.
    np.testing.assert_allclose(center, [[25, 60], [60, 20]])
    np.testing.assert_allclose(scale, [[60 / 200 * 1.25, 80 / 200 * 1.25], [120 / 200 * 1.25, 160 / 200 * 1.25]])


def test_clean_gt_boxes_inclusive_convention() -> None:
    boxes, valid = clean_gt_boxes(np.array([[-5, 10, 100, 50], [90, 5, 10, 10]]), np.array([80, 80]), [100, 100])
    np.testing.assert_allclose(boxes[0], [0, 10, 79, 49])
    assert valid.tolist() == [True, False]  # the second box starts right of the last column


@pytest.mark.parametrize("inverse", [False, True])
def test_affine_matrices_equal_official_construction(inverse: bool) -> None:
    rng = np.random.default_rng(0)
    n = 20
    center = rng.uniform(0, 600, (n, 2))
    scale = rng.uniform(0.2, 3, (n, 2))
    rot = rng.uniform(-80, 80, n)
    shift = (0.1, -0.05)
    ours = affine_matrices(center, scale, (48, 64), rot, shift=shift, inverse=inverse)
    for i in range(n):
        ref = official_affine(center[i], scale[i], rot[i], (48, 64), shift, inv=inverse)
        np.testing.assert_allclose(ours[i], ref, rtol=1e-9, atol=1e-9)


def bilinear_reference(image: np.ndarray, crop_to_image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """cv2.warpAffine(INTER_LINEAR, BORDER_CONSTANT 0) written out: dst(u, v) = src(A⁻¹(u, v))."""
    channels, height, width = image.shape
    w, h = size
    v, u = np.mgrid[0:h, 0:w].astype(float)
    x = crop_to_image[0, 0] * u + crop_to_image[0, 1] * v + crop_to_image[0, 2]
    y = crop_to_image[1, 0] * u + crop_to_image[1, 1] * v + crop_to_image[1, 2]
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    out = np.zeros((channels, h, w))
    for dx, dy, wgt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = x0 + dx, y0 + dy
        inside = (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
        tap = image[:, np.clip(yi, 0, height - 1), np.clip(xi, 0, width - 1)]
        out += np.where(inside, tap, 0.0) * wgt
    return out


def test_crop_equals_explicit_bilinear_warp() -> None:
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 255, (3, 50, 70))
    # Boxes inside, across the border and rotated (training): all persons in one call.
    center = np.array([[35.0, 25.0], [5.0, 45.0], [60.3, 10.7]])
    scale = np.array([[0.2, 0.25], [0.15, 0.2], [0.1, 0.12]])
    crop = (24, 32)
    rotation = np.array([0.0, 0.0, 30.0])
    matrices = affine_matrices(center, scale, crop, rotation=rotation)
    thetas = torch.from_numpy(sampling_grids(matrices, (70, 50), crop))
    ours = crop_images(torch.from_numpy(image), thetas, crop).numpy()
    for i in range(3):
        inverse = affine_matrices(center[i : i + 1], scale[i : i + 1], crop, rotation[i : i + 1], inverse=True)
        np.testing.assert_allclose(ours[i], bilinear_reference(image, inverse[0], crop), atol=1e-6)


def test_crop_samples_a_linear_image_exactly_where_the_formula_says() -> None:
    height, width = 120, 160
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    image = torch.from_numpy(np.stack([2 * xs + 3 * ys + 1, xs - ys + 500, 0.5 * xs]))
    center, scale = np.array([[80.2, 61.7]]), np.array([[0.3, 0.4]])
    crop = (48, 64)
    matrices = affine_matrices(center, scale, crop)
    out = crop_images(image, torch.from_numpy(sampling_grids(matrices, (width, height), crop)), crop)[0].numpy()
    v, u = np.mgrid[0:64, 0:48].astype(float)
    src = apply_affine(np.stack([u.ravel(), v.ravel()], 1)[None], affine_matrices(center, scale, crop, inverse=True))[0]
    x, y = src[:, 0].reshape(64, 48), src[:, 1].reshape(64, 48)
    np.testing.assert_allclose(out[0], 2 * x + 3 * y + 1, atol=1e-6)
    np.testing.assert_allclose(out[1], x - y + 500, atol=1e-6)
    np.testing.assert_allclose(out[2], 0.5 * x, atol=1e-6)


def test_crop_uncrop_round_trip_within_half_a_pixel() -> None:
    """Blobs drawn in the image are found in the crops and mapped back through the inverse affine."""
    rng = np.random.default_rng(2)
    height, width = 240, 320
    points = np.column_stack([rng.uniform(60, 260, 12), rng.uniform(50, 190, 12)])
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.zeros((1, height, width))
    for px, py in points:
        image[0] += np.exp(-((xs - px) ** 2 + (ys - py) ** 2) / (2 * 1.5**2))
    boxes = np.column_stack([points - [40, 60], np.full(12, 80), np.full(12, 120)]) + rng.uniform(-10, 10, (12, 4))
    center, scale = box_to_center_scale(boxes, 192 / 256)
    crop = (192, 256)
    matrices = affine_matrices(center, scale, crop)
    crops = crop_images(
        torch.from_numpy(image), torch.from_numpy(sampling_grids(matrices, (width, height), crop)), crop
    ).numpy()[:, 0]
    # Sub-pixel blob position in each crop (centroid of the peak's neighbourhood).
    found = []
    for i, c in enumerate(crops):
        at = apply_affine(points[i : i + 1][None], matrices[i : i + 1])[0, 0]
        x0, y0 = np.round(at).astype(int)
        patch = c[y0 - 4 : y0 + 5, x0 - 4 : x0 + 5]
        pv, pu = np.mgrid[y0 - 4 : y0 + 5, x0 - 4 : x0 + 5]
        found.append([(patch * pu).sum() / patch.sum(), (patch * pv).sum() / patch.sum()])
    back = apply_affine(np.array(found)[:, None], affine_matrices(center, scale, crop, inverse=True))[:, 0]
    assert np.abs(back - points).max() < 0.5


def test_heatmap_round_trip_is_exact() -> None:
    rng = np.random.default_rng(3)
    center, scale = rng.uniform(0, 500, (5, 2)), rng.uniform(0.3, 2, (5, 2))
    joints = rng.uniform(0, 500, (5, 14, 2))
    in_heatmap = apply_affine(joints, affine_matrices(center, scale, (48, 64)))
    np.testing.assert_allclose(heatmap_to_image(in_heatmap, center, scale, (48, 64)), joints, atol=1e-9)
    # The box centre lands on the heatmap centre (w/2, h/2), a heatmap pixel spans scale*200/w pixels.
    np.testing.assert_allclose(
        heatmap_to_image(np.array([[[24.0, 32.0], [25.0, 32.0]]]), center[:1], scale[:1], (48, 64))[0],
        [center[0], center[0] + [scale[0, 0] * 200 / 48, 0]],
    )


def test_separable_affine_grid_equals_torch() -> None:
    thetas = torch.from_numpy(np.random.default_rng(4).normal(size=(3, 2, 3)))
    expected = torch.nn.functional.affine_grid(thetas, [3, 1, 7, 5], align_corners=False)
    torch.testing.assert_close(affine_grid(thetas, 7, 5), expected, rtol=0, atol=1e-12)
