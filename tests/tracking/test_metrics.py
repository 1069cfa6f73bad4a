"""PoseTrack metrics on hand-built sequences: MOTA/MOTP/precision/recall/AP against hand
computations, poseval's compatibility behaviours, breakdowns, timelines and bad input."""

from __future__ import annotations

import motmetrics as mm
import numpy as np
import pytest

from occbench.errors import OccbenchError
from occbench.skeletons import CROWDPOSE14, JTA22, Visibility
from occbench.tracking.frames import build_frame_index
from occbench.tracking.link import UNFILTERED, link
from occbench.tracking.metrics import TrackingGroundTruth, compute_tracking, evaluate_tracking, head_size
from occbench.tracking.timeline import plot_track_timeline, switch_events, track_timeline, worst_switches
from tests.tracking.helpers import HEAD_SIZE, K, by_frame, detections, scene, walk


def gt_of(data) -> TrackingGroundTruth:
    return TrackingGroundTruth.from_split(data, CROWDPOSE14, name="hand", split="test")


def value(table, metric, breakdown="standard", subset="all") -> float:
    hit = table[(table.breakdown == breakdown) & (table.subset == subset) & (table.metric == metric)]
    assert len(hit) == 1, (breakdown, subset, metric)
    return float(hit["value"].iloc[0])


def linked(frames, data, score=0.99):
    preds = detections(frames, score=score, track_ids=False)
    return link(preds, build_frame_index(data.images), UNFILTERED).predictions


def miss_and_false_positive_scene():
    """A (track 10) in frames 0-2, B (track 20) in frames 0-1.

    Predictions: track 5 on A shifted 2 px in frames 0 and 2 but 400 px away in frame 1
    (a miss and a false positive), track 6 exactly on B, and a stray track 7 in frame 2.
    Per joint: 5 objects, 4 detections, 1 miss, 2 FP, 0 switches.
    """
    data = scene(by_frame([(10, 100, 200)] * 3, [(20, 300, 200)] * 2))
    pf = [[(5, 102, 200), (6, 300, 200)], [(5, 500, 200), (6, 300, 200)], [(5, 102, 200), (7, 550, 200)]]
    preds = detections(pf)
    preds.keypoints[2, :, 2] = 0.6  # the far-away prediction
    preds.keypoints[5, :, 2] = 0.5  # the stray one
    return data, preds


def test_mota_motp_precision_recall_ap_by_hand() -> None:
    data, preds = miss_and_false_positive_scene()
    table = evaluate_tracking(gt_of(data), preds)
    assert value(table, "MOTA") == pytest.approx(1 - (1 + 0 + 2) / 5)
    assert value(table, "MOTP") == pytest.approx(1 - (2 * 2 / HEAD_SIZE) / 4)
    assert value(table, "precision") == pytest.approx(4 / 6)
    assert value(table, "recall") == pytest.approx(4 / 5)
    # Four true positives at score 0.9, then the two false positives: AP = recall reached = 0.8.
    assert value(table, "AP") == pytest.approx(0.8)
    assert value(table, "num_objects") == 5 * K and value(table, "num_false_positives") == 2 * K
    assert value(table, "MOTA", "joint", "head") == pytest.approx(0.4)
    assert set(table.columns) == {"run", "dataset", "split", "protocol", "breakdown", "subset", "metric", "value"}
    assert table["protocol"].unique().tolist() == ["posetrack"]


def test_counts_equal_motmetrics_own_summary() -> None:
    data, preds = miss_and_false_positive_scene()
    result = compute_tracking(gt_of(data), preds)
    mh = mm.metrics.create()
    names = ["num_switches", "num_misses", "num_false_positives", "num_objects", "num_detections"]
    for (_, joint), acc in result.accumulators.items():
        summary = mh.compute(acc, metrics=[*names, "motp"], return_dataframe=False)
        for name in names:
            assert result.counts[name][joint] == summary[name]
        assert result.counts["sum_d"][joint] / result.counts["num_detections"][joint] == pytest.approx(summary["motp"])


def test_poseval_compat_drops_last_frame() -> None:
    data, preds = miss_and_false_positive_scene()
    table = evaluate_tracking(gt_of(data), preds, poseval_compat=True)
    # Frames 0 and 1 only: 4 objects, 1 miss, 1 FP.
    assert value(table, "MOTA") == pytest.approx(0.5)
    assert table["protocol"].unique().tolist() == ["posetrack_poseval"]


def test_poseval_compat_counts_an_empty_frame_once() -> None:
    frames = by_frame(walk(1, 100, 2, 4), walk(2, 300, 2, 4))
    data = scene(frames)
    pf = [list(f) for f in frames]
    pf[1] = []
    preds = detections(pf)
    # Ours: frame 1 holds two misses per joint.
    assert value(evaluate_tracking(gt_of(data), preds), "MOTA") == pytest.approx(1 - 2 / 8)
    # poseval: frame 3 dropped, frame 1 is one object, one miss and one false positive.
    assert value(evaluate_tracking(gt_of(data), preds, poseval_compat=True), "MOTA") == pytest.approx(1 - 2 / 5)


def crossing():
    xs_a = [100, 140, 180, 220, 260, 300, 340]
    xs_b = [340, 300, 260, 220, 180, 140, 100]
    frames = [[(0, a, 200), (1, b, 200)] for a, b in zip(xs_a, xs_b, strict=True)]
    scores = [[0.99, 0.97]] * 4 + [[0.97, 0.99]] * 3
    data = scene(frames, occluded={(4, 1): 10}, crowd_index=[0.1] * 4 + [0.9] * 3)
    return data, linked(frames, data, score=scores)


def test_crossing_swap_counts_two_switches_per_joint() -> None:
    data, preds = crossing()
    table = evaluate_tracking(gt_of(data), preds)
    assert value(table, "num_switches") == 2 * K
    assert value(table, "MOTA") == pytest.approx(1 - 2 / 14)
    # poseval's AP assignment: in frame 3 both people and both predictions coincide, every
    # PCKh is 1, both predictions pick the first person (argmax) and the second prediction is
    # left a false positive. Per joint: 7 hits, the false positive, 6 hits (equal scores keep
    # frame order): AP = 7/14 * 1 + 6/14 * 13/14.
    assert value(table, "AP") == pytest.approx(7 / 14 + 6 / 14 * 13 / 14)
    # B is heavily occluded (10/14 joints) at the switch frame, A not at all.
    assert value(table, "num_switches", "occlusion:switch_frame", "heavy") == K
    assert value(table, "num_switches", "occlusion:switch_frame", "none") == K
    assert value(table, "num_objects", "occlusion:switch_frame", "heavy") == K
    # Frames 0-3 are easy (no switch), 4-6 hard (both switches).
    assert value(table, "MOTA", "crowd_index:recomputed", "easy") == pytest.approx(1.0)
    assert value(table, "MOTA", "crowd_index:recomputed", "hard") == pytest.approx(1 - 2 / 6)
    assert value(table, "num_frames", "crowd_index:recomputed", "hard") == 3


def test_switch_events_and_timeline() -> None:
    data, preds = crossing()
    result = compute_tracking(gt_of(data), preds)
    events = switch_events(result)
    assert events[["frame", "gt_track", "from_track", "to_track", "joints"]].values.tolist() == [
        [5, 0, 0, 1, K],
        [5, 1, 1, 0, K],
    ]  # source frame numbers start at 1: the swap is at the fifth frame
    worst = worst_switches(result, 1)
    assert worst["gt_track"].tolist() == [1]  # ties on joints: the occluded person first
    timeline = track_timeline(result)
    a = timeline[timeline.gt_track == 0].sort_values("frame")
    assert a["pred_track"].tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert a["switched_joints"].tolist() == [0, 0, 0, 0, K, 0, 0]
    fig = plot_track_timeline(result)
    assert fig.axes[0].get_title().startswith("seq_1") and len(fig.axes[0].collections) == 3


def test_leaving_and_reentering_is_one_switch() -> None:
    a = walk(0, 100, 5, 6)
    a[2] = a[3] = None
    frames = by_frame(a, walk(1, 400, 0, 6))
    data = scene(frames)
    table = evaluate_tracking(gt_of(data), linked(frames, data))
    # The linker starts a new track when A re-enters; motmetrics calls that a switch.
    assert value(table, "num_switches") == K
    assert value(table, "MOTA") == pytest.approx(1 - 1 / 10)
    assert value(table, "num_pred_tracks") == 3 and value(table, "num_gt_tracks") == 2


def test_missed_frame_is_a_miss_then_a_switch() -> None:
    frames = by_frame(walk(0, 100, 3, 6))
    data = scene(frames)
    detected = [list(f) for f in frames]
    detected[3] = []
    preds = detections(detected, track_ids=False)
    preds = link(preds, build_frame_index(data.images), UNFILTERED).predictions
    table = evaluate_tracking(gt_of(data), preds)
    assert value(table, "num_misses") == K and value(table, "num_switches") == K
    assert value(table, "MOTA") == pytest.approx(1 - 2 / 6)
    assert value(table, "recall") == pytest.approx(5 / 6)


def test_joint_threshold_drops_low_scoring_joints() -> None:
    frames = by_frame(walk(0, 100, 3, 2))
    data = scene(frames)
    preds = detections(frames)
    preds.keypoints[:, :7, 2] = 0.1
    table = evaluate_tracking(gt_of(data), preds, joint_threshold=0.5)
    assert value(table, "recall", "joint", "left_shoulder") == 0.0
    assert value(table, "recall", "joint", "head") == 1.0
    assert value(table, "AP", "joint", "left_shoulder") == 0.0


def test_head_size_rules() -> None:
    kp = np.zeros((2, 22, 2))
    kp[:, 1] = [0, 10]  # head_center 10 px below head_top
    vis = np.full((2, 22), Visibility.VISIBLE, np.int8)
    vis[1, 0] = Visibility.UNLABELED
    size = head_size(kp, vis, JTA22)
    assert size[0] == pytest.approx(0.6 * np.sqrt(2) * 20) and np.isnan(size[1])
    data = scene([[(0, 100, 200)]])
    assert gt_of(data).head_size[0] == pytest.approx(HEAD_SIZE)


def test_bad_input() -> None:
    data, preds = miss_and_false_positive_scene()
    untracked = preds.select(np.ones(len(preds), bool))
    untracked.track_id[3] = -1
    with pytest.raises(OccbenchError, match=r"record 3, field 'track_id'.*occbench track"):
        evaluate_tracking(gt_of(data), untracked)
    twice = preds.select(np.ones(len(preds), bool))
    twice.track_id[1] = 5
    with pytest.raises(OccbenchError, match=r"field 'track_id'.*track id 5 appears twice"):
        evaluate_tracking(gt_of(data), twice)
    no_tracks = scene([[(0, 100, 200)]])
    no_tracks.instances["track_id"] = -1
    with pytest.raises(OccbenchError, match=r"record instance_id 100001, field 'track_id'"):
        gt_of(no_tracks)
    from occbench.skeletons import COCO17

    with pytest.raises(OccbenchError, match="no head-box rule for joint schema 'coco17'"):
        head_size(np.zeros((1, 17, 2)), np.ones((1, 17), np.int8), COCO17)
