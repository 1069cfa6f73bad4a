"""The report's tracking section: track timelines and the frames around the worst id switches.

For a tracking cell (one whose store folder holds ``tracked.parquet``), the PoseTrack result
is recomputed from the dataset and the stored linked predictions (``compute_tracking``: the
same event log the metrics table came from), then:

- ``plot_track_timeline`` for the sequences with most switches (at most ``MAX_SEQUENCES``),
  switches marked with red crosses;
- for each of the worst switches (``worst_switches``), the frame before and the frame of the
  switch, ground truth in white and each predicted track in its own colour, cropped around the
  switching person: the colour change is the id switch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from occbench.report.gallery import PRED_COLORS, GalleryItem, jpeg_base64, load_images, render

MAX_SEQUENCES = 3
MAX_SWITCHES = 3


@dataclass
class TrackingView:
    title: str
    timelines: list[tuple[str, str]] = field(default_factory=list)  # (svg, caption)
    switches: list[tuple[GalleryItem, GalleryItem]] = field(default_factory=list)  # (before, at)
    note: str = ""


def _track_color(track: int) -> tuple[int, ...]:
    return PRED_COLORS[int(track) % len(PRED_COLORS)]


def timeline_svgs(result: Any, max_sequences: int = MAX_SEQUENCES) -> list[tuple[str, str]]:
    """SVG timelines of the sequences with most switched joints (then name order)."""
    from occbench.report.plots import to_svg
    from occbench.tracking.timeline import plot_track_timeline, switch_events

    switches = switch_events(result)
    names = list(result.gt.frames.sequences)
    per_seq = switches.groupby("sequence")["joints"].sum() if len(switches) else None
    ranked = sorted(names, key=lambda s: (-(float(per_seq.get(s, 0)) if per_seq is not None else 0.0), s))
    out = []
    for sequence in ranked[:max_sequences]:
        n = int(per_seq.get(sequence, 0)) if per_seq is not None else 0
        svg = to_svg(plot_track_timeline(result, sequence))
        caption = f"{sequence}: ground-truth persons over frames, coloured by predicted track; {n} joint switches."
        out.append((svg, caption))
    return out


def switch_frames(
    result: Any, dataset: Any, split: str, image_root: str | Path | None, n: int = MAX_SWITCHES
) -> list[tuple[GalleryItem, GalleryItem]]:
    """(before, at) pictures for the ``n`` worst switches. Raises ``OccbenchError`` without images."""
    from occbench.tracking.timeline import worst_switches

    worst = worst_switches(result, n)
    if worst.empty:
        return []
    gt, frames = result.gt, result.gt.frames
    seq_names = np.asarray(frames.sequences, dtype=object)
    wanted = []
    for sw in worst.itertuples(index=False):
        at = int(np.flatnonzero((seq_names[frames.seq_code] == sw.sequence) & (frames.frame == sw.frame))[0])
        before = at - 1 if at > 0 and frames.seq_code[at - 1] == frames.seq_code[at] else at
        wanted.append((sw, before, at))
    ids = sorted({int(frames.image_ids[p]) for _, b, a in wanted for p in (b, a)})
    pixels = load_images(dataset, split, ids, image_root)
    kp_pred = result.pred_keypoints
    pairs = []
    for sw, before, at in wanted:
        person_at = np.flatnonzero((gt.pos == at) & (gt.track_id == sw.gt_track))
        focus = gt.keypoints[person_at[0]] if len(person_at) else None
        pictures = []
        for pos, when in ((before, "before"), (at, "at the switch")):
            g = gt.pos == pos
            p = result.pred_pos == pos
            tracks = result.pred_track[p]
            box = None
            if focus is not None:
                lo, hi = focus.min(0), focus.max(0)
                box = np.array([[*lo, *(hi - lo)]])
            picture = render(
                pixels[int(frames.image_ids[pos])],
                gt.schema,
                gt.keypoints[g],
                np.where(gt.has_joint[g], 1, 0).astype(np.int8),
                kp_pred[p],
                focus_boxes=box,
                pred_colors=[_track_color(t) for t in tracks],
            )
            track = int(sw.from_track) if when == "before" else int(sw.to_track)
            caption = (
                f"{sw.sequence} frame {int(frames.frame[pos])} ({when}): ground-truth track {int(sw.gt_track)}, "
                f"predicted track {track}" + (f"; {int(sw.joints)} joints switched" if when != "before" else "")
            )
            pictures.append(GalleryItem(jpeg_base64(picture), caption, int(frames.image_ids[pos])))
        pairs.append((pictures[0], pictures[1]))
    return pairs
