"""JTA conversion speed and memory (issue 4's benchmark), all measured in one run.

- Speed, on one 900-frame x 40-person sequence (about 51 MB of JSON, 792k rows, written here in
  JTA's own formatting): occbench's whole conversion of the sequence (parse, checks, grouping,
  visibility, boxes, crowdIndex, Parquet) against ``json.load`` plus per-row Python grouping into
  poses (target: at least 5x faster), and against the fastest raw numeric parse of the same file
  among orjson -> numpy and pyarrow's CSV reader over the row text (target: within 2x).
- Memory: 20 such sequences converted with 2 workers; peak memory of the whole process tree
  (PSS, and summed RSS for reference), sampled every 20 ms (target: under 1.5 GB).

The people in the file walk through JTA's camera view by default (``--layout crowd``, JTA-like);
``--layout uniform`` scatters every joint over the frame, the worst case for crowdIndex (see
``write_sequence``).

    occbench perf jta [--frames 900] [--persons 40] [--sequences 20] [--workers 2] [--repeat 3]
                      [--layout crowd|uniform]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from occbench.perf._measure import best_time, mib

# JTA's camera (SOURCES.md) and a standing body in metres for its 22 joints: (lateral offset,
# height above the feet); the joints of one person lie within a body-sized box, as in JTA.
JTA_FOCAL, JTA_CENTER = 1158.0, (960.0, 540.0)
BODY = np.array(
    [
        [0, 1.75], [0, 1.65], [0, 1.52], [-0.05, 1.48], [-0.2, 1.45], [-0.25, 1.17], [-0.27, 0.92],
        [0.05, 1.48], [0.2, 1.45], [0.25, 1.17], [0.27, 0.92], [0, 1.45], [0, 1.3], [0, 1.15],
        [0, 1.0], [0, 0.95], [-0.1, 0.93], [-0.11, 0.5], [-0.12, 0.08], [0.1, 0.93], [0.11, 0.5],
        [0.12, 0.08],
    ]
)  # fmt: skip
LAYOUTS = ("crowd", "uniform")


def write_sequence(path: Path, frames: int, persons: int, seed: int = 0, layout: str = "crowd") -> int:
    """A JTA-like sequence file in JTA's row format (about 64 bytes per row, as JTA's 51 MB for
    900 x 40); returns its size in bytes.

    ``crowd``: people walk on a ground plane 3 m below JTA's camera, 4-40 m away, and their
    joints are projected through its intrinsics, so each person is a body-sized figure and
    nearby people overlap as in JTA's crowds. ``uniform``: every joint uniform over the frame,
    so every person's box spans the frame and every pair overlaps (the worst case for crowdIndex).
    """
    rng = np.random.default_rng(seed)
    n = frames * persons * 22
    frame = np.repeat(np.arange(1, frames + 1), persons * 22)
    person = np.tile(np.repeat(np.arange(persons) + 1000, 22), frames)
    joint = np.tile(np.arange(22), frames * persons)
    if layout == "uniform":
        xy = rng.uniform([-100, -50], [2000, 1100], (n, 2))
        xyz = rng.normal([0, 0, 15], [5, 2, 8], (n, 3))
    elif layout == "crowd":
        # A walk (1-5 cm per frame) in the camera's view: the lateral position as a fraction
        # of the half-width seen at the person's depth, both folded back at the view's edges,
        # so every person stays (mostly) in the frame for the whole sequence.
        step = np.arange(frames)[:, None]
        heading = rng.uniform(0, 2 * np.pi, persons)
        speed = rng.uniform(0.01, 0.05, persons)
        ground_z = _fold(rng.uniform(4, 40, persons) + np.sin(heading) * speed * step, 4, 40)  # (F, P)
        half_width = JTA_CENTER[0] / JTA_FOCAL * ground_z
        ground_x = _fold(rng.uniform(-0.9, 0.9, persons) + np.cos(heading) * speed * step / 10, -0.9, 0.9) * half_width
        height = rng.uniform(0.9, 1.1, persons)[:, None]
        jitter = rng.normal(0, 0.03, (frames, persons, 22, 3))
        x3 = ground_x[..., None] + BODY[:, 0] * height + jitter[..., 0]
        y3 = 3.0 - BODY[:, 1] * height + jitter[..., 1]  # camera coordinates: y points down
        z3 = ground_z[..., None] + jitter[..., 2]
        xyz = np.column_stack([x3.ravel(), y3.ravel(), z3.ravel()])
        xy = JTA_FOCAL * xyz[:, :2] / xyz[:, 2:] + JTA_CENTER
    else:
        raise ValueError(f"layout must be one of {LAYOUTS}")
    flags = rng.integers(0, 2, (n, 2))
    ints = np.column_stack([frame, person, joint, flags]).tolist()
    floats = np.round(np.column_stack([xy, xyz]), 4).tolist()  # JTA writes short decimals
    rows = [[*a[:3], *b, *a[3:]] for a, b in zip(ints, floats, strict=True)]
    path.write_text(json.dumps(rows))
    return path.stat().st_size


def _fold(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """``values`` reflected back into [low, high] at both ends (a walk that turns at the edges)."""
    span = high - low
    phase = np.mod(values - low, 2 * span)
    return low + np.where(phase > span, 2 * span - phase, phase)


def json_load_and_group(path: Path) -> dict:
    """The baseline: json.load, then one Python loop over rows into per-(frame, person) poses."""
    with path.open() as f:
        rows = json.load(f)
    poses: dict[tuple[int, int], np.ndarray] = {}
    for row in rows:
        key = (int(row[0]), int(row[1]))
        pose = poses.get(key)
        if pose is None:
            pose = poses[key] = np.zeros((22, 7))
        pose[int(row[2])] = row[3:]
    return poses


def orjson_numpy(path: Path) -> np.ndarray:
    import orjson

    return np.asarray(orjson.loads(path.read_bytes()), dtype=np.float64)


def pyarrow_rows(path: Path) -> np.ndarray:
    from occbench.datasets.jta import parse_rows

    return parse_rows(path)


def convert(root: Path, out: Path, workers: int) -> None:
    from occbench.datasets.jta import JTAOptions, convert_jta

    convert_jta(root, out, options=JTAOptions(no_videos=True, frame_size=(1920, 1080)), workers=workers, overwrite=True)


def _tree_memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in bytes summed over a process and all its descendants (from /proc).

    Summed RSS counts pages that forked workers share with their parent once per process; PSS
    splits each shared page between its sharers, so it is the tree's real footprint.
    """
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    rss = pss = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
        except OSError:
            continue
    return rss, pss


def peak_tree_memory(fn, interval: float = 0.02) -> tuple[float, int, int]:
    """Run ``fn()`` here, sampling this process tree's memory; (seconds, peak RSS, peak PSS)."""
    peak, done = [0, 0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss, pss = _tree_memory(os.getpid())
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            time.sleep(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    done.set()
    thread.join()
    return elapsed, peak[0], peak[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="occbench perf jta", description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=900)
    parser.add_argument("--persons", type=int, default=40)
    parser.add_argument("--sequences", type=int, default=20, help="sequences for the memory run (0: skip it)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--layout", choices=LAYOUTS, default="crowd", help="where the people are (see write_sequence)")
    args = parser.parse_args(argv)
    os.environ.setdefault("OCCBENCH_NO_PROGRESS", "1")

    work = Path(tempfile.mkdtemp(prefix="occbench-perf-jta-"))
    try:
        one = work / "one"
        (one / "annotations" / "test").mkdir(parents=True)
        seq = one / "annotations" / "test" / "seq_0.json"
        size = write_sequence(seq, args.frames, args.persons, layout=args.layout)
        print(f"sequence: {args.frames} frames x {args.persons} persons ({args.layout}), {size / 1e6:.1f} MB")

        # Alternate the contenders round by round so machine noise hits them alike.
        times: dict[str, list[float]] = {"baseline": [], "orjson": [], "pyarrow": [], "occbench": []}
        for _ in range(args.repeat):
            times["baseline"].append(best_time(lambda: json_load_and_group(seq), 1))
            times["orjson"].append(best_time(lambda: orjson_numpy(seq), 1))
            times["pyarrow"].append(best_time(lambda: pyarrow_rows(seq), 1))
            times["occbench"].append(best_time(lambda: convert(one, work / "out-one", 1), 1))
        best = {k: min(v) for k, v in times.items()}
        raw_name = min(("orjson", "pyarrow"), key=best.get)
        print(f"json.load + Python grouping     {best['baseline'] * 1e3:8.0f} ms")
        print(f"orjson -> numpy (raw parse)     {best['orjson'] * 1e3:8.0f} ms")
        print(f"pyarrow CSV over rows (raw)     {best['pyarrow'] * 1e3:8.0f} ms")
        print(f"occbench convert (one sequence) {best['occbench'] * 1e3:8.0f} ms")
        print(f"speed-up over json.load + grouping: {best['baseline'] / best['occbench']:.2f}x (target >= 5x)")
        print(f"vs fastest raw parse ({raw_name}): {best['occbench'] / best[raw_name]:.2f}x its time (target <= 2x)")

        if args.sequences < 1:
            return
        many = work / "many"
        (many / "annotations" / "test").mkdir(parents=True)
        for i in range(args.sequences):
            os.link(seq, many / "annotations" / "test" / f"seq_{i}.json")  # same bytes, no extra disk
        elapsed, peak_rss, peak_pss = peak_tree_memory(lambda: convert(many, work / "out-many", args.workers))
        print(
            f"{args.sequences} sequences, {args.workers} workers: {elapsed:.1f} s; process tree peak "
            f"PSS {mib(peak_pss)} (target < 1,536 MiB), summed RSS {mib(peak_rss)} (counts shared pages per process)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
