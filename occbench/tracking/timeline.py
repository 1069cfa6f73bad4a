"""Track timelines for the report: who was followed by which predicted track, and where ids switched.

All helpers read a ``TrackingResult`` (``compute_tracking``): its motmetrics event log is
the single record of matches, misses and switches, so the timeline always agrees with the
metrics table. Joints are aggregated per person: a person-frame's predicted track is the
one matched to most of its joints (smallest id on ties).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from occbench.tracking.metrics import TrackingResult, gt_row

_MATCHED = ("MATCH", "SWITCH")


def _person_events(result: TrackingResult) -> pd.DataFrame:
    ev = result.events
    person = gt_row(result.gt, ev["frame"].to_numpy().astype(np.int64), ev["oid"].to_numpy())
    out = ev.assign(person=person)
    return out[(person >= 0) & out["type"].isin(("MATCH", "SWITCH", "MISS"))]


def track_timeline(result: TrackingResult) -> pd.DataFrame:
    """One row per ground-truth person per evaluated frame.

    Columns: sequence, frame (the source's number), gt_track, pred_track (-1: no joint
    matched), matched_joints, labelled_joints, switched_joints, occlusion_ratio, crowd_index.
    """
    gt = result.gt
    ev = _person_events(result)
    matched = ev[ev["type"].isin(_MATCHED)]
    votes = matched.groupby(["person", "hid"]).size().reset_index(name="n")
    votes = votes.sort_values(["person", "n", "hid"], ascending=[True, False, True]).drop_duplicates("person")
    people = np.unique(ev["person"].to_numpy()).astype(np.int64)
    pred = pd.Series(votes["hid"].to_numpy(), index=votes["person"].to_numpy())
    n_matched = matched.groupby("person").size()
    n_switched = ev[ev["type"] == "SWITCH"].groupby("person").size()
    pos = gt.pos[people]
    frames = gt.frames
    return pd.DataFrame(
        {
            "sequence": np.asarray(frames.sequences, dtype=object)[frames.seq_code[pos]] if len(people) else [],
            "frame": frames.frame[pos],
            "gt_track": gt.track_id[people],
            "pred_track": pred.reindex(people).fillna(-1).to_numpy().astype(np.int64),
            "matched_joints": n_matched.reindex(people).fillna(0).to_numpy().astype(np.int64),
            "labelled_joints": gt.has_joint[people].sum(1),
            "switched_joints": n_switched.reindex(people).fillna(0).to_numpy().astype(np.int64),
            "occlusion_ratio": gt.occlusion_ratio[people],
            "crowd_index": frames.crowd_index[pos],
        }
    )


def switch_events(result: TrackingResult) -> pd.DataFrame:
    """One row per (frame, ground-truth person, previous predicted track, new predicted track).

    ``joints`` counts the joints that switched together; ``from_track`` is the track the
    joint was last matched to (motmetrics' switch rule: any earlier match of that person).
    """
    gt = result.gt
    ev = _person_events(result)
    matched = ev[ev["type"].isin(_MATCHED)].copy()
    matched["seq"] = gt.frames.seq_code[matched["frame"].to_numpy().astype(np.int64)]
    matched = matched.sort_values(["seq", "oid", "joint", "frame"], kind="stable")
    matched["from_track"] = matched.groupby(["seq", "oid", "joint"])["hid"].shift(1)
    sw = matched[matched["type"] == "SWITCH"]
    columns = ["sequence", "frame", "gt_track", "from_track", "to_track", "joints", "occlusion_ratio", "crowd_index"]
    if sw.empty:
        return pd.DataFrame({c: [] for c in columns})
    grouped = (
        sw.groupby(["person", "from_track", "hid"], dropna=False)
        .size()
        .reset_index(name="joints")
        .astype({"person": int})
    )
    person = grouped["person"].to_numpy()
    pos = gt.pos[person]
    out = pd.DataFrame(
        {
            "sequence": np.asarray(gt.frames.sequences, dtype=object)[gt.frames.seq_code[pos]],
            "frame": gt.frames.frame[pos],
            "gt_track": gt.track_id[person],
            "from_track": grouped["from_track"].fillna(-1).to_numpy().astype(np.int64),
            "to_track": grouped["hid"].to_numpy().astype(np.int64),
            "joints": grouped["joints"].to_numpy().astype(np.int64),
            "occlusion_ratio": gt.occlusion_ratio[person],
            "crowd_index": gt.frames.crowd_index[pos],
        }
    )
    return out.sort_values(["sequence", "frame", "gt_track", "to_track"], kind="stable").reset_index(drop=True)


def worst_switches(result: TrackingResult, n: int = 10) -> pd.DataFrame:
    """The ``n`` switches that moved most joints at once (then the most occluded, then earliest)."""
    events = switch_events(result)
    ranked = events.assign(_occ=events["occlusion_ratio"].fillna(-1.0)).sort_values(
        ["joints", "_occ", "sequence", "frame", "gt_track"], ascending=[False, False, True, True, True], kind="stable"
    )
    return ranked.drop(columns="_occ").head(n).reset_index(drop=True)


def plot_track_timeline(
    result: TrackingResult, sequence: str | None = None, *, max_tracks: int = 40, width: float = 9.0
) -> Figure:
    """Ground-truth tracks (rows) over frames, coloured by the predicted track that followed them.

    Grey marks frames where no joint matched; red crosses mark id switches. Without a
    ``sequence`` the one with most switches is drawn. Built on ``matplotlib.figure.Figure``,
    so no pyplot state is touched.
    """
    timeline = track_timeline(result)
    switches = switch_events(result)
    if sequence is None:
        if len(switches):
            sequence = str(switches.groupby("sequence")["joints"].sum().idxmax())
        elif len(timeline):
            sequence = str(timeline["sequence"].iloc[0])
    tl = timeline[timeline["sequence"] == sequence]
    sw = switches[switches["sequence"] == sequence]
    tracks = np.unique(tl["gt_track"].to_numpy())[:max_tracks]
    row_of = {t: i for i, t in enumerate(tracks.tolist())}
    tl = tl[tl["gt_track"].isin(tracks)]
    sw = sw[sw["gt_track"].isin(tracks)]
    fig = Figure(figsize=(width, max(2.0, 0.22 * len(tracks) + 1.2)), layout="constrained")
    ax = fig.add_subplot()
    rows = tl["gt_track"].map(row_of).to_numpy()
    followed = tl["pred_track"].to_numpy() >= 0
    colours = np.asarray(colormaps["tab20"].colors)
    ax.scatter(
        tl["frame"].to_numpy()[followed],
        rows[followed],
        c=colours[tl["pred_track"].to_numpy()[followed] % len(colours)],
        marker="s",
        s=12,
        linewidths=0,
    )
    ax.scatter(tl["frame"].to_numpy()[~followed], rows[~followed], c="0.8", marker="s", s=12, linewidths=0)
    if len(sw):
        ax.scatter(sw["frame"], sw["gt_track"].map(row_of), c="red", marker="x", s=40, label="id switch")
        ax.legend(loc="upper right", fontsize="small")
    ax.set_yticks(range(len(tracks)), [str(t) for t in tracks], fontsize="x-small")
    ax.set_xlabel("frame")
    ax.set_ylabel("ground-truth track")
    ax.set_title(f"{sequence}: predicted track per ground-truth person" if sequence else "no tracks")
    return fig
