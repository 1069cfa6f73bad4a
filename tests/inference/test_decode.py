"""Decoders, flip test and OccNet's rule against the official rules written out per joint."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import convolve1d

from occbench.inference.decode import (
    argmax_decode,
    dark_decode,
    dark_kernel_size,
    flip_back,
    merge_flip,
    occnet_select,
    opencv_gaussian_kernel,
)
from occbench.skeletons import CROWDPOSE14


def gaussian_map(h: int, w: int, x: float, y: float, sigma: float = 2.0) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    return np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))


def official_argmax(hm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """get_max_preds + the quarter offset of get_final_preds, one joint at a time."""
    n, k, h, w = hm.shape
    coords, maxvals = np.zeros((n, k, 2)), np.zeros((n, k))
    for i in range(n):
        for j in range(k):
            flat = hm[i, j].reshape(-1)
            idx = int(np.argmax(flat))
            maxvals[i, j] = flat[idx]
            x, y = float(idx % w), float(np.floor(idx / w))
            if flat[idx] <= 0:
                x = y = 0.0
            px, py = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
            if 1 < px < w - 1 and 1 < py < h - 1:
                m = hm[i, j]
                x += np.sign(m[py, px + 1] - m[py, px - 1]) * 0.25
                y += np.sign(m[py + 1, px] - m[py - 1, px]) * 0.25
            coords[i, j] = x, y
    return coords, maxvals


def official_dark(hm: np.ndarray, kernel: int = 11) -> np.ndarray:
    """DarkPose: zero-bordered cv2.GaussianBlur (reflect-101 beyond), rescale, log, Taylor step."""
    coords, _ = official_argmax_plain(hm)
    n, k, h, w = hm.shape
    border = (kernel - 1) // 2
    g = opencv_gaussian_kernel(kernel).numpy()
    out = coords.copy()
    for i in range(n):
        for j in range(k):
            padded = np.zeros((h + 2 * border, w + 2 * border))
            padded[border:-border, border:-border] = hm[i, j]
            blurred = convolve1d(convolve1d(padded, g, axis=0, mode="mirror"), g, axis=1, mode="mirror")
            blurred = blurred[border:-border, border:-border]
            if blurred.max() > 0:  # the official code divides 0 by 0 here; coordinates stay 0 anyway
                blurred *= hm[i, j].max() / blurred.max()
            lm = np.log(np.maximum(blurred, 1e-10))
            px, py = int(coords[i, j, 0]), int(coords[i, j, 1])
            if 1 < px < w - 2 and 1 < py < h - 2:
                dx = 0.5 * (lm[py, px + 1] - lm[py, px - 1])
                dy = 0.5 * (lm[py + 1, px] - lm[py - 1, px])
                dxx = 0.25 * (lm[py, px + 2] - 2 * lm[py, px] + lm[py, px - 2])
                dxy = 0.25 * (lm[py + 1, px + 1] - lm[py - 1, px + 1] - lm[py + 1, px - 1] + lm[py - 1, px - 1])
                dyy = 0.25 * (lm[py + 2, px] - 2 * lm[py, px] + lm[py - 2, px])
                if dxx * dyy - dxy**2 != 0:
                    hessian = np.array([[dxx, dxy], [dxy, dyy]])
                    out[i, j] -= np.linalg.inv(hessian) @ np.array([dx, dy])
    return out


def official_argmax_plain(hm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, k, _, w = hm.shape
    flat = hm.reshape(n, k, -1)
    idx = flat.argmax(axis=2)
    maxvals = flat.max(axis=2)
    coords = np.stack([idx % w, idx // w], axis=2).astype(np.float64)
    coords[maxvals <= 0] = 0
    return coords, maxvals


def test_argmax_decode_equals_official_rule_on_random_maps() -> None:
    rng = np.random.default_rng(0)
    hm = rng.normal(0, 1, (6, 14, 64, 48))
    hm[0, 0] = -np.abs(hm[0, 0])  # max <= 0: coordinates 0
    hm[1, 1] = 0.0
    hm[1, 1, 0, 5] = 1.0  # peak on the border: no offset
    hm[2, 2, 1, 1] = 9.0  # px = 1: no offset (1 < px is strict)
    hm[2, 3, 30, 46] = 9.0  # px = w - 2: offset applies
    ours, scores = argmax_decode(torch.from_numpy(hm))
    ref, ref_scores = official_argmax(hm)
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-6)
    np.testing.assert_allclose(scores.numpy(), ref_scores, rtol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_decoders_recover_a_subpixel_gaussian_peak(dtype: torch.dtype) -> None:
    rng = np.random.default_rng(1)
    truth = np.column_stack([rng.uniform(8, 40, 40), rng.uniform(8, 56, 40)])
    hm = np.stack([gaussian_map(64, 48, x, y) for x, y in truth])[None]
    maps = torch.from_numpy(hm).to(dtype)
    argmax, _ = argmax_decode(maps)
    dark, _ = dark_decode(maps)
    err_argmax = np.linalg.norm(argmax[0].numpy() - truth, axis=1)
    err_dark = np.linalg.norm(dark[0].numpy() - truth, axis=1)
    # Quarter offset: equal to the official rule, and (without rounding of the maps) at most a
    # quarter pixel off per axis.
    np.testing.assert_allclose(argmax[0].numpy(), official_argmax(maps.float().numpy())[0][0], atol=1e-6)
    assert err_dark.mean() < 0.5 * err_argmax.mean()
    if dtype == torch.float32:
        assert np.abs(argmax[0].numpy() - truth).max() <= 0.25 + 1e-6
        assert err_dark.max() < 0.05


def test_dark_equals_official_procedure() -> None:
    rng = np.random.default_rng(2)
    hm = np.stack([gaussian_map(64, 48, x, y, 2.0) for x, y in rng.uniform(0, 60, (10, 2))])
    hm = (hm + rng.uniform(0, 0.05, hm.shape))[None]
    hm[0, 0] = 0.0  # an empty map keeps coordinates 0
    ref = official_dark(hm)
    ours64, _ = dark_decode(torch.from_numpy(hm))
    np.testing.assert_allclose(ours64.numpy(), ref, atol=1e-8)
    ours32, _ = dark_decode(torch.from_numpy(hm).float())
    np.testing.assert_allclose(ours32.numpy(), ref, atol=1e-3)


def test_flip_back_matches_official_rule() -> None:
    rng = np.random.default_rng(3)
    perm = CROWDPOSE14.flip_permutation
    flipped_out = rng.normal(size=(2, 14, 8, 6))
    ours = flip_back(torch.from_numpy(flipped_out), torch.from_numpy(perm)).numpy()
    ref = flipped_out[:, :, :, ::-1].copy()
    for a, b in CROWDPOSE14.flip_pairs:
        ref[:, [a, b]] = ref[:, [b, a]]
    ref[:, :, :, 1:] = ref.copy()[:, :, :, :-1]
    np.testing.assert_array_equal(ours, ref)


def test_flip_test_on_a_symmetric_input_gives_a_symmetric_output() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 1, 1), torch.nn.ReLU(), torch.nn.Conv2d(8, 14, 3, 1, 1))
    x = torch.randn(2, 3, 16, 12)
    x = x + x.flip(3)  # mirror-symmetric crops
    perm = torch.from_numpy(CROWDPOSE14.flip_permutation)
    with torch.no_grad():
        out = net(torch.cat([x, x.flip(3)]))
    merged = merge_flip(out[:2], out[2:], perm, shift=False)
    # Mirror the merged maps and swap left/right: the same maps again.
    torch.testing.assert_close(merged.flip(3)[:, perm], merged)
    coords, _ = argmax_decode(merged)
    left, right = np.array(CROWDPOSE14.flip_pairs).T
    mirrored = coords[:, right].clone()
    mirrored[..., 0] = 11 - mirrored[..., 0]
    peaks_unique = (merged.flatten(2) == merged.flatten(2).amax(2, keepdim=True)).sum(2) == 1
    # The official offset window (1 < px < w - 1) is itself asymmetric: compare inside 2..w-3.
    interior = (coords[..., 0] >= 2) & (coords[..., 0] <= 9) & (coords[..., 1] >= 2) & (coords[..., 1] <= 13)
    ok = peaks_unique[:, left] & peaks_unique[:, right] & interior[:, left] & interior[:, right]
    assert ok.sum() >= 4
    torch.testing.assert_close(coords[:, left][ok], mirrored[ok])
    # Equivariance of the whole flip test: flipping the input flips and swaps the output.
    y = torch.randn(2, 3, 16, 12)
    with torch.no_grad():
        a = merge_flip(net(y), net(y.flip(3)), perm, shift=False)
        b = merge_flip(net(y.flip(3)), net(y), perm, shift=False)
    torch.testing.assert_close(b, a.flip(3)[:, perm])


def test_occnet_rule_on_hand_built_maps() -> None:
    vis = torch.zeros(1, 3, 10, 10)
    occ = torch.zeros(1, 3, 10, 10)
    # Joint 0: a visible peak of 1.0 at (x=3, y=4); an occluded peak of 0.6 at (7, 7) where vis is 0.
    vis[0, 0, 4, 3], occ[0, 0, 7, 7] = 1.0, 0.6
    # Joint 1: vis is negative where occ peaks (0.8 at (5, 2)); combined peaks at 0.5 elsewhere.
    vis[0, 1, 2, 5], occ[0, 1, 2, 5] = -0.5, 0.8
    vis[0, 1, 8, 1] = 0.5
    # Joint 2: the occ peak equals the combined peak: a tie goes to the combined map.
    vis[0, 2, 5, 5], occ[0, 2, 5, 5] = 0.0, 0.7
    chosen, flags = occnet_select(vis, occ)
    assert flags.tolist() == [[0, 1, 0]]
    coords, scores = argmax_decode(chosen)
    np.testing.assert_allclose(coords[0].numpy(), [[3, 4], [5, 2], [5, 5]])
    np.testing.assert_allclose(scores[0].numpy(), [1.0, 0.8, 0.7])


def test_dark_kernel_follows_the_official_configs() -> None:
    assert [dark_kernel_size(h) for h in (64, 96, 32, 16)] == [11, 17, 5, 3]
