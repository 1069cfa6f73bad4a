"""PoseTrack metrics (poseval's conventions) for tracked predictions: MOTA, MOTP, precision,
recall and per-joint AP, with occlusion and crowding breakdowns.

What counts as a match (poseval, ``eval_helpers.assignGTmulti``):

- a predicted joint and a ground-truth joint of the same type match when their distance is
  at most 0.5 x head size; head size = 0.6 x the diagonal of the ground truth's head box;
- the head box is not annotated in occbench's sources, so it is derived (one rule per joint
  schema, ``HEAD_BOX_RULES``): jta22 uses the JTA repository's square of side
  2 * |head_top - head_center|; crowdpose14 a square of side |head - neck|. Head size is
  therefore 0.6 * sqrt(2) * side. A ground truth whose head joints are unlabelled has no
  head size and matches nothing;
- a ground-truth joint takes part when it is labelled (COCO v > 0: truncated off-screen
  joints do not); a predicted joint when its score is above ``joint_threshold`` (default:
  every predicted joint, as poseval counts every joint a prediction lists); crowd regions
  and persons without a labelled joint are left out.

MOT metrics: one ``motmetrics.MOTAccumulator`` per joint per sequence, updated frame by
frame with the ground-truth and predicted track ids and the matched distances (NaN beyond
the threshold). Counts come from motmetrics' event log (MATCH, SWITCH, MISS, FP), summed
over sequences; per joint MOTA = 1 - (misses + switches + FP) / objects, MOTP = 1 - (sum
of matched distances) / detections (poseval's form; the sum covers MATCH and SWITCH events
only, i.e. motmetrics' MOTP numerator), precision = detections / (detections + FP), recall
= detections / objects. Totals are means over the joints (NaN skipped), as poseval's
"total"; counts are sums. Values are fractions, not poseval's percentages.

AP per joint (poseval ``evaluateAP``): per frame each prediction is assigned to the ground
truth where it has the highest PCKh (matched joints / labelled joints; first on ties), each
ground truth keeps its best such prediction; a joint of an assigned prediction is a true
positive if it matches, everything else a false positive. Joints are ranked by keypoint
score over the whole split (stable sort: ties keep frame order) and AP is VOC's
all-point interpolated area. A joint without predictions has AP 0 (poseval), one without
ground truth NaN.

poseval behaviours that are bugs (``poseval_compat=False``, the default, leaves them out;
``True`` reproduces them and labels the protocol ``posetrack_poseval``):

- the last frame of each sequence is left out of the MOT metrics;
- frames without ground truth are removed before evaluation (AP and MOT), and a frame whose
  ground truth or predictions are empty enters MOT as one object, one miss and one false
  positive per joint, whatever it holds.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import motmetrics as mm
import numpy as np
import pandas as pd

from occbench import __version__
from occbench.bands import CROWD_INDEX_BANDS, OCCLUSION_BANDS, Band, assign_band
from occbench.datasets.format import SplitData, labelled_mask
from occbench.errors import OccbenchError
from occbench.predictions import Predictions
from occbench.skeletons import JointSchema, Visibility
from occbench.tracking.frames import FrameIndex, build_frame_index

PROTOCOLS = ("posetrack", "posetrack_poseval")
COLUMNS = ["run", "dataset", "split", "protocol", "breakdown", "subset", "metric", "value"]
DIST_THRESHOLD = 0.5
HEAD_SIZE_FACTOR = 0.6
# schema -> (joint a, joint b, head-box side as a multiple of |a - b|); the box is square.
HEAD_BOX_RULES: dict[str, tuple[str, str, float]] = {
    "jta22": ("head_top", "head_center", 2.0),
    "crowdpose14": ("head", "neck", 1.0),
}
EVENT_TYPES = ("MATCH", "SWITCH", "MISS", "FP")
_DUMMY = -1  # track id of poseval's placeholder object/hypothesis in empty frames
_MAX_PAIR_VALUES = 4_000_000  # pair x joint distances held at once
# Processes for the motmetrics accumulators (see _run_mot): two where two cores are available.
DEFAULT_WORKERS = min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
PARALLEL_MIN_UPDATES = 4_000  # below this many accumulator updates forking costs more than it saves


def head_size(keypoints: np.ndarray, visibility: np.ndarray, schema: JointSchema) -> np.ndarray:
    """(N,) poseval head size 0.6 x head-box diagonal under ``HEAD_BOX_RULES``; NaN where unknown."""
    if schema.name not in HEAD_BOX_RULES:
        raise OccbenchError(
            f"no head-box rule for joint schema {schema.name!r} (known: {', '.join(HEAD_BOX_RULES)})",
            field="schema",
        )
    a_name, b_name, side_factor = HEAD_BOX_RULES[schema.name]
    a, b = schema.index(a_name), schema.index(b_name)
    side = side_factor * np.linalg.norm(keypoints[:, a, :2] - keypoints[:, b, :2], axis=1)
    known = (visibility[:, a] != Visibility.UNLABELED) & (visibility[:, b] != Visibility.UNLABELED) & (side > 0)
    return np.where(known, HEAD_SIZE_FACTOR * np.sqrt(2.0) * side, np.nan)


@dataclass
class TrackingGroundTruth:
    """Ground-truth persons of the sequence frames, sorted by (frame, track id)."""

    name: str
    split: str
    schema: JointSchema
    frames: FrameIndex
    pos: np.ndarray  # (N,) frame position
    track_id: np.ndarray  # (N,)
    instance_id: np.ndarray  # (N,)
    keypoints: np.ndarray  # (N, K, 2)
    has_joint: np.ndarray  # (N, K) labelled
    head_size: np.ndarray  # (N,)
    occlusion_ratio: np.ndarray  # (N,)
    frame_has_rows: np.ndarray  # (F,) any instance row at all (poseval's cleanup keeps these frames)
    manifest_hash: str = ""

    @classmethod
    def from_split(
        cls,
        data: SplitData,
        schema: JointSchema,
        *,
        name: str,
        split: str,
        manifest_hash: str = "",
        source: object = "",
    ) -> TrackingGroundTruth:
        frames = build_frame_index(data.images, source=source or f"{name} split {split}")
        inst = data.instances
        img = inst["image_id"].to_numpy().astype(np.int64)
        in_seq = np.isin(img, frames.image_ids)
        has = labelled_mask(data.visibility)
        person = in_seq & ~inst["iscrowd"].to_numpy().astype(bool) & has.any(axis=1)
        rows = np.flatnonzero(person)
        pos_all = frames.positions(img[in_seq], source=frames.source, what="instance")
        frame_has_rows = np.bincount(pos_all, minlength=len(frames)) > 0
        pos = frames.positions(img[rows], source=frames.source, what="instance")
        track = inst["track_id"].to_numpy().astype(np.int64)[rows]
        ids = inst["instance_id"].to_numpy().astype(np.int64)[rows]
        if (track < 0).any():
            i = int(np.flatnonzero(track < 0)[0])
            raise OccbenchError(
                "ground truth has no track id (-1); tracking needs a video source with person ids",
                file=frames.source,
                record=f"instance_id {int(ids[i])}",
                field="track_id",
            )
        order = np.lexsort((track, pos))
        rows, pos, track, ids = rows[order], pos[order], track[order], ids[order]
        dup = np.flatnonzero((pos[1:] == pos[:-1]) & (track[1:] == track[:-1]))
        if len(dup):
            raise OccbenchError(
                f"track id {int(track[dup[0]])} appears twice in frame {int(frames.frame[pos[dup[0]]])}",
                file=frames.source,
                record=f"instance_id {int(ids[dup[0] + 1])}",
                field="track_id",
            )
        keypoints = data.keypoints[rows]
        visibility = data.visibility[rows]
        return cls(
            name=name,
            split=split,
            schema=schema,
            frames=frames,
            pos=pos,
            track_id=track,
            instance_id=ids,
            keypoints=keypoints,
            has_joint=has[rows],
            head_size=head_size(keypoints, visibility, schema),
            occlusion_ratio=inst["occlusion_ratio"].to_numpy().astype(np.float64)[rows],
            frame_has_rows=frame_has_rows,
            manifest_hash=manifest_hash,
        )


def load_tracking_ground_truth(source: Any, split: str | None = None) -> TrackingGroundTruth:
    """From a ``TrackingGroundTruth``, a unified dataset folder or ``Dataset`` (+ split)."""
    from occbench.datasets.store import Dataset, open_dataset

    if isinstance(source, TrackingGroundTruth):
        return source
    ds = source if isinstance(source, Dataset) else open_dataset(source)
    if split is None:
        if len(ds.splits) != 1:
            raise OccbenchError(f"name a split (--split); this dataset has {', '.join(ds.splits)}", file=ds.root)
        split = ds.splits[0]
    return TrackingGroundTruth.from_split(
        ds.read_split(split, with_3d=False),
        ds.schema,
        name=ds.manifest.name,
        split=split,
        manifest_hash=ds.manifest_hash,
        source=f"{ds.root} split {split}",
    )


@dataclass
class TrackingResult:
    """Everything the table and the timeline helpers need."""

    gt: TrackingGroundTruth
    protocol: str
    pred_pos: np.ndarray  # (P,) frame position of each prediction (sorted by frame, track id)
    pred_track: np.ndarray  # (P,)
    events: pd.DataFrame  # motmetrics events: frame (position), joint, type, oid, hid, d
    counts: dict[str, np.ndarray]  # per joint: num_matches, num_switches, num_misses, num_false_positives, sum_d
    ap: np.ndarray  # (K,) per-joint AP
    mot_frames: np.ndarray  # (F,) bool: frames that entered the MOT metrics
    pred_keypoints: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 3)))  # (P, K, 3), as pred_pos
    accumulators: dict[tuple[int, int], mm.MOTAccumulator] = field(default_factory=dict)  # (sequence, joint)
    provenance: dict[str, Any] = field(default_factory=dict)


def _check_predictions(preds: Predictions, gt: TrackingGroundTruth, source: object) -> tuple[np.ndarray, np.ndarray]:
    k = gt.schema.num_joints
    if len(preds) and preds.num_joints != k:
        raise OccbenchError(f"predictions have {preds.num_joints} joints, the ground truth {k}", file=source)
    if len(preds):
        bad = np.flatnonzero(~np.isfinite(preds.keypoints.reshape(len(preds), -1)).all(1))
        if len(bad):
            raise OccbenchError("NaN or inf value", file=source, record=int(bad[0]), field="keypoints")
        untracked = np.flatnonzero(preds.track_id < 0)
        if len(untracked):
            raise OccbenchError(
                f"prediction has no track id ({len(untracked)} rows); link them first with `occbench track`",
                file=source,
                record=int(untracked[0]),
                field="track_id",
            )
    pos = gt.frames.positions(preds.image_id, source=source) if len(preds) else np.zeros(0, np.int64)
    order = np.lexsort((preds.track_id, pos))
    sp, st = pos[order], preds.track_id[order]
    dup = np.flatnonzero((sp[1:] == sp[:-1]) & (st[1:] == st[:-1]))
    if len(dup):
        i = int(order[dup[0] + 1])
        raise OccbenchError(
            f"track id {int(preds.track_id[i])} appears twice in frame {int(gt.frames.frame[pos[i]])}",
            file=source,
            record=i,
            field="track_id",
        )
    return order, pos[order]


def _segments(pos: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    counts = np.bincount(pos, minlength=n)
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64), counts


def _voc_ap(scores: np.ndarray, labels: np.ndarray, total_pos: int) -> float:
    if total_pos == 0:
        return float("nan")
    if len(scores) == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(labels[order])
    recall = tp / total_pos
    precision = tp / np.arange(1, len(tp) + 1)
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


def compute_tracking(
    ground_truth: Any,
    predictions: Any,
    split: str | None = None,
    *,
    poseval_compat: bool = False,
    joint_threshold: float | None = None,
    predictions_source: object | None = None,
    workers: int = DEFAULT_WORKERS,
) -> TrackingResult:
    """Match, accumulate and count; ``tracking_table`` turns the result into the tidy table.

    ``workers`` > 1 runs the motmetrics accumulators of different joints in forked processes
    when there are at least ``PARALLEL_MIN_UPDATES`` updates (the results are identical; the
    accumulators themselves then stay in the workers and ``accumulators`` is empty).
    """
    from occbench.evaluation.inputs import load_predictions

    gt = load_tracking_ground_truth(ground_truth, split)
    k = gt.schema.num_joints
    source = predictions_source or (predictions if isinstance(predictions, (str, Path)) else "predictions")
    preds = load_predictions(predictions, k)
    order, p_pos = _check_predictions(preds, gt, source)
    p_kp = preds.keypoints[order]
    p_track = preds.track_id[order]
    p_has = np.ones((len(order), k), bool) if joint_threshold is None else p_kp[..., 2] > joint_threshold

    n_frames = len(gt.frames)
    g_start, g_count = _segments(gt.pos, n_frames)
    p_start, p_count = _segments(p_pos, n_frames)
    # Frames that are evaluated at all (poseval's cleanup drops frames without ground truth).
    evaluated = gt.frame_has_rows.copy() if poseval_compat else np.ones(n_frames, bool)
    mot_frames = evaluated.copy()
    if poseval_compat:
        # poseval drops the last (remaining) frame of every sequence from MOT: imgidxs[:-1].
        kept = np.flatnonzero(evaluated)
        last = kept[np.r_[gt.frames.seq_code[kept][1:] != gt.frames.seq_code[kept][:-1], True]] if len(kept) else kept
        mot_frames[last] = False

    labels = np.zeros((len(order), k), bool)
    pred_evaluated = evaluated[p_pos] if len(p_pos) else np.zeros(0, bool)
    mot_inputs: list[_FrameMot] = []

    # Frames are processed in chunks so the pair x joint distance array stays bounded.
    pairs_per_frame = (p_count * g_count).astype(np.int64)
    chunk_begin = 0
    while chunk_begin < n_frames:
        cum = np.cumsum(pairs_per_frame[chunk_begin:]) * k
        chunk_end = chunk_begin + max(1, int(np.searchsorted(cum, _MAX_PAIR_VALUES, side="right")))
        fr = np.arange(chunk_begin, min(chunk_end, n_frames))
        npairs = pairs_per_frame[fr]
        pair_start = np.concatenate([[0], np.cumsum(npairs)[:-1]])
        f_of_pair = np.repeat(np.arange(len(fr)), npairs)
        local = np.arange(npairs.sum()) - pair_start[f_of_pair]
        ng = np.maximum(g_count[fr][f_of_pair], 1)
        pi = p_start[fr][f_of_pair] + local // ng  # pred-major
        gi = g_start[fr][f_of_pair] + local % ng
        diff = np.linalg.norm(p_kp[pi, :, :2] - gt.keypoints[gi], axis=2) / gt.head_size[gi][:, None]
        valid = gt.has_joint[gi] & p_has[pi] & np.isfinite(diff)
        dist = np.where(valid, diff, np.inf)
        # The ordered frame loop is inherent: motmetrics carries track correspondences frame to frame.
        for j, f in enumerate(fr):
            if not evaluated[f]:
                continue
            nP, nG = int(p_count[f]), int(g_count[f])
            ps, gs = int(p_start[f]), int(g_start[f])
            block = dist[pair_start[j] : pair_start[j] + npairs[j]].reshape(nP, nG, k)
            match = block <= DIST_THRESHOLD
            if nP and nG:
                pck = match.sum(2) / np.maximum(gt.has_joint[gs : gs + nG].sum(1), 1)[None, :]
                best = np.argmax(pck, axis=1)
                only_best = np.zeros_like(pck)
                only_best[np.arange(nP), best] = pck[np.arange(nP), best]
                pr_to_gt = np.argmax(only_best, axis=0)
                taken = only_best.max(axis=0) > 0
                gt_of_pred = np.full(nP, -1)
                gt_of_pred[pr_to_gt[taken]] = np.flatnonzero(taken)
                assigned = np.flatnonzero(gt_of_pred >= 0)
                labels[ps + assigned] = match[assigned, gt_of_pred[assigned]]
            if not mot_frames[f]:
                continue
            # Only the matching distances are kept (sparse), so every frame's MOT input stays in
            # memory until the accumulators run; joints come out of np.nonzero in ascending order.
            jj, gg, pp = np.nonzero(match.transpose(2, 1, 0)) if nP and nG else (np.zeros(0, np.int64),) * 3
            mot_inputs.append(
                _FrameMot(
                    frame=int(f),
                    seq=int(gt.frames.seq_code[f]),
                    dummy=poseval_compat and (nP == 0 or nG == 0),
                    g_ids=gt.track_id[gs : gs + nG],
                    p_ids=p_track[ps : ps + nP],
                    g_has=gt.has_joint[gs : gs + nG].T,
                    p_has=p_has[ps : ps + nP].T,
                    joint=jj,
                    g=gg,
                    p=pp,
                    d=block[pp, gg, jj] if len(jj) else np.zeros(0),
                )
            )
        chunk_begin = int(fr[-1]) + 1

    accs, logs = _run_mot(mot_inputs, k, workers)
    events = _collect_events(logs)
    counts = _count_events(events, k)
    ap = np.array(
        [
            _voc_ap(
                p_kp[pred_evaluated & p_has[:, j], j, 2],
                labels[pred_evaluated & p_has[:, j], j].astype(np.float64),
                int(gt.has_joint[evaluated[gt.pos], j].sum()),
            )
            for j in range(k)
        ]
    )
    return TrackingResult(
        gt=gt,
        protocol="posetrack_poseval" if poseval_compat else "posetrack",
        pred_pos=p_pos,
        pred_track=p_track,
        events=events,
        counts=counts,
        ap=ap,
        mot_frames=mot_frames,
        pred_keypoints=p_kp,
        accumulators=accs,
        provenance={
            "poseval_compat": poseval_compat,
            "joint_threshold": joint_threshold,
            "head_box_rule": HEAD_BOX_RULES[gt.schema.name],
            "predictions": dict(preds.metadata),
        },
    )


@dataclass
class _FrameMot:
    """One evaluated frame's MOT input: ids, labelled joints, and the matching distances (sparse)."""

    frame: int  # frame position (motmetrics' frame id)
    seq: int
    dummy: bool  # poseval_compat: an empty side enters as one object, one miss and one false positive
    g_ids: np.ndarray  # (nG,) ground-truth track ids
    p_ids: np.ndarray  # (nP,) predicted track ids
    g_has: np.ndarray  # (K, nG) labelled ground-truth joints
    p_has: np.ndarray  # (K, nP) predicted joints taking part
    joint: np.ndarray  # (M,) matching pairs, ascending joint
    g: np.ndarray  # (M,)
    p: np.ndarray  # (M,)
    d: np.ndarray  # (M,) normalised distance (<= DIST_THRESHOLD)


def _accumulate(inputs: list[_FrameMot], joints: list[int]) -> dict[tuple[int, int], mm.MOTAccumulator]:
    """One accumulator per (sequence, joint), updated frame by frame (inputs are in frame order)."""
    accs: dict[tuple[int, int], mm.MOTAccumulator] = {}
    for fm in inputs:
        nG, nP = len(fm.g_ids), len(fm.p_ids)
        bounds = np.searchsorted(fm.joint, np.arange(fm.g_has.shape[0] + 1))
        for joint in joints:
            acc = accs.get((fm.seq, joint))
            if acc is None:
                acc = accs[(fm.seq, joint)] = mm.MOTAccumulator(auto_id=False)
            if fm.dummy:
                acc.update([_DUMMY], [_DUMMY], [[np.nan]], frameid=fm.frame)
                continue
            dist = np.full((nG, nP), np.nan)
            lo, hi = bounds[joint], bounds[joint + 1]
            dist[fm.g[lo:hi], fm.p[lo:hi]] = fm.d[lo:hi]
            g_sel, p_sel = fm.g_has[joint], fm.p_has[joint]
            acc.update(fm.g_ids[g_sel], fm.p_ids[p_sel], dist[g_sel][:, p_sel], frameid=fm.frame)
    return accs


# The MOT inputs of a forked worker: inherited from the parent at fork time, never pickled.
_WORKER_INPUTS: list[_FrameMot] = []


def _init_worker(inputs: list[_FrameMot]) -> None:
    global _WORKER_INPUTS
    _WORKER_INPUTS = inputs


def _worker_logs(joints: list[int]) -> dict[tuple[int, int], tuple[np.ndarray, ...]]:
    out = {}
    for key, acc in _accumulate(_WORKER_INPUTS, joints).items():
        log = _event_log(acc)
        keep = np.isin(log[1], EVENT_TYPES)  # RAW and sub-events are not sent back (half the bytes)
        out[key] = tuple(column[keep] for column in log)
    return out


def _run_mot(
    inputs: list[_FrameMot], k: int, workers: int
) -> tuple[dict[tuple[int, int], mm.MOTAccumulator], dict[tuple[int, int], tuple[np.ndarray, ...]]]:
    """Accumulators (serial path only) and every accumulator's event log.

    motmetrics' per-frame ``update`` is pure Python and dominates the metric time, and the
    accumulators of different joints are independent: with ``workers`` > 1 the joints are dealt
    round-robin to forked processes (fork: the inputs are inherited, not pickled; only the event
    arrays come back). The same updates run in the same order per accumulator, so the events are
    identical to the serial path's.
    """
    joints = list(range(k))
    n_updates = len(inputs) * k
    if workers <= 1 or n_updates < PARALLEL_MIN_UPDATES or "fork" not in mp.get_all_start_methods():
        accs = _accumulate(inputs, joints)
        return accs, {key: _event_log(acc) for key, acc in accs.items()}
    groups = [joints[w::workers] for w in range(min(workers, k))]
    with mp.get_context("fork").Pool(len(groups), initializer=_init_worker, initargs=(inputs,)) as pool:
        parts = pool.map(_worker_logs, groups)
    return {}, {key: log for part in parts for key, log in part.items()}


def _event_log(acc: mm.MOTAccumulator) -> tuple[np.ndarray, ...]:
    """(frame, type, oid, hid, d) of one accumulator's events.

    Read from motmetrics' own event lists (what ``acc.events`` builds its DataFrame from):
    building a pandas MultiIndex per accumulator costs more than the rest of the read-out.
    """
    raw_events = getattr(acc, "_events", None)
    raw_index = getattr(acc, "_indices", None)
    if isinstance(raw_events, dict) and isinstance(raw_index, dict) and "FrameId" in raw_index:
        kind = np.asarray(raw_events["Type"], dtype=object).astype(str)
        return (
            np.asarray(raw_index["FrameId"], dtype=np.int64),
            kind,
            np.asarray(raw_events["OId"], dtype=np.float64),
            np.asarray(raw_events["HId"], dtype=np.float64),
            np.asarray(raw_events["D"], dtype=np.float64),
        )
    ev = acc.events
    return (
        ev.index.get_level_values("FrameId").to_numpy().astype(np.int64),
        ev["Type"].astype(str).to_numpy(),
        ev["OId"].to_numpy(dtype=np.float64),
        ev["HId"].to_numpy(dtype=np.float64),
        ev["D"].to_numpy(dtype=np.float64),
    )


def _collect_events(logs: dict[tuple[int, int], tuple[np.ndarray, ...]]) -> pd.DataFrame:
    """motmetrics' event logs (RAW and the TRANSFER/ASCEND/MIGRATE sub-events left out) as one table."""
    parts = []
    for (_, joint), (frame, kind, oid, hid, d) in sorted(logs.items()):
        keep = np.isin(kind, EVENT_TYPES)
        parts.append(
            (frame[keep], np.full(int(keep.sum()), joint, np.int64), kind[keep], oid[keep], hid[keep], d[keep])
        )
    names = ("frame", "joint", "type", "oid", "hid", "d")
    if not parts:
        return pd.DataFrame({name: [] for name in names})
    return pd.DataFrame({name: np.concatenate([p[i] for p in parts]) for i, name in enumerate(names)})


def _count_events(events: pd.DataFrame, k: int, mask: np.ndarray | None = None) -> dict[str, np.ndarray]:
    ev = events if mask is None else events[mask]
    joint = ev["joint"].to_numpy().astype(np.int64)
    kind = ev["type"].to_numpy()
    out = {
        name: np.bincount(joint[kind == t], minlength=k).astype(np.float64)
        for name, t in (
            ("num_matches", "MATCH"),
            ("num_switches", "SWITCH"),
            ("num_misses", "MISS"),
            ("num_false_positives", "FP"),
        )
    }
    matched = (kind == "MATCH") | (kind == "SWITCH")
    out["sum_d"] = np.bincount(joint[matched], weights=ev["d"].to_numpy()[matched], minlength=k)
    out["num_detections"] = out["num_matches"] + out["num_switches"]
    out["num_objects"] = out["num_detections"] + out["num_misses"]
    return out


def _mot_metrics(c: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        obj = np.where(c["num_objects"] > 0, c["num_objects"], np.nan)
        det, fp = c["num_detections"], c["num_false_positives"]
        mota = 1.0 - (c["num_misses"] + c["num_switches"] + fp) / obj
        motp = np.where(det > 0, 1.0 - c["sum_d"] / np.where(det > 0, det, 1), 0.0)  # poseval: 0 without detections
        precision = det / np.where(det + fp > 0, det + fp, np.nan)
        recall = det / obj
    return {"MOTA": mota, "MOTP": motp, "precision": precision, "recall": recall}


def _nanmean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")


def tracking_table(
    result: TrackingResult,
    *,
    occlusion_bands: tuple[Band, ...] = OCCLUSION_BANDS,
    crowd_bands: tuple[Band, ...] = CROWD_INDEX_BANDS,
    run: str = "",
) -> pd.DataFrame:
    """The tidy table (evaluator's columns): standard totals, per joint, switches by occlusion, MOTA by crowding."""
    gt, k = result.gt, result.gt.schema.num_joints
    c = result.counts
    per_joint = _mot_metrics(c)
    rows: list[tuple[str, str, str, float]] = []
    for name, values in per_joint.items():
        rows.append(("standard", "all", name, _nanmean(values)))
    rows.append(("standard", "all", "AP", _nanmean(result.ap)))
    for name in ("num_switches", "num_misses", "num_false_positives", "num_objects", "num_detections"):
        rows.append(("standard", "all", name, float(c[name].sum())))
    det = c["num_detections"].sum()
    rows.append(("standard", "all", "mean_distance", float(c["sum_d"].sum() / det) if det else float("nan")))
    rows.append(("standard", "all", "num_frames", float(result.mot_frames.sum())))
    gt_tracks = np.unique(np.c_[gt.frames.seq_code[gt.pos], gt.track_id], axis=0)
    rows.append(("standard", "all", "num_gt_tracks", float(len(gt_tracks))))
    rows.append(("standard", "all", "num_pred_tracks", float(len(np.unique(result.pred_track)))))
    for j, joint_name in enumerate(gt.schema.joint_names):
        for name, values in per_joint.items():
            rows.append(("joint", joint_name, name, float(values[j])))
        rows.append(("joint", joint_name, "AP", float(result.ap[j])))
        for name in ("num_switches", "num_misses", "num_false_positives", "num_objects"):
            rows.append(("joint", joint_name, name, float(c[name][j])))

    ev = result.events
    ev_frame = ev["frame"].to_numpy().astype(np.int64)
    kind = ev["type"].to_numpy()
    # Occlusion band of the ground truth at the event's frame (switches and objects).
    person = gt_row(gt, ev_frame, ev["oid"].to_numpy())
    ratio = np.where(person >= 0, gt.occlusion_ratio[np.maximum(person, 0)], np.nan)
    band = assign_band(ratio, occlusion_bands)
    is_obj = np.isin(kind, ("MATCH", "SWITCH", "MISS")) & (person >= 0)
    is_switch = kind == "SWITCH"
    subsets = [(b.name, band == i) for i, b in enumerate(occlusion_bands)]
    if (is_obj & (band < 0)).any():
        subsets.append(("unknown", band < 0))
    for name, in_band in subsets:
        n_sw, n_obj = float((is_switch & in_band).sum()), float((is_obj & in_band).sum())
        rows.append(("occlusion:switch_frame", name, "num_switches", n_sw))
        rows.append(("occlusion:switch_frame", name, "num_objects", n_obj))
        rows.append(("occlusion:switch_frame", name, "switch_rate", n_sw / n_obj if n_obj else float("nan")))

    frame_band = assign_band(gt.frames.crowd_index, crowd_bands)
    for i, b in enumerate(crowd_bands):
        in_band = frame_band[ev_frame] == i if len(ev_frame) else np.zeros(0, bool)
        cb = _count_events(ev, k, in_band)
        metrics = _mot_metrics(cb)
        for name in ("MOTA", "precision", "recall"):
            rows.append(("crowd_index:recomputed", b.name, name, _nanmean(metrics[name])))
        rows.append(("crowd_index:recomputed", b.name, "num_switches", float(cb["num_switches"].sum())))
        rows.append(("crowd_index:recomputed", b.name, "num_objects", float(cb["num_objects"].sum())))
        n_band_frames = float((result.mot_frames & (frame_band == i)).sum())
        rows.append(("crowd_index:recomputed", b.name, "num_frames", n_band_frames))

    table = pd.DataFrame(rows, columns=["breakdown", "subset", "metric", "value"])
    table.insert(0, "run", run)
    table.insert(1, "dataset", gt.name)
    table.insert(2, "split", gt.split)
    table.insert(3, "protocol", result.protocol)
    table["value"] = table["value"].astype(float)
    table.attrs["provenance"] = {
        "occbench_version": __version__,
        "dataset_manifest_sha256": gt.manifest_hash,
        "protocol": result.protocol,
        "occlusion_bands": ",".join(map(str, occlusion_bands)),
        "crowd_bands": ",".join(map(str, crowd_bands)),
        "crowd_index_source": "recomputed",
        "distance_threshold": DIST_THRESHOLD,
        "head_size_factor": HEAD_SIZE_FACTOR,
        **result.provenance,
    }
    return table


def gt_row(gt: TrackingGroundTruth, frame: np.ndarray, oid: np.ndarray) -> np.ndarray:
    """Row of the ground-truth person (frame position, track id), or -1 (NaN ids, poseval's placeholder)."""
    ok = np.isfinite(oid) & (np.nan_to_num(oid, nan=-1) >= 0)
    key_gt = gt.pos.astype(np.int64) * (1 << 32) + gt.track_id
    key = frame.astype(np.int64) * (1 << 32) + np.where(ok, np.nan_to_num(oid), 0).astype(np.int64)
    idx = np.clip(np.searchsorted(key_gt, key), 0, max(len(key_gt) - 1, 0))
    hit = ok & (key_gt[idx] == key) if len(key_gt) else np.zeros(len(key), bool)
    return np.where(hit, idx, -1)


def evaluate_tracking(
    ground_truth: Any,
    predictions: Any,
    split: str | None = None,
    *,
    poseval_compat: bool = False,
    joint_threshold: float | None = None,
    occlusion_bands: tuple[Band, ...] = OCCLUSION_BANDS,
    crowd_bands: tuple[Band, ...] = CROWD_INDEX_BANDS,
    run: str = "",
    predictions_source: object | None = None,
    workers: int = DEFAULT_WORKERS,
) -> pd.DataFrame:
    """``--protocol posetrack``: the tidy tracking table for tracked predictions on a video split."""
    started = time.perf_counter()
    result = compute_tracking(
        ground_truth,
        predictions,
        split,
        poseval_compat=poseval_compat,
        joint_threshold=joint_threshold,
        predictions_source=predictions_source,
        workers=workers,
    )
    table = tracking_table(result, occlusion_bands=occlusion_bands, crowd_bands=crowd_bands, run=run)
    table.attrs["provenance"]["evaluation_seconds"] = time.perf_counter() - started
    return table
