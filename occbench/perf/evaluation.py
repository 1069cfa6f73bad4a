"""Evaluation speed against the reference tools on CrowdPose val (16k detections, and 10x that).

In one run, from files (ground-truth JSON + results JSON) to numbers, best of ``--repeat``:
occbench's 9 standard CrowdPose stats; occbench's full breakdown; and the same standard stats
from xtcocotools, faster-coco-eval and xthotcoco (whichever import). Targets: the full
breakdown faster than the fastest reference's standard stats; the standard stats at least 20x
faster than xtcocotools; cost linear in detections.

    occbench perf evaluation [--json crowdpose_val.json] [--repeat 3] [--skip-slow]
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


def main(argv: list[str] | None = None) -> None:
    from occbench.evaluation import evaluate
    from occbench.predictions import coco_results_to_predictions, write_predictions

    parser = argparse.ArgumentParser(prog="occbench perf evaluation", description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-slow", action="store_true", help="skip xtcocotools on the 10x workload")
    args = parser.parse_args(argv)
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
