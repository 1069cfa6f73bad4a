"""``occbench predict``: run a top-down model over a dataset split and write its predictions.

Flow, per image: DataLoader workers decode it (``frames``); the main process moves it to the
device once and crops all its persons in one ``grid_sample`` (``geometry``); crops queue up
across images and run through the network in fixed-size batches, with the flipped crops in
the same forward when ``flip`` is on; heatmaps are decoded on the device (``decode``); the
previous batch's results come back to the host while the device works on the next one.
When every person of a run of images (a *part*) is done, the part is rescored, NMS'd
(``postprocess``) and written atomically to ``OUT.partial/parts/``, so an interrupted run
resumes at the first unfinished part with ``resume=True``. At the end the parts are joined
into ``predictions.parquet`` (the ``occbench.predictions`` contract), ``results.json`` (COCO
results) and ``run.json`` (settings, provenance and stage timings), and ``OUT.partial`` is
renamed to ``OUT``.

Stage timings are host wall-clock seconds. On an asynchronous device (CUDA) the device's
work shows up where the host waits for it: ``transfer`` (results back to the host).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch
from rich.progress import ProgressColumn, Task
from rich.text import Text

from occbench import __version__
from occbench.datasets.store import Dataset, open_dataset
from occbench.errors import OccbenchError
from occbench.fileio import replace_dir, write_json_atomic
from occbench.inference.boxes import BoxSet, load_boxes
from occbench.inference.decode import DECODERS, decode_heatmaps, merge_flip, occnet_select
from occbench.inference.frames import IMAGES_PER_UNIT, DecodeUnit, FrameItem, FrameStream, decode_units, frame_loader
from occbench.inference.geometry import (
    PIXEL_STD,
    affine_matrices,
    box_to_center_scale,
    crop_images,
    heatmap_to_image,
    sampling_grids,
)
from occbench.inference.model import TopDownModel, resolve_model, split_outputs
from occbench.inference.postprocess import NMS_KINDS, OKS_NMS_THRESHOLD, PoseNMSParams, oks_nms, pose_nms, rescore
from occbench.predictions import (
    METADATA_KEY,
    PREDICTIONS_FILE,
    Predictions,
    read_predictions,
    write_coco_results,
    write_predictions,
)
from occbench.progress import make_progress

COCO_RESULTS_FILE = "results.json"
RUN_FILE = "run.json"
PARTS_DIR = "parts"
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class PredictOptions:
    """Everything but the model and the dataset. ``identity()`` is what a resumed run must share."""

    boxes: str = "gt"
    score_threshold: float = 0.0
    seed: int = 0
    flip: bool = False
    decoder: str = "argmax"
    nms: str = "oks"
    oks_threshold: float = OKS_NMS_THRESHOLD
    batch_size: int = 32
    amp: bool | str = False  # False, True (bf16 where supported, else fp16), "bf16" or "fp16"
    channels_last: bool = False
    device: str = "auto"
    workers: int | None = None  # decode processes; None: 0 on a CPU, up to 8 with an accelerator
    lanes: int | None = None  # CPU: threads each running its own images; None: one per torch thread, up to 4
    image_root: str | None = None
    part_images: int = 1000
    coco_json: bool = True

    def check(self) -> None:
        if self.decoder not in DECODERS:
            raise OccbenchError(f"unknown decoder {self.decoder!r}; known: {', '.join(DECODERS)}", field="--decode")
        if self.nms not in NMS_KINDS:
            raise OccbenchError(f"unknown NMS {self.nms!r}; known: {', '.join(NMS_KINDS)}", field="--nms")
        if self.batch_size < 1:
            raise OccbenchError("must be at least 1", field="--batch-size")
        if self.lanes is not None and self.lanes < 1:
            raise OccbenchError("must be at least 1", field="--lanes")
        if isinstance(self.amp, str) and self.amp not in AMP_DTYPES:
            raise OccbenchError(f"unknown AMP dtype {self.amp!r}; known: bf16, fp16", field="--amp-dtype")

    def identity(self) -> dict[str, Any]:
        keys = ("boxes", "score_threshold", "seed", "flip", "decoder", "nms", "oks_threshold", "amp", "channels_last")
        return {k: getattr(self, k) for k in keys}


@dataclass
class PredictResult:
    out_dir: Path
    predictions: Predictions
    metadata: dict[str, Any]


def select_device(name: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; a named device must be available."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise OccbenchError(f"unknown device {name!r}", field="--device") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise OccbenchError("CUDA is not available on this machine", field="--device")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise OccbenchError("MPS is not available on this machine", field="--device")
    return device


def amp_dtype(amp: bool | str, device: torch.device) -> torch.dtype | None:
    if amp is False or amp is None:
        return None
    if isinstance(amp, str):
        return AMP_DTYPES[amp]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float16 if device.type == "mps" else torch.bfloat16


class _Stages:
    """Accumulated wall-clock seconds per pipeline stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} persons/s" if speed else "- persons/s", style="cyan")


@dataclass
class _Plan:
    """The images still to do (rows), their persons (contiguous per image) and the parts."""

    images: pd.DataFrame
    boxes: BoxSet
    row_of_person: np.ndarray  # (N,)
    start: np.ndarray  # (I,) first person of each row
    count: np.ndarray  # (I,)
    center: np.ndarray  # (N, 2)
    scale: np.ndarray  # (N, 2)
    image_size: np.ndarray  # (I, 2) width, height the images table gives
    thetas: torch.Tensor  # (N, 2, 3) float32 sampling grids for images of that size
    units: list[DecodeUnit]
    part_of_row: np.ndarray  # (I,)
    part_rows: list[np.ndarray] = field(default_factory=list)


def _make_plan(
    dataset: Dataset,
    images: pd.DataFrame,
    boxes: BoxSet,
    input_size: tuple[int, int],
    part_images: int,
    image_root: str | None,
) -> _Plan:
    """``input_size`` is the model's (height, width)."""
    has_person = images["image_id"].isin(boxes.image_id).to_numpy()
    todo = images.loc[has_person]
    # Stills first in dataset order, then each video's frames in order: decode units and parts
    # are contiguous row ranges, and a video is read in one sequential pass.
    video_codes, _ = pd.factorize(todo["video"].fillna("").to_numpy(object), sort=True)
    still = (todo["video"].fillna("") == "").to_numpy()
    frames = todo["video_frame"].to_numpy(np.int64)
    in_video = np.flatnonzero(~still)
    order = np.r_[np.flatnonzero(still), in_video[np.lexsort((frames[in_video], video_codes[in_video]))]]
    todo = todo.iloc[order].reset_index(drop=True)
    row = pd.Series(np.arange(len(todo)), index=todo["image_id"].to_numpy(np.int64))
    row_of_person = row.reindex(boxes.image_id).to_numpy()
    wanted = ~np.isnan(row_of_person)
    person_order = np.argsort(row_of_person[wanted], kind="stable")
    take = np.flatnonzero(wanted)[person_order]
    boxes = BoxSet(boxes.image_id[take], boxes.box[take], boxes.score[take], boxes.metadata, boxes.warnings)
    row_of_person = row_of_person[take].astype(np.int64)
    count = np.bincount(row_of_person, minlength=len(todo))
    start = np.r_[0, np.cumsum(count)[:-1]].astype(np.int64)
    crop_h, crop_w = input_size
    center, scale = box_to_center_scale(boxes.box, crop_w / crop_h)
    # Every person's sampling grid at once, for the image size the table gives; an image that
    # decodes to another size gets its own at crop time.
    image_size = todo[["width", "height"]].to_numpy(np.float64).reshape(-1, 2)
    matrices = affine_matrices(center, scale, (crop_w, crop_h))
    thetas = sampling_grids(matrices, image_size[row_of_person].T, (crop_w, crop_h))
    units = decode_units(dataset, todo, image_root, per_unit=max(1, min(IMAGES_PER_UNIT, part_images)))
    part_of_row = np.zeros(len(todo), dtype=np.int64)
    part, filled = 0, 0
    for unit in units:
        if filled >= part_images:
            part, filled = part + 1, 0
        part_of_row[list(unit.positions)] = part
        filled += len(unit.positions)
    parts = [np.flatnonzero(part_of_row == p) for p in range(part + 1)] if len(todo) else []
    return _Plan(
        todo,
        boxes,
        row_of_person,
        start,
        count,
        center,
        scale,
        image_size,
        torch.from_numpy(thetas.astype(np.float32)),
        units,
        part_of_row,
        parts,
    )


class _PartCollector:
    """Per-person results of the open parts; calls ``finish`` when a part has all its persons."""

    def __init__(self, plan: _Plan, num_joints: int, finish: Callable[[int, slice, dict[str, np.ndarray]], None]):
        self.plan = plan
        self.k = num_joints
        self.finish = finish
        self.open: dict[int, dict[str, Any]] = {}
        self.lock = threading.Lock()  # lanes store concurrently; a part is finished (written) once

    def _part(self, part: int) -> dict[str, Any]:
        if part not in self.open:
            rows = self.plan.part_rows[part]
            lo = int(self.plan.start[rows[0]])
            hi = int(self.plan.start[rows[-1]] + self.plan.count[rows[-1]])
            n = hi - lo
            self.open[part] = {
                "span": slice(lo, hi),
                "left": n,
                "coords": np.zeros((n, self.k, 2)),
                "scores": np.zeros((n, self.k), np.float32),
                "occluded": np.full((n, self.k), -1, np.int8),
            }
        return self.open[part]

    def store(self, persons: np.ndarray, coords: np.ndarray, scores: np.ndarray, occluded: np.ndarray | None) -> None:
        with self.lock:
            parts = self.plan.part_of_row[self.plan.row_of_person[persons]]
            for part in np.unique(parts):
                sel = parts == part
                state = self._part(int(part))
                local = persons[sel] - state["span"].start
                state["coords"][local] = coords[sel]
                state["scores"][local] = scores[sel]
                if occluded is not None:
                    state["occluded"][local] = occluded[sel]
                state["left"] -= int(sel.sum())
                if state["left"] == 0:
                    del self.open[int(part)]
                    self.finish(int(part), state["span"], state)


def postprocess_part(
    plan: _Plan, span: slice, state: dict[str, np.ndarray], options: PredictOptions, sigmas: np.ndarray
) -> Predictions:
    """Rescore and NMS the persons ``span`` of the plan (whole images) into predictions."""
    coords, scores, occluded = state["coords"], state["scores"].astype(np.float64), state["occluded"]
    groups = plan.row_of_person[span]
    box_scores = plan.boxes.score[span]
    boxes = plan.boxes.box[span]
    if options.nms == "pose":
        result = pose_nms(groups, coords, scores, boxes, PoseNMSParams())
        order = np.argsort(result.picks, kind="stable")
        sel = result.picks[order]
        coords, scores = result.coords[order], result.joint_scores[order]
        instance = rescore(scores, box_scores[sel])
    else:
        instance = rescore(scores, box_scores)
        keep = np.ones(len(groups), dtype=bool)
        if options.nms == "oks":
            areas = np.prod(plan.scale[span] * PIXEL_STD, axis=1)
            keep = oks_nms(groups, coords, instance, areas, sigmas, options.oks_threshold)
        sel = np.flatnonzero(keep)
        coords, scores, instance = coords[sel], scores[sel], instance[sel]
    return Predictions(
        image_id=plan.boxes.image_id[span][sel],
        keypoints=np.concatenate([coords, scores[..., None]], axis=2),
        score=instance,
        box=boxes[sel],
        occluded=occluded[sel],
    )


class _Runner:
    """Crops into a batch buffer, runs full batches and decodes them; one per ``predict`` call.

    Normalised crops are written straight into a preallocated (B, 3, H, W) buffer (the flipped
    copies go to a second half), so no per-batch concatenation copies them again. Reusing the
    buffer is safe on asynchronous devices: every write is queued after the forward that read it.
    """

    def __init__(self, model: TopDownModel, plan: _Plan, options: PredictOptions, device: torch.device, flip_perm):
        self.model = model
        self.plan = plan
        self.options = options
        self.device = device
        self.flip_perm = torch.as_tensor(flip_perm, dtype=torch.long, device=device)
        self.norm_a, self.norm_b = model.normalisation(device)
        self.amp = amp_dtype(options.amp, device)
        self.stages = _Stages()
        size = options.batch_size
        height, width = model.input_size
        fmt = torch.channels_last if options.channels_last else torch.contiguous_format
        self.buffer = torch.empty((size * (2 if options.flip else 1), 3, height, width), device=device).to(
            memory_format=fmt
        )
        self.persons = np.zeros(size, dtype=np.int64)
        self.filled = 0
        self.in_flight: tuple[np.ndarray, torch.Tensor, torch.Tensor, torch.Tensor | None] | None = None
        self.heatmap_size: tuple[int, int] | None = None  # (width, height)
        self.decode_worker_seconds = 0.0

    def _crop(self, item: FrameItem) -> tuple[torch.Tensor, np.ndarray]:
        """Raw (unnormalised) crops of every person of one image."""
        plan = self.plan
        lo, n = int(plan.start[item.position]), int(plan.count[item.position])
        persons = np.arange(lo, lo + n)
        height, width = item.image.shape[:2]
        crop_h, crop_w = self.model.input_size
        if (width, height) == tuple(plan.image_size[item.position]):
            thetas = plan.thetas[lo : lo + n]
        else:
            matrices = affine_matrices(plan.center[persons], plan.scale[persons], (crop_w, crop_h))
            grids = sampling_grids(matrices, (width, height), (crop_w, crop_h))
            thetas = torch.from_numpy(grids.astype(np.float32))
        image = item.image.to(self.device, non_blocking=True).permute(2, 0, 1)
        if self.model.channel_order == "BGR":
            image = image.flip(0)
        crops = crop_images(image.float(), thetas.to(self.device, non_blocking=True), (crop_w, crop_h))
        return crops, persons

    def add_image(self, item: FrameItem, collector: _PartCollector) -> int:
        """Crop one image's persons into the buffer, running each batch it fills; returns persons done."""
        with self.stages("crop"):
            crops, persons = self._crop(item)
        size, done, at = self.options.batch_size, 0, 0
        while at < len(persons):
            take = min(len(persons) - at, size - self.filled)
            with self.stages("crop"):
                torch.addcmul(
                    self.norm_b, crops[at : at + take], self.norm_a, out=self.buffer[self.filled : self.filled + take]
                )
            self.persons[self.filled : self.filled + take] = persons[at : at + take]
            self.filled += take
            at += take
            if self.filled == size:
                done += self._run(collector)
        return done

    def flush(self, collector: _PartCollector) -> int:
        """Run the last, partial batch and collect everything still on the device."""
        done = self._run(collector) if self.filled else 0
        return done + self._collect(collector)

    def _run(self, collector: _PartCollector) -> int:
        n, self.filled = self.filled, 0
        persons = self.persons[:n].copy()
        with self.stages("forward"):
            coords, maxvals, flags = self._forward(n)
        # The previous batch comes back while the device runs this one.
        done = self._collect(collector)
        self.in_flight = (persons, coords, maxvals, flags)
        return done

    def _forward(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        size = self.options.batch_size
        if self.options.flip:
            self.buffer[size : size + n] = self.buffer[:n].flip(3)
            x = self.buffer if n == size else torch.cat([self.buffer[:n], self.buffer[size : size + n]])
        else:
            x = self.buffer[:n]
        with torch.autocast(self.device.type, dtype=self.amp, enabled=self.amp is not None):
            heatmaps, vis, occ = split_outputs(self.model.module(x))
        maps = [m.float() for m in ((vis, occ) if occ is not None else (heatmaps,))]
        if self.options.flip:
            maps = [merge_flip(m[:n], m[n:], self.flip_perm) for m in maps]
        flags = None
        chosen = maps[0]
        if occ is not None:
            chosen, flags = occnet_select(maps[0], maps[1])
        coords, maxvals = decode_heatmaps(chosen, self.options.decoder)
        self.heatmap_size = (chosen.shape[3], chosen.shape[2])
        return coords, maxvals, flags

    def _collect(self, collector: _PartCollector) -> int:
        if self.in_flight is None:
            return 0
        persons, coords, maxvals, flags = self.in_flight
        self.in_flight = None
        with self.stages("transfer"):
            coords_np = coords.cpu().numpy().astype(np.float64)
            maxvals_np = maxvals.cpu().numpy()
            flags_np = None if flags is None else flags.cpu().numpy()
        with self.stages("decode"):
            plan = self.plan
            assert self.heatmap_size is not None
            image_xy = heatmap_to_image(coords_np, plan.center[persons], plan.scale[persons], self.heatmap_size)
            collector.store(persons, image_xy, maxvals_np, flags_np)
        return len(persons)


MAX_LANES = 4  # beyond this the lanes' Python work (module calls, bookkeeping) contends for the GIL


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _default_workers(device: torch.device, requested: int | None) -> int:
    if requested is not None:
        return requested
    # On a CPU the lanes decode their own images: a decoding process would only compete.
    return 0 if device.type == "cpu" else max(1, min(8, _cores() - 1))


def _lanes(device: torch.device, options: PredictOptions) -> int:
    """Lanes of a run: only on a CPU, and only where the images are decoded in the lanes.

    By default one per intra-op thread torch would use (``torch.get_num_threads()``: it follows
    ``OMP_NUM_THREADS`` and a benchmark cell's ``threads``), up to ``MAX_LANES``.
    """
    if device.type != "cpu" or _default_workers(device, options.workers) > 0:
        return 1
    return options.lanes if options.lanes is not None else max(1, min(MAX_LANES, torch.get_num_threads()))


def lane_threads(lanes: int) -> int | None:
    """Intra-op threads per lane: an equal share of torch's threads (``None``: one lane, unchanged)."""
    return max(1, torch.get_num_threads() // lanes) if lanes > 1 else None


@contextlib.contextmanager
def intra_op_threads(count: int | None) -> Iterator[None]:
    """torch's intra-op threads for the duration (``None``: unchanged); restored afterwards."""
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run_lane(
    runner: _Runner,
    frames: Iterable[FrameItem],
    collector: _PartCollector,
    advance: Callable[[int], None],
    stop: threading.Event,
) -> None:
    """Crop, batch and run one lane's images (decoded by ``frames``) until done or stopped."""
    with torch.inference_mode():  # thread-local: each lane enters it
        wait = time.perf_counter()
        for item in frames:
            runner.stages.add("wait_images", time.perf_counter() - wait)
            if stop.is_set():
                return
            if item.error:
                raise OccbenchError(item.error, file=item.file)
            runner.decode_worker_seconds += item.seconds
            advance(runner.add_image(item, collector))
            wait = time.perf_counter()
        advance(runner.flush(collector))


def lane_units(units: list[DecodeUnit], persons: np.ndarray, lanes: int) -> list[list[DecodeUnit]]:
    """Deal the decode units (in plan order) to ``lanes`` lanes: each goes to the lane with the
    fewest persons so far (ties: the first lane). Deterministic, so a run's batches are the same
    every time; the lanes move through the plan together, so parts finish in order; and a few
    long videos balance as well as they can without splitting one."""
    dealt: list[list[DecodeUnit]] = [[] for _ in range(lanes)]
    load = np.zeros(lanes, dtype=np.int64)
    for unit, count in zip(units, persons.tolist(), strict=True):
        lane = int(np.argmin(load))
        dealt[lane].append(unit)
        load[lane] += count
    return dealt


def _run_lanes(
    runners: list[_Runner], dealt: list[list[DecodeUnit]], collector: _PartCollector, advance: Callable[[int], None]
) -> None:
    """Several lanes on threads, each with its own decode units; the first error stops them all."""
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=len(runners), thread_name_prefix="occbench-lane") as pool:
        futures = [
            pool.submit(_run_lane, runner, FrameStream(units), collector, advance, stop)
            for runner, units in zip(runners, dealt, strict=True)
        ]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        finally:  # an error in a lane, or Ctrl-C here: the others stop at their next image
            stop.set()
    for future in futures:
        future.result()


def _staging_settings(staging: Path, settings: dict[str, Any], resume: bool) -> list[Path]:
    """Prepare ``OUT.partial``; return the finished part files a resumed run keeps."""
    settings_file = staging / "settings.json"
    if staging.exists() and resume:
        if not settings_file.exists():
            raise OccbenchError("unfinished run has no settings.json; start afresh without --resume", file=staging)
        previous = json.loads(settings_file.read_text())
        if previous != json.loads(json.dumps(settings)):
            changed = sorted(k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k))
            raise OccbenchError(
                f"unfinished run used other settings ({', '.join(changed)}); start afresh without --resume",
                file=staging,
            )
        return sorted((staging / PARTS_DIR).glob("part-*.parquet"))
    if staging.exists():
        shutil.rmtree(staging)
    (staging / PARTS_DIR).mkdir(parents=True)
    write_json_atomic(settings_file, settings)
    return []


def predict(
    model: str | TopDownModel,
    dataset: str | Path | Dataset,
    split: str,
    out_dir: str | Path,
    *,
    checkpoint: str | Path | None = None,
    options: PredictOptions | None = None,
    input_size: tuple[int, int] | None = None,
    channel_order: str | None = None,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool = True,
) -> PredictResult:
    """Run ``model`` over ``split`` of ``dataset`` and publish predictions in ``out_dir``.

    ``model`` is a zoo name (built for the dataset's joints, ``checkpoint`` loaded strictly) or a
    ``TopDownModel``. See the module docstring for the outputs and ``PredictOptions`` for the knobs.
    """
    opts = options or PredictOptions()
    opts.check()
    out = Path(out_dir)
    if out.exists() and not overwrite:
        raise OccbenchError("output exists; pass --overwrite to replace it", file=out)
    ds = dataset if isinstance(dataset, Dataset) else open_dataset(dataset)
    schema = ds.schema
    device = select_device(opts.device)
    started = time.perf_counter()
    stages = _Stages()
    with stages("load"):
        data = ds.read_split(split, with_3d=False)  # the 3D joints (JTA) play no part
        boxes = load_boxes(opts.boxes, data, opts.score_threshold, opts.seed)
        if isinstance(model, str):
            model = resolve_model(model, schema.num_joints, checkpoint, input_size, channel_order)
        module = model.module.to(device).eval()
        if opts.channels_last:
            module.to(memory_format=torch.channels_last)
    settings = {
        **opts.identity(),
        **model.describe(),
        "dataset": str(ds.root.resolve()),
        "dataset_manifest_sha256": ds.manifest_hash,
        "split": split,
        "boxes_meta": {k: v for k, v in boxes.metadata.items() if k != "boxes"},
    }
    staging = out.with_name(out.name + ".partial")
    kept = _staging_settings(staging, settings, resume)
    done_ids = [json.loads(pq.read_schema(p).metadata[METADATA_KEY])["part_image_ids"] for p in kept]
    done = np.concatenate([np.asarray(d, np.int64) for d in done_ids]) if done_ids else np.zeros(0, np.int64)
    images = data.images.loc[~data.images["image_id"].isin(done)]
    plan = _make_plan(ds, images, boxes, model.input_size, opts.part_images, opts.image_root)
    # No more lanes than decode units: a single video is one lane with every thread.
    lanes = max(1, min(_lanes(device, opts), len(plan.units)))
    workers = _default_workers(device, opts.workers)
    runners = [_Runner(model, plan, opts, device, schema.flip_permutation) for _ in range(lanes)]
    sigmas = np.asarray(ds.manifest.sigmas, dtype=np.float64)
    next_part = 1 + max((int(p.stem.split("-")[1]) for p in kept), default=-1)
    written: list[Path] = list(kept)
    part_stages = _Stages()

    def finish(part: int, span: slice, state: dict[str, np.ndarray]) -> None:  # under the collector's lock
        nonlocal next_part
        with part_stages("postprocess"):
            preds = postprocess_part(plan, span, state, opts, sigmas)
        rows = plan.part_rows[part]
        preds.metadata = {"part_image_ids": plan.images["image_id"].to_numpy(np.int64)[rows].tolist()}
        with part_stages("write"):
            written.append(write_predictions(staging / PARTS_DIR / f"part-{next_part:05d}.parquet", preds))
        next_part += 1

    collector = _PartCollector(plan, schema.num_joints, finish)
    total = len(plan.boxes)
    cuda_benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = device.type == "cuda"
    # Lanes split the cores: each runs its batches on its share, so one lane's decoding and
    # cropping (serial work) overlaps the others' forward passes instead of idling cores.
    threads = lane_threads(lanes)
    loop_start = time.perf_counter()
    try:
        bar = make_progress(_RateColumn())
        bar.disable = bar.disable or not progress
        with bar, intra_op_threads(threads):
            task = bar.add_task(f"predict {model.name} on {split}", total=total)

            def advance(persons: int) -> None:
                bar.advance(task, persons)

            if lanes == 1:
                frames = frame_loader(plan.units, workers, device.type == "cuda") if plan.units else iter(())
                _run_lane(runners[0], frames, collector, advance, threading.Event())
            else:
                unit_persons = np.array([plan.count[list(unit.positions)].sum() for unit in plan.units])
                _run_lanes(runners, lane_units(plan.units, unit_persons, lanes), collector, advance)
    except KeyboardInterrupt:
        raise OccbenchError(
            "interrupted; finished parts are kept, re-run with --resume to continue", file=staging
        ) from None
    finally:
        torch.backends.cudnn.benchmark = cuda_benchmark
    loop_seconds = time.perf_counter() - loop_start
    if collector.open:
        raise RuntimeError(f"parts left unfinished: {sorted(collector.open)}")

    with stages("finalize"):
        parts = [read_predictions(p) for p in sorted(written)]
        preds = _join_parts(parts, data.images, schema.num_joints)
        lane_seconds: dict[str, float] = {}
        for runner in runners:
            for name, seconds in runner.stages.seconds.items():
                lane_seconds[name] = lane_seconds.get(name, 0.0) + seconds
        all_stages = {**stages.seconds, **lane_seconds, **part_stages.seconds}
        timings = {f"{k}_s": round(v, 4) for k, v in all_stages.items()}
        heatmap_size = next((r.heatmap_size for r in runners if r.heatmap_size is not None), None)
        metadata = {
            **settings,
            "boxes": opts.boxes,
            "occbench_version": __version__,
            "torch_version": torch.__version__,
            "device": str(device),
            "device_name": _device_name(device),
            "amp_dtype": None if runners[0].amp is None else str(runners[0].amp).removeprefix("torch."),
            "batch_size": opts.batch_size,
            "workers": workers,
            "lanes": lanes,
            "threads_per_lane": torch.get_num_threads() if threads is None else threads,
            "heatmap_size": None if heatmap_size is None else [heatmap_size[1], heatmap_size[0]],
            "persons_in": len(boxes),
            "predictions": len(preds),
            "images": int(data.images["image_id"].isin(boxes.image_id).sum()),
            "resumed_parts": len(kept),
            "persons_this_run": total,
            "warnings": list(boxes.warnings),
            "stage_seconds": timings,
            "image_decode_worker_s": round(sum(r.decode_worker_seconds for r in runners), 4),
            "inference_s": round(loop_seconds, 4),
            "persons_per_s": round(total / loop_seconds, 2) if loop_seconds > 0 and total else None,
        }
        preds.metadata = metadata
        write_predictions(staging / PREDICTIONS_FILE, preds)
        if opts.coco_json:
            write_coco_results(staging / COCO_RESULTS_FILE, preds)
        shutil.rmtree(staging / PARTS_DIR)
        (staging / "settings.json").unlink()
    metadata["stage_seconds"]["finalize_s"] = round(stages.seconds["finalize"], 4)
    metadata["total_s"] = round(time.perf_counter() - started, 4)
    write_json_atomic(staging / RUN_FILE, metadata)
    for leftover in staging.glob(".*.tmp"):  # unfinished writes of a killed earlier run
        leftover.unlink(missing_ok=True)
    replace_dir(staging, out)
    return PredictResult(out, preds, metadata)


def _join_parts(parts: list[Predictions], images: pd.DataFrame, num_joints: int) -> Predictions:
    """All parts' predictions, ordered by the images' order in the split (stable within an image)."""
    if not parts:
        return Predictions(np.zeros(0, np.int64), np.zeros((0, num_joints, 3)), np.zeros(0))
    joined = Predictions(
        image_id=np.concatenate([p.image_id for p in parts]),
        keypoints=np.concatenate([p.keypoints for p in parts]),
        score=np.concatenate([p.score for p in parts]),
        box=np.concatenate([p.box for p in parts]),
        occluded=np.concatenate([p.occluded for p in parts]),
    )
    position = pd.Series(np.arange(len(images)), index=images["image_id"].to_numpy(np.int64))
    order = np.argsort(position.reindex(joined.image_id).to_numpy(), kind="stable")
    return joined.select(order)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()
