"""Linking on hand-built sequences with known track ids, determinism, filters and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from occbench.errors import OccbenchError
from occbench.tracking.frames import build_frame_index
from occbench.tracking.link import DETECT_AND_TRACK, UNFILTERED, LinkConfig, link, pair_iou
from tests.tracking.helpers import by_frame, detections, image_id, scene, walk


def tracks_by_frame(preds, n_frames: int, sequence: int = 1) -> list[list[tuple[float, int]]]:
    """Per frame, (x of the left shoulder, track id) sorted by x."""
    out = []
    for f in range(n_frames):
        sel = preds.image_id == image_id(sequence, f)
        out.append(sorted(zip(preds.keypoints[sel, 0, 0].round(3).tolist(), preds.track_id[sel].tolist(), strict=True)))
    return out


def run_link(frames, config=UNFILTERED, score=0.99, **kw):
    data = scene(frames, **kw)
    preds = detections(frames, score=score, track_ids=False)
    return link(preds, build_frame_index(data.images), config), data


def test_pair_iou_known_values() -> None:
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], float)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]], float)
    np.testing.assert_allclose(pair_iou(a, b), [50 / 150, 0.0, 1.0])


def test_people_walking_apart_keep_their_tracks() -> None:
    frames = by_frame(walk(7, 100, 5, 6), walk(8, 400, -5, 6))
    result, _ = run_link(frames)
    got = tracks_by_frame(result.predictions, 6)
    assert all([t for _, t in frame] == [0, 1] for frame in got)
    assert result.num_tracks == 2


def test_crossing_swap_follows_the_score_order() -> None:
    # A walks right, B walks left; they coincide at frame 3. From frame 2 to 3 and 3 to 4
    # every IoU is equal (0.2 and 0.2), so the assignment is the identity of the canonical
    # order (score descending). A scores higher until frame 3, B from frame 4: the tracks swap.
    xs_a = [100, 140, 180, 220, 260, 300, 340]
    xs_b = [340, 300, 260, 220, 180, 140, 100]
    frames = [[(0, a, 200), (1, b, 200)] for a, b in zip(xs_a, xs_b, strict=True)]
    scores = [[0.99, 0.97]] * 4 + [[0.97, 0.99]] * 3
    result, _ = run_link(frames, score=scores)
    got = tracks_by_frame(result.predictions, 7)
    # (x, track): before the swap the left person (A until frame 3) is track 0.
    assert got[2] == [(160.0, 0), (240.0, 1)]
    assert got[3] == [(200.0, 0), (200.0, 1)]
    # Frame 4: B (x=180 -> shoulder 160) scores higher, comes first, and inherits track 0.
    assert got[4] == [(160.0, 0), (240.0, 1)]
    assert result.num_tracks == 2


def test_leaving_and_reentering_starts_a_new_track() -> None:
    a = walk(0, 100, 5, 6)
    a[2] = a[3] = None
    frames = by_frame(a, walk(1, 400, 0, 6))
    result, _ = run_link(frames)
    got = tracks_by_frame(result.predictions, 6)
    assert [t for _, t in got[0]] == [0, 1] and [t for _, t in got[1]] == [0, 1]
    assert [t for _, t in got[2]] == [1] and [t for _, t in got[3]] == [1]
    assert [t for _, t in got[4]] == [2, 1] and [t for _, t in got[5]] == [2, 1]


def test_empty_frame_ends_every_track() -> None:
    frames = by_frame(walk(0, 100, 1, 5), walk(1, 400, 1, 5))
    frames[2] = []
    result, _ = run_link(frames)
    got = tracks_by_frame(result.predictions, 5)
    assert [t for _, t in got[1]] == [0, 1]
    assert [t for _, t in got[3]] == [2, 3]
    assert [t for _, t in got[4]] == [2, 3]


def test_deterministic_under_row_shuffles() -> None:
    rng = np.random.default_rng(0)
    paths = [walk(i, 50 + 60 * i, rng.uniform(-3, 3), 12, y=150 + 10 * i) for i in range(8)]
    frames = by_frame(*paths)
    for f in range(12):  # some misses
        frames[f] = [p for p in frames[f] if rng.random() > 0.1]
    data = scene(frames)
    preds = detections(frames, score=0.99, track_ids=False)
    preds.score = rng.uniform(0.9, 1.0, len(preds))
    index = build_frame_index(data.images)
    base = link(preds, index, UNFILTERED).predictions
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(len(preds))
        images = data.images.iloc[np.random.default_rng(seed + 10).permutation(len(data.images))]
        again = link(preds.select(perm), build_frame_index(images), UNFILTERED).predictions
        np.testing.assert_array_equal(again.image_id, base.image_id)
        np.testing.assert_array_equal(again.track_id, base.track_id)
        np.testing.assert_array_equal(again.keypoints, base.keypoints)


def test_track_ids_unique_across_sequences() -> None:
    s1, s2 = scene(by_frame(walk(0, 100, 1, 3)), sequence=1), scene(by_frame(walk(0, 100, 1, 3)), sequence=2)
    images = pd.concat([s2.images, s1.images], ignore_index=True)
    p1 = detections(by_frame(walk(0, 100, 1, 3)), sequence=1, track_ids=False)
    p2 = detections(by_frame(walk(0, 100, 1, 3)), sequence=2, track_ids=False)
    preds = p1.select(np.ones(3, bool))
    merged = type(preds)(
        image_id=np.r_[p2.image_id, p1.image_id],
        keypoints=np.r_[p2.keypoints, p1.keypoints],
        score=np.r_[p2.score, p1.score],
        box=np.r_[p2.box, p1.box],
    )
    out = link(merged, build_frame_index(images), UNFILTERED).predictions
    # seq_1 sorts first: its track is 0, seq_2's is 1.
    np.testing.assert_array_equal(out.track_id[out.image_id < 2000], [0, 0, 0])
    np.testing.assert_array_equal(out.track_id[out.image_id >= 2000], [1, 1, 1])


def test_detect_and_track_filters_score_and_clipped_area() -> None:
    frames = [[(0, 100, 200), (1, 300, 200), (2, 500, 200)]]
    data = scene(frames, size=(640, 480))
    preds = detections(frames, track_ids=False)
    preds.score = np.array([0.99, 0.94, 0.99])
    # Third box: 10 x 10 inside the image, the rest outside: clipped area 100 (kept);
    # move it so only 5 x 9 = 45 px² remain inside (dropped).
    preds.box[2] = [635, 100, 20, 9]
    result = link(preds, build_frame_index(data.images), DETECT_AND_TRACK)
    assert result.num_filtered == 2 and len(result.predictions) == 1
    preds.box[2] = [630, 100, 20, 9]  # 10 x 9 = 90 px² inside: kept
    assert len(link(preds, build_frame_index(data.images), DETECT_AND_TRACK).predictions) == 2
    assert len(link(preds, build_frame_index(data.images), UNFILTERED).predictions) == 3


def test_max_cost_refuses_far_pairs() -> None:
    frames = [[(0, 100, 200)], [(0, 400, 200)]]  # no overlap: cost 1
    result, _ = run_link(frames, config=LinkConfig(min_score=None, min_area=None, max_cost=0.9))
    assert result.predictions.track_id.tolist() == [0, 1]
    result, _ = run_link(frames, config=UNFILTERED)  # Detect-and-Track accepts every pair
    assert result.predictions.track_id.tolist() == [0, 0]


def test_oks_cost_links_by_pose() -> None:
    frames = by_frame(walk(0, 100, 3, 4), walk(1, 400, -3, 4))
    data = scene(frames)
    preds = detections(frames, track_ids=False)
    preds.box[:] = np.nan  # no boxes: the oks cost does not need them
    from occbench.skeletons import CROWDPOSE14

    result = link(
        preds,
        build_frame_index(data.images),
        LinkConfig(cost="oks", min_score=None, min_area=None, clip_to_image=False),
        sigmas=CROWDPOSE14.sigmas,
    )
    got = tracks_by_frame(result.predictions, 4)
    assert all([t for _, t in frame] == [0, 1] for frame in got)


def test_bad_input_errors_name_the_record() -> None:
    data = scene(by_frame(walk(0, 100, 1, 3)))
    images = data.images.copy()
    images.loc[1, "frame"] = images.loc[0, "frame"]
    with pytest.raises(OccbenchError, match=r"record image_id 1001.*repeated"):
        build_frame_index(images)
    images = data.images.copy()
    images.loc[1, "video_frame"] = 5
    with pytest.raises(OccbenchError, match=r"record image_id 1002.*frames out of order"):
        build_frame_index(images)
    images = data.images.copy()
    images.loc[2, "frame"] = -1
    with pytest.raises(OccbenchError, match=r"record image_id 1002.*no frame number"):
        build_frame_index(images)
    images = data.images.copy()
    images.loc[2, "sequence"] = ""
    preds = detections(by_frame(walk(0, 100, 1, 3)), track_ids=False)
    with pytest.raises(OccbenchError, match=r"record 2, field 'image_id'.*no video sequence"):
        link(preds, build_frame_index(images), UNFILTERED)
    preds.image_id[1] = 99
    with pytest.raises(OccbenchError, match=r"record 1, field 'image_id'.*unknown image id 99"):
        link(preds, build_frame_index(data.images), UNFILTERED)
