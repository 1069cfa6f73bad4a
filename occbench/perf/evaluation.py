"""Evaluation speed against the reference tools on CrowdPose val (16k detections, and 10x that).

In one run, from files (ground-truth JSON + results JSON) to numbers, best of ``--repeat``:
occbench's 9 standard CrowdPose stats; occbench's full breakdown; and the same standard stats
from xtcocotools, faster-coco-eval and xthotcoco (whichever import). Targets: the full
breakdown faster than the fastest reference's standard stats; the standard stats at least 20x
faster than xtcocotools; cost linear in detections.

    occbench perf evaluation [--json crowdpose_val.json] [--repeat 3] [--skip-slow]
    occbench perf evaluation --jta-like 20000 [--breakdowns all]
    occbench perf evaluation --jta-like 10000 --by-parts 50000 [--breakdowns all]

``--jta-like FRAMES`` instead measures time and peak memory (RSS of a fresh process) on a
generated JTA-shaped split: 22 joints, about 22 people and 25 detections per 1920x1080 frame.
Memory must grow with the number of frames only through per-person / per-detection arrays,
never through detection x person x joint arrays spanning the split.

``--by-parts PEOPLE`` writes that split as a dataset folder (parts of 250 frames) and a
predictions Parquet, and compares ``evaluate`` on them whole and by parts (groups of at most
PEOPLE people), each in a fresh process: time, peak RSS, and whether every row is the same.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from occbench.skeletons import CROWDPOSE14

DEFAULT_JSON = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "crowdpose" / "crowdpose_val.json"


def perturbed(raw: dict, copies: int, seed: int) -> list[dict]:
    """``copies`` noisy detections per labelled ground truth, plus 10% false positives."""
    rng = np.random.default_rng(seed)
    anns = [a for a in raw["annotations"] if not a["iscrowd"] and any(a["keypoints"][2::3])]
    kp = np.asarray([a["keypoints"] for a in anns], dtype=float).reshape(len(anns), -1, 3)
    image_ids = np.asarray([a["image_id"] for a in anns])
    dets = []
    for _ in range(copies):
        xy = kp[..., :2] + rng.normal(0, rng.uniform(1, 8, (len(anns), 1, 1)), kp[..., :2].shape)
        scores = rng.uniform(0.05, 1.0, kp.shape[:2])
        flat = np.concatenate([xy, scores[..., None]], -1).reshape(len(anns), -1).round(2)
        dets += [
            {"image_id": int(i), "category_id": 1, "keypoints": k, "score": round(float(s), 4)}
            for i, k, s in zip(image_ids, flat.tolist(), rng.uniform(0.1, 1, len(anns)), strict=True)
        ]
    fp = rng.choice(len(dets), len(dets) // 10)
    all_images = [im["id"] for im in raw["images"]]
    dets += [{**dets[i], "image_id": int(rng.choice(all_images)), "score": 0.3 * dets[i]["score"]} for i in fp]
    return dets


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()
        times.append(time.perf_counter() - start)
    return min(times)


def references(gt_path: Path, res_path: Path) -> dict[str, Callable[[], object]]:
    sigmas = np.asarray(CROWDPOSE14.sigmas)
    out: dict[str, Callable[[], object]] = {}
    try:
        from xtcocotools.coco import COCO as XtCOCO
        from xtcocotools.cocoeval import COCOeval as XtEval

        def xtcocotools() -> object:
            gt = XtCOCO(str(gt_path))
            ev = XtEval(gt, gt.loadRes(str(res_path)), "keypoints_crowd", sigmas, use_area=False)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
            return ev.stats

        out["xtcocotools"] = xtcocotools
    except ImportError:
        pass
    try:
        from faster_coco_eval import COCO as FCOCO
        from faster_coco_eval import COCOeval_faster

        def faster_coco_eval() -> object:
            gt = FCOCO(str(gt_path))
            ev = COCOeval_faster(
                gt,
                gt.loadRes(str(res_path)),
                iouType="keypoints_crowd",
                kpt_oks_sigmas=list(sigmas),
                use_area=False,
                print_function=lambda *a, **k: None,
            )
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
            return ev.stats

        out["faster-coco-eval"] = faster_coco_eval
    except ImportError:
        pass
    try:
        import xthotcoco

        def xthotcoco_eval() -> object:
            gt = xthotcoco.COCO(str(gt_path))
            ev = xthotcoco.COCOeval(gt, gt.loadRes(str(res_path)), "keypoints_crowd", sigmas, use_area=False)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
            return ev.stats

        out["xthotcoco"] = xthotcoco_eval
    except ImportError:
        pass
    return out


def jta_like(frames: int, seed: int = 0) -> tuple[object, object]:
    """A JTA-shaped ground truth (22 joints, Poisson(22) people per frame, mixed visibility) and
    detections (a noisy copy of ~90% of the people, duplicates and false positives)."""
    from occbench.datasets.format import occlusion_ratios
    from occbench.evaluation.inputs import GroundTruth
    from occbench.predictions import Predictions
    from occbench.skeletons import JTA22, Visibility

    rng = np.random.default_rng(seed)
    k = JTA22.num_joints
    per_frame = rng.poisson(22, frames)
    n = int(per_frame.sum())
    inst_image = np.repeat(np.arange(frames), per_frame)
    height = rng.uniform(40, 400, n)
    width = height * rng.uniform(0.3, 0.5, n)
    x0, y0 = rng.uniform(0, 1920 - width), rng.uniform(0, 1080 - height)
    unit = rng.uniform(0, 1, (n, k, 2))
    keypoints = np.stack(
        [x0[:, None] + unit[..., 0] * width[:, None], y0[:, None] + unit[..., 1] * height[:, None]], -1
    )
    visibility = rng.choice(
        np.array([Visibility.VISIBLE, Visibility.OCCLUDED, Visibility.SELF_OCCLUDED, Visibility.TRUNCATED], np.int8),
        size=(n, k),
        p=[0.55, 0.3, 0.1, 0.05],
    )
    occ, self_occ = occlusion_ratios(visibility)
    gt = GroundTruth(
        name="jta-like",
        split="test",
        schema=JTA22,
        default_protocol="coco",
        image_ids=np.arange(frames, dtype=np.int64) + 1,
        crowd_index=np.full(frames, np.nan),
        crowd_index_recomputed=rng.uniform(0, 1.5, frames),
        inst_image=inst_image,
        instance_ids=np.arange(n, dtype=np.int64) + 1,
        keypoints=keypoints,
        visibility=visibility,
        area=width * height * 0.53,
        bbox=np.column_stack([x0, y0, width, height]),
        iscrowd=np.zeros(n, dtype=bool),
        num_keypoints=(visibility != Visibility.TRUNCATED).sum(1),
        occlusion_ratio=occ,
        self_occlusion_ratio=self_occ,
    )
    src = np.concatenate([rng.choice(n, int(n * 0.9), replace=False), rng.choice(n, n // 10)])
    noise = rng.normal(0, 1, (len(src), k, 2)) * (height[src, None, None] * rng.uniform(0.005, 0.06, (len(src), 1, 1)))
    xy = keypoints[src] + noise
    fp = rng.choice(n, n // 8)
    xy = np.concatenate([xy, keypoints[fp] + rng.uniform(-300, 300, (len(fp), 1, 2))])
    owner = np.concatenate([src, fp])
    kp = np.concatenate([xy, rng.uniform(0.05, 1, (len(owner), k, 1))], -1)
    preds = Predictions(gt.image_ids[inst_image[owner]], kp, rng.uniform(0.05, 1, len(owner)).round(3))
    return gt, preds


def _jta_run(frames: int, breakdowns: str) -> None:
    from occbench.evaluation import evaluate

    gt, preds = jta_like(frames)
    if breakdowns != "inputs":
        evaluate(gt, preds, breakdowns=breakdowns, workers=2)


def jta_main(frames: int, breakdowns: str) -> None:
    """Time and peak RSS of the evaluation on a JTA-shaped split, each in a fresh process."""
    from occbench.perf._measure import mib, peak_rss_in_child

    gt, preds = jta_like(frames)
    print(f"JTA-like split: {frames:,} frames, {len(gt.area):,} people (22 joints), {len(preds):,} detections")
    base_s, base_rss = peak_rss_in_child(_jta_run, frames, "inputs")
    print(f"  generating the inputs alone      {base_s:8.2f} s   peak RSS {mib(base_rss)}")
    for label in ("none", breakdowns) if breakdowns != "none" else ("none",):
        seconds, rss = peak_rss_in_child(_jta_run, frames, label)
        print(
            f"  evaluate (breakdowns={label:5s})    {seconds - base_s:8.2f} s   peak RSS {mib(rss)} "
            f"(+{mib(rss - base_rss)} over the inputs)"
        )


def jta_like_folder(frames: int, out: Path, frames_per_part: int = 250) -> tuple[Path, Path]:
    """``jta_like(frames)`` as a dataset folder (one part per ``frames_per_part`` frames, as a
    converter writes sequences) and a predictions Parquet."""
    from occbench.datasets.format import SplitData, make_images_table, make_instances_table
    from occbench.datasets.store import DatasetWriter
    from occbench.predictions import write_predictions

    gt, preds = jta_like(frames)
    writer = DatasetWriter(out / "dataset", gt.schema.name, overwrite=True)
    for p, first in enumerate(range(0, frames, frames_per_part)):
        frame = np.arange(first, min(first + frames_per_part, frames))
        rows = np.flatnonzero((gt.inst_image >= frame[0]) & (gt.inst_image <= frame[-1]))
        images = make_images_table(
            {
                "image_id": gt.image_ids[frame],
                "file_name": [f"{i}.jpg" for i in gt.image_ids[frame]],
                "width": 1920,
                "height": 1080,
                "crowd_index_recomputed": gt.crowd_index_recomputed[frame],
            }
        )
        instances = make_instances_table(
            {
                "instance_id": gt.instance_ids[rows],
                "image_id": gt.image_ids[gt.inst_image[rows]],
                "bbox_x": gt.bbox[rows, 0],
                "bbox_y": gt.bbox[rows, 1],
                "bbox_w": gt.bbox[rows, 2],
                "bbox_h": gt.bbox[rows, 3],
                "area": gt.area[rows],
                "num_keypoints": gt.num_keypoints[rows],
                "occlusion_ratio": gt.occlusion_ratio[rows],
                "self_occlusion_ratio": gt.self_occlusion_ratio[rows],
            }
        )
        data = SplitData(images, instances, gt.keypoints[rows], gt.visibility[rows])
        writer.write_part("test", f"part-{p:05d}", data)
    writer.finalize(name="jta-like", source="jta", area_convention="bbox")
    return out / "dataset", write_predictions(out / "predictions.parquet", preds)


def _folder_run(folder: str, predictions: str, breakdowns: str, group: int | None, table_out: str) -> None:
    """``group`` 0: the whole split; None: by parts with the default group sizes; else by parts
    with groups of at most ``group`` people."""
    from occbench.evaluation import by_parts, evaluate

    if group:
        by_parts.GROUP_INSTANCES = group
    table = evaluate(folder, predictions, breakdowns=breakdowns, split="test", by_parts=group != 0, workers=2)
    table.to_pickle(table_out)


def _build_folder(frames: int, out: str) -> None:
    jta_like_folder(frames, Path(out))


def by_parts_main(frames: int, group: int, breakdowns: str, whole: bool = True) -> None:
    """By parts (and, with ``whole``, the whole split) on a JTA-shaped dataset folder, each in a
    fresh process; ``group`` 0 takes the default group sizes."""
    import shutil

    import pandas as pd

    from occbench.perf._measure import mib, peak_rss_in_child

    work = Path(tempfile.mkdtemp(prefix="occbench-perf-parts-"))
    try:
        seconds, rss = peak_rss_in_child(_build_folder, frames, str(work))  # the inputs, built in a child
        folder, predictions = work / "dataset", work / "predictions.parquet"
        people = sum(open_dataset_sizes(folder))
        print(
            f"JTA-like dataset folder: {frames:,} frames, {people:,} people in parts of 250 frames,"
            f" breakdowns={breakdowns} (built in {seconds:.0f} s, peak RSS {mib(rss)})"
        )
        tables = {}
        runs = [("whole split", 0)] if whole else []
        runs.append((f"by parts ({group:,} people)" if group else "by parts (default groups)", group or None))
        for label, size in runs:
            out = work / f"table-{size}.pkl"
            seconds, rss = peak_rss_in_child(_folder_run, str(folder), str(predictions), breakdowns, size, str(out))
            tables[label] = pd.read_pickle(out)
            groups = tables[label].attrs["provenance"].get("evaluated_by_parts", "-")
            print(f"  {label:28s} {seconds:8.2f} s   peak RSS {mib(rss)}   groups {groups}")
        if whole:
            whole_table, parts = tables.values()
            same = whole_table[["breakdown", "subset", "metric"]].equals(parts[["breakdown", "subset", "metric"]]) and (
                whole_table["value"].to_numpy().tobytes() == parts["value"].to_numpy().tobytes()
            )
            print(f"  {len(whole_table):,} rows, identical by parts: {same}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def open_dataset_sizes(folder: Path) -> list[int]:
    from occbench.datasets.store import open_dataset

    return open_dataset(folder).part_sizes("test")


def main(argv: list[str] | None = None) -> None:
    from occbench.evaluation import evaluate
    from occbench.predictions import coco_results_to_predictions, write_predictions

    parser = argparse.ArgumentParser(prog="occbench perf evaluation", description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-slow", action="store_true", help="skip xtcocotools on the 10x workload")
    parser.add_argument("--jta-like", type=int, metavar="FRAMES", help="time + peak memory on a JTA-shaped split")
    parser.add_argument("--breakdowns", default="all", help="breakdowns for --jta-like (default all)")
    parser.add_argument(
        "--by-parts",
        type=int,
        metavar="PEOPLE",
        help="with --jta-like: whole split vs by parts (groups of at most PEOPLE; 0: the default sizes)",
    )
    parser.add_argument(
        "--parts-only",
        action="store_true",
        help="with --by-parts: skip the whole split (too big for memory at JTA size)",
    )
    args = parser.parse_args(argv)
    if args.jta_like and args.by_parts is not None:
        by_parts_main(args.jta_like, args.by_parts, args.breakdowns, whole=not args.parts_only)
        return
    if args.jta_like:
        jta_main(args.jta_like, args.breakdowns)
        return
    if not args.json.exists():
        raise SystemExit(f"{args.json} not found; pass --json path/to/crowdpose_val.json")
    raw = json.loads(args.json.read_text())
    work = Path(tempfile.mkdtemp(prefix="occbench-perf-eval-"))
    rows = []
    for label, copies in (("16k", 2), ("160k", 20)):
        dets = perturbed(raw, copies, seed=copies)
        res = work / f"results_{label}.json"
        res.write_text(json.dumps(dets))
        timings: dict[str, float] = {}
        timings["occbench standard"] = best(
            lambda res=res: evaluate(args.json, str(res), breakdowns="none"), args.repeat
        )
        timings["occbench full breakdown"] = best(lambda res=res: evaluate(args.json, str(res)), args.repeat)
        # The same detections in occbench's own predictions format (Parquet): no JSON number parsing.
        native = write_predictions(work / f"predictions_{label}.parquet", coco_results_to_predictions(dets, 14))
        timings["occbench standard, parquet"] = best(
            lambda native=native: evaluate(args.json, native, breakdowns="none"), args.repeat
        )
        for name, fn in references(args.json, res).items():
            if name == "xtcocotools" and (args.skip_slow and label == "160k"):
                continue
            timings[name] = best(fn, 1 if name == "xtcocotools" else args.repeat)
        rows.append((label, len(dets), timings))

    print(f"CrowdPose val ({len(raw['images'])} images), from files to stats, best of {args.repeat}:")
    for label, n, timings in rows:
        refs = {k: v for k, v in timings.items() if not k.startswith("occbench")}
        fastest = min(refs, key=refs.get) if refs else None
        print(f"\n{label}: {n:,} detections")
        for name, seconds in timings.items():
            print(f"  {name:26s} {seconds:8.3f} s")
        std, full = timings["occbench standard"], timings["occbench full breakdown"]
        if fastest:
            verdict = "ok" if full < refs[fastest] else "MISSED"
            print(
                f"  full breakdown vs fastest reference ({fastest}) standard: {refs[fastest] / full:5.2f}x  {verdict}"
            )
        if "xtcocotools" in refs:
            ratio = refs["xtcocotools"] / std
            print(f"  standard vs xtcocotools: {ratio:5.1f}x faster  {'ok' if ratio >= 20 else 'MISSED (target 20x)'}")
    if len(rows) == 2:
        growth_dets = rows[1][1] / rows[0][1]
        growth_std = rows[1][2]["occbench standard"] / rows[0][2]["occbench standard"]
        growth_full = rows[1][2]["occbench full breakdown"] / rows[0][2]["occbench full breakdown"]
        print(
            f"\nscaling: {growth_dets:.1f}x detections -> standard {growth_std:.1f}x, full {growth_full:.1f}x time "
            "(linear or better: cost per image is capped by maxDets=20)"
        )


if __name__ == "__main__":
    main()
