"""Tracking speed: linking and PoseTrack metrics for one JTA-sized sequence (900 frames x 40 people).

Builds a synthetic jta22 sequence in memory (people walking and bouncing off the borders, 3% of detections missed, 2 px
keypoint noise), links it with the Detect-and-Track rule, and evaluates the tracked result.
Prints the time of each step at 1/4, 1/2 and all of the frames, and the time per frame, so
linear scaling is visible. Targets on the project's 2-core machine: linking <= 1 s and
metrics <= 10 s for 900 frames x 40 people (most of the metric time is motmetrics' own
per-frame update, one accumulator per joint per sequence; the metrics run those in
``--workers`` forked processes, so their time is wall time, and the CPU column adds the
workers' CPU to the parent's).

    occbench perf tracking [--frames 900] [--persons 40] [--repeat 1] [--workers 2]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

TARGET_LINK_S = 1.0
TARGET_METRICS_S = 10.0


def make_sequence(frames: int, persons: int, seed: int = 0):
    """(SplitData, Predictions) of one jta22 sequence with ground-truth tracks."""
    from occbench.datasets.format import SplitData, make_images_table, make_instances_table, occlusion_ratios
    from occbench.predictions import Predictions
    from occbench.skeletons import JTA22, Visibility

    rng = np.random.default_rng(seed)
    k = JTA22.num_joints
    width, height = 1920, 1080
    template = np.c_[rng.uniform(-25, 25, k), np.linspace(-170, 0, k)]  # a standing figure, head at the top
    template[1] = template[0] + [0, 12]  # head_center below head_top: head size from the JTA rule
    start = np.c_[rng.uniform(100, width - 100, persons), rng.uniform(250, height - 50, persons)]
    velocity = rng.normal(0, 2.5, (persons, 2))
    t = np.arange(frames)
    lo_c, hi_c = np.array([100.0, 250.0]), np.array([width - 100.0, height - 50.0])
    # People bounce off the borders (a triangle wave), so every frame stays as crowded as the first.
    travel = start[None] - lo_c + velocity[None] * t[:, None, None]
    span = hi_c - lo_c
    centre = lo_c + span - np.abs(np.mod(travel, 2 * span) - span)  # (F, P, 2)
    kp = centre[:, :, None, :] + template[None, None]  # (F, P, K, 2)
    kp = kp.reshape(-1, k, 2)
    frame_of = np.repeat(t, persons)
    track = np.tile(np.arange(persons), frames)
    vis = np.where(rng.random((len(kp), k)) < 0.2, Visibility.OCCLUDED, Visibility.VISIBLE).astype(np.int8)
    lo, hi = kp.min(1), kp.max(1)
    occ, self_occ = occlusion_ratios(vis)
    data = SplitData(
        images=make_images_table(
            {
                "image_id": t + 1,
                "file_name": [f"seq_0/{i}.jpg" for i in t],
                "width": width,
                "height": height,
                "crowd_index_recomputed": rng.uniform(0, 1.2, frames),
                "sequence": "seq_0",
                "frame": t + 1,
                "video_frame": t,
            }
        ),
        instances=make_instances_table(
            {
                "instance_id": np.arange(len(kp)) + 1,
                "image_id": frame_of + 1,
                "bbox_x": lo[:, 0],
                "bbox_y": lo[:, 1],
                "bbox_w": (hi - lo)[:, 0],
                "bbox_h": (hi - lo)[:, 1],
                "area": np.prod(hi - lo, 1),
                "num_keypoints": np.full(len(kp), k),
                "occlusion_ratio": occ,
                "self_occlusion_ratio": self_occ,
                "track_id": track,
            }
        ),
        keypoints=kp,
        visibility=vis,
    )
    detected = rng.random(len(kp)) > 0.03
    noisy = kp[detected] + rng.normal(0, 2, (int(detected.sum()), k, 2))
    d_lo, d_hi = noisy.min(1), noisy.max(1)
    preds = Predictions(
        image_id=frame_of[detected] + 1,
        keypoints=np.concatenate([noisy, rng.uniform(0.3, 1, (len(noisy), k, 1))], axis=2),
        score=rng.uniform(0.96, 1.0, len(noisy)),
        box=np.c_[d_lo, d_hi - d_lo],
    )
    return data, preds


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def best_times(fn, repeat: int) -> tuple[float, float]:
    """Best (wall, CPU) seconds of ``repeat`` runs; CPU counts this process and its finished workers."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu + _children_cpu() - children)
    return min(walls), min(cpus)


def measure(
    frames: int, persons: int, repeat: int, workers: int = 2
) -> tuple[tuple[float, float], tuple[float, float], float]:
    from occbench.skeletons import JTA22
    from occbench.tracking.frames import build_frame_index
    from occbench.tracking.link import DETECT_AND_TRACK, link
    from occbench.tracking.metrics import TrackingGroundTruth, evaluate_tracking

    data, preds = make_sequence(frames, persons)
    index = build_frame_index(data.images)
    out = {}

    def do_link() -> None:
        out["linked"] = link(preds, index, DETECT_AND_TRACK).predictions

    link_s = best_times(do_link, repeat)
    gt = TrackingGroundTruth.from_split(data, JTA22, name="perf", split="test")

    def do_metrics() -> None:
        out["table"] = evaluate_tracking(gt, out["linked"], workers=workers)

    metrics_s = best_times(do_metrics, repeat)
    table = out["table"]
    mota = float(table[(table.breakdown == "standard") & (table.metric == "MOTA")]["value"].iloc[0])
    return link_s, metrics_s, mota


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="occbench perf tracking", description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=900)
    parser.add_argument("--persons", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="processes for the motmetrics accumulators")
    args = parser.parse_args(argv)
    print(
        f"jta22, {args.persons} people per frame; targets: linking <= {TARGET_LINK_S} s, metrics <= "
        f"{TARGET_METRICS_S} s at 900 frames"
    )
    print(
        f"{'frames':>7} {'link s (cpu)':>14} {'link ms/frame':>14} {'metrics s (cpu)':>16} "
        f"{'metrics ms/frame':>17} {'MOTA':>7}  (metrics with {args.workers} worker(s))"
    )
    for frames in sorted({max(1, args.frames // 4), max(1, args.frames // 2), args.frames}):
        (link_wall, link_cpu), (metrics_wall, metrics_cpu), mota = measure(
            frames, args.persons, args.repeat, args.workers
        )
        print(
            f"{frames:7d} {link_wall:6.3f} ({link_cpu:5.3f}) {1e3 * link_cpu / frames:14.3f} "
            f"{metrics_wall:7.2f} ({metrics_cpu:6.2f}) {1e3 * metrics_wall / frames:17.2f} {mota:7.4f}"
        )
    scale = args.frames / 900
    ok_link = link_cpu <= TARGET_LINK_S * scale
    ok_metrics = metrics_wall <= TARGET_METRICS_S * scale
    print("linking per frame: CPU time; metrics per frame: wall time (the workers run in parallel);")
    print("wall time is longer when other jobs share the cores")
    print(
        f"linking {'ok' if ok_link else 'ABOVE TARGET'} (CPU time), "
        f"metrics {'ok' if ok_metrics else 'ABOVE TARGET'} (wall time, {args.workers} worker(s))"
    )


if __name__ == "__main__":
    main()
