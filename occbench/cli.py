"""The ``occbench`` command line: one thin Typer verb per user job.

Each verb parses its options and calls one function of a subpackage. ``OccbenchError``
(bad input) is printed as one line naming the file, record and field, and exits 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from typer.core import TyperGroup

from occbench.errors import OccbenchError

if TYPE_CHECKING:
    from occbench.datasets.jta import JTAOptions

console = Console(stderr=True)


class _ReportingGroup(TyperGroup):
    """Turns OccbenchError (bad input) into one readable line and exit status 1."""

    def invoke(self, ctx: typer.Context) -> object:
        try:
            return super().invoke(ctx)
        except OccbenchError as exc:
            console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True, markup=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_ReportingGroup,
    name="occbench",
    help="Benchmark suite for human pose estimation in crowded, occluded scenes.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)
convert_app = typer.Typer(help="Convert a source dataset into the unified occbench format.", no_args_is_help=True)
export_app = typer.Typer(help="Export a unified dataset to another format.", no_args_is_help=True)
app.add_typer(convert_app, name="convert")
app.add_typer(export_app, name="export")

OutOption = Annotated[Path, typer.Option("--out", "-o", help="Output dataset folder.")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace the output if it exists.")]


# --- datasets: convert / info / export / validate -------------------------------------------------

ImagesOption = Annotated[
    Path | None,
    typer.Option("--images", help="Image folder; checks every file and fixes sizes from the image headers."),
]
SplitOption = Annotated[str | None, typer.Option("--split", help="Split name for a single input file.")]


@convert_app.command("crowdpose")
def convert_crowdpose_cmd(
    sources: Annotated[list[Path], typer.Argument(help="crowdpose_*.json files, or a folder holding them.")],
    out: OutOption,
    images: ImagesOption = None,
    split: SplitOption = None,
    name: Annotated[str, typer.Option(help="Dataset name in the manifest.")] = "crowdpose",
    overwrite: OverwriteOption = False,
) -> None:
    """Convert CrowdPose (train/val/test/trainval) into the unified format.

    Keeps num_keypoints as the file has it, makes head/neck v=1 `labeled_unknown`, replaces the
    invalid skeleton, keeps published crowdIndex (and adds a recomputed one) and iscrowd regions.

    Example: `occbench convert crowdpose annotations/crowdpose_val.json --images images/ --out datasets/crowdpose`
    """
    from occbench.datasets.crowdpose import convert_crowdpose

    _report_dataset(convert_crowdpose(sources, out, image_root=images, split=split, name=name, overwrite=overwrite))


@convert_app.command("coco")
def convert_coco_cmd(
    sources: Annotated[list[Path], typer.Argument(help="COCO keypoint JSON files (or occbench COCO exports).")],
    out: OutOption,
    images: ImagesOption = None,
    split: SplitOption = None,
    name: Annotated[str | None, typer.Option(help="Dataset name in the manifest.")] = None,
    overwrite: OverwriteOption = False,
) -> None:
    """Convert COCO keypoints (17 joints, segmentation area kept), or re-import an occbench export losslessly.

    Example: `occbench convert coco person_keypoints_val2017.json --images val2017/ --out datasets/coco`
    """
    from occbench.datasets.coco import convert_coco

    _report_dataset(convert_coco(sources, out, image_root=images, split=split, name=name, overwrite=overwrite))


@convert_app.command("ochuman")
def convert_ochuman_cmd(
    source: Annotated[Path, typer.Argument(help="The native ochuman.json.")],
    out: OutOption,
    images: ImagesOption = None,
    val_images: Annotated[int, typer.Option(help="Images in the official val split (the rest is test).")] = 2500,
    max_iou_range: Annotated[
        tuple[float, float], typer.Option(help="Keep instances with lo <= MaxIoU < hi (official: 0 1).")
    ] = (0.0, 1.0),
    name: Annotated[str, typer.Option(help="Dataset name in the manifest.")] = "ochuman",
    overwrite: OverwriteOption = False,
) -> None:
    """Convert native OCHuman, keeping self- vs others-occlusion and MaxIoU; reproduces the official val/test split.

    Example: `occbench convert ochuman ochuman.json --images images/ --out datasets/ochuman`
    """
    from occbench.datasets.ochuman import convert_ochuman

    ds = convert_ochuman(
        source, out, image_root=images, val_images=val_images, iou_range=max_iou_range, name=name, overwrite=overwrite
    )
    _report_dataset(ds)


def _frames_range(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    first, _, last = text.partition(":")
    try:
        return int(first or 1), int(last) if last else 10**9
    except ValueError:
        raise OccbenchError(f"expected FIRST:LAST frame numbers, got {text!r}", field="--frames") from None


def _jta_options(
    schema: str,
    box: str,
    min_visible: int,
    min_box: float,
    stride: int,
    frames: str | None,
    extract_frames: bool,
    no_videos: bool,
    frame_size: str | None,
) -> JTAOptions:
    from occbench.datasets.jta import JTAOptions

    return JTAOptions(
        schema=schema,
        box=box,
        min_visible_joints=min_visible,
        min_box_size=min_box,
        stride=stride,
        frames=_frames_range(frames),
        extract_frames=extract_frames,
        no_videos=no_videos,
        frame_size=_parse_size(frame_size) if frame_size else None,
    )


JTASchema = Annotated[str, typer.Option("--schema", help="crowdpose14 (the OccNet mapping) or jta22 (native).")]
JTABox = Annotated[
    str,
    typer.Option(
        help="in_frame: tight around in-frame joints; all: around all joints, clipped; "
        "occnet: the OccNet authors' boundingRect over all joints, unclipped."
    ),
]
JTAMinVisible = Annotated[
    int, typer.Option(help="Drop people with fewer joints on screen and not occluded by others (OccNet: 1).")
]
JTAMinBox = Annotated[float, typer.Option(help="Drop people whose box is narrower or shorter (pixels).")]
JTAStride = Annotated[int, typer.Option(help="Keep every n-th frame.")]
JTAFrames = Annotated[str | None, typer.Option(help="Frame range FIRST:LAST (JTA numbers, from 1).")]
JTAFrameSize = Annotated[str | None, typer.Option(help="Frame size WIDTHxHEIGHT (default: from the frames).")]
JTAResume = Annotated[bool, typer.Option("--resume", help="Keep finished sequences of an interrupted run.")]


@convert_app.command("jta")
def convert_jta_cmd(
    root: Annotated[Path, typer.Argument(help="JTA root with annotations/ and videos/.")],
    out: OutOption,
    split: Annotated[
        list[str] | None, typer.Option("--split", help="train / val / test (default: all present).")
    ] = None,
    schema: JTASchema = "crowdpose14",
    box: JTABox = "in_frame",
    min_visible: JTAMinVisible = 1,
    min_box: JTAMinBox = 0.0,
    stride: JTAStride = 1,
    frames: JTAFrames = None,
    extract_frames: Annotated[bool, typer.Option("--extract-frames", help="Also write the frames as JPEGs.")] = False,
    no_videos: Annotated[bool, typer.Option("--no-videos", help="Convert annotations only (recorded).")] = False,
    frame_size: JTAFrameSize = None,
    workers: Annotated[int, typer.Option(help="Processes converting sequences in parallel.")] = 1,
    resume: JTAResume = False,
    overwrite: OverwriteOption = False,
) -> None:
    """Convert JTA (streaming per sequence, parallel, resumable); frames stay in the videos unless extracted.

    Example: `occbench convert jta JTA-Dataset/ --split test --out datasets/jta-test --workers 2`
    """
    from occbench.datasets.jta import convert_jta

    options = _jta_options(schema, box, min_visible, min_box, stride, frames, extract_frames, no_videos, frame_size)
    ds = convert_jta(
        root,
        out,
        splits=split,
        options=options,
        workers=workers,
        resume=resume,
        overwrite=overwrite,
    )
    _report_dataset(ds)


@convert_app.command("jta-ext")
def convert_jta_ext_cmd(
    root: Annotated[Path, typer.Argument(help="JTA-Ext root holding seq_N/ folders.")],
    out: OutOption,
    split: Annotated[str, typer.Option("--split", help="Split name for the sequences.")] = "test",
    frame_offset: Annotated[
        list[str] | None, typer.Option("--frame-offset", help="seq_N=OFFSET: image number = CSV frame + OFFSET.")
    ] = None,
    schema: JTASchema = "crowdpose14",
    box: JTABox = "in_frame",
    min_visible: JTAMinVisible = 1,
    min_box: JTAMinBox = 0.0,
    stride: JTAStride = 1,
    frames: JTAFrames = None,
    frame_size: JTAFrameSize = None,
    resume: JTAResume = False,
    overwrite: OverwriteOption = False,
) -> None:
    """Convert JTA-Ext (CSV + JPEG frames): frame 0 dropped, cut at NaN, frame/image alignment verified.

    Example: `occbench convert jta-ext JTA-Ext/ --out datasets/jta-ext --frame-offset seq_3=2`
    """
    from occbench.datasets.jta_ext import convert_jta_ext, parse_offsets

    options = _jta_options(schema, box, min_visible, min_box, stride, frames, False, True, frame_size)
    ds = convert_jta_ext(
        root,
        out,
        split=split,
        options=options,
        frame_offsets=parse_offsets(frame_offset or []),
        resume=resume,
        overwrite=overwrite,
    )
    _report_dataset(ds)


def _report_dataset(ds: object) -> None:
    from occbench.datasets.store import Dataset

    assert isinstance(ds, Dataset)
    for split, info in ds.manifest.splits.items():
        console.print(f"[green]wrote[/] {ds.root} split {split}: {info.images:,} images, {info.instances:,} instances")
    for warning in ds.manifest.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


@app.command("info")
def info_cmd(
    dataset: Annotated[Path, typer.Argument(help="A unified dataset folder.")],
    split: Annotated[list[str] | None, typer.Option("--split", help="Only these splits.")] = None,
    crowd_bands: Annotated[
        str | None, typer.Option(help="crowdIndex bands, e.g. 'easy:[0,0.2),hard:[0.2,inf]'.")
    ] = None,
    occlusion_bands: Annotated[
        str | None, typer.Option(help="Occlusion-ratio bands, e.g. 'low:[0,0.3],high:(0.3,1]'.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
) -> None:
    """Summarise a unified dataset: counts, visibility per joint, crowdIndex and occlusion bands.

    Example: `occbench info datasets/crowdpose --split val`
    """
    import json

    from occbench.bands import CROWD_INDEX_BANDS, OCCLUSION_BANDS
    from occbench.datasets.store import open_dataset
    from occbench.datasets.summary import print_summary, summarize

    summary = summarize(
        open_dataset(dataset),
        split,
        crowd_bands=_bands(crowd_bands, CROWD_INDEX_BANDS, "--crowd-bands"),
        occlusion_bands=_bands(occlusion_bands, OCCLUSION_BANDS, "--occlusion-bands"),
    )
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        print_summary(summary, Console())


def _bands(text: str | None, default: tuple, option: str) -> tuple:
    from occbench.bands import parse_bands

    if text is None:
        return default
    try:
        return parse_bands(text)
    except ValueError as exc:
        raise OccbenchError(str(exc), field=option) from None


@export_app.command("coco")
def export_coco_cmd(
    dataset: Annotated[Path, typer.Argument(help="A unified dataset folder.")],
    split: Annotated[str, typer.Option("--split", help="The split to export.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output JSON file.")],
) -> None:
    """Export a split as COCO keypoint JSON (pycocotools loads it; occbench fields kept for a lossless re-import).

    Example: `occbench export coco datasets/crowdpose --split val --out crowdpose_val.coco.json`
    """
    from occbench.datasets.coco_export import export_coco
    from occbench.datasets.store import open_dataset

    path = export_coco(open_dataset(dataset), split, out)
    console.print(f"[green]wrote[/] {path}")


@app.command("validate")
def validate_cmd(dataset: Annotated[Path, typer.Argument(help="A unified dataset folder.")]) -> None:
    """Check a unified dataset: content hashes, schema, ranges, references and duplicate ids.

    Example: `occbench validate datasets/crowdpose`
    """
    from occbench.datasets.validate import validate_dataset

    problems = validate_dataset(dataset)
    for problem in problems:
        console.print(f"[red]problem:[/] {problem}", highlight=False)
    if problems:
        raise typer.Exit(1)
    console.print(f"[green]valid[/] {dataset}")


# --- evaluation ------------------------------------------------------------------------------------


@app.command("evaluate")
def evaluate_cmd(
    gt: Annotated[Path, typer.Option("--gt", help="A unified dataset folder, or a COCO / CrowdPose keypoint JSON.")],
    predictions: Annotated[
        Path, typer.Option("--predictions", help="COCO results JSON, or occbench predictions (parquet or folder).")
    ],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the metrics table (.parquet or .csv).")] = None,
    split: Annotated[str | None, typer.Option("--split", help="Split of a unified dataset.")] = None,
    protocol: Annotated[
        str,
        typer.Option(
            help="auto (follows the dataset) | coco | crowdpose | posetrack | posetrack_poseval (tracked predictions)."
        ),
    ] = "auto",
    breakdowns: Annotated[
        str,
        typer.Option(
            help="all | none | comma list of occlusion,keypoint_subset,joint_visibility,crowding,errors,pr_curve. "
            "A dataset split of over a million people (full JTA) is evaluated a group of parts at a time, "
            "in bounded memory, whatever the breakdowns (same numbers)."
        ),
    ] = "all",
    occlusion_bands: Annotated[
        str | None, typer.Option(help="e.g. 'none:[0,0.1],partial:(0.1,0.5],heavy:(0.5,1]'.")
    ] = None,
    crowd_bands: Annotated[
        str | None,
        typer.Option(
            help="crowd_index breakdown bands, e.g. 'easy:[0,0.2),medium:[0.2,0.8),hard:[0.8,inf]' "
            "(AP_easy/medium/hard always use CrowdPose's own)."
        ),
    ] = None,
    xtcocotools_compat: Annotated[
        bool,
        typer.Option(
            "--xtcocotools-compat",
            help="Reproduce xtcocotools (and mmpose): drop detections whose keypoint scores are all <= 0 and, "
            "under the coco protocol, ignore people with no labelled joint whatever num_keypoints says.",
        ),
    ] = False,
    run: Annotated[str, typer.Option(help="A label for the run column.")] = "",
) -> None:
    """Evaluate keypoints: reference-exact COCO / CrowdPose stats, then occlusion, crowding and error breakdowns.

    Example: `occbench evaluate --gt datasets/crowdpose --split val --predictions results.json --out metrics.parquet`
    """
    from occbench.bands import CROWD_INDEX_BANDS, OCCLUSION_BANDS
    from occbench.evaluation import evaluate, write_table
    from occbench.evaluation.summary import print_summary

    # --- tracking: PoseTrack metrics of tracked predictions (occbench.tracking) ---
    if protocol in ("posetrack", "posetrack_poseval"):
        from occbench.tracking.metrics import evaluate_tracking
        from occbench.tracking.summary import print_tracking_summary

        table = evaluate_tracking(
            gt,
            predictions,
            split,
            poseval_compat=protocol == "posetrack_poseval",
            occlusion_bands=_bands(occlusion_bands, OCCLUSION_BANDS, "--occlusion-bands"),
            crowd_bands=_bands(crowd_bands, CROWD_INDEX_BANDS, "--crowd-bands"),
            run=run,
            predictions_source=predictions,
        )
        print_tracking_summary(table, Console())
        if out is not None:
            console.print(f"[green]wrote[/] {write_table(table, out)}")
        return
    # --- end tracking ---

    table = evaluate(
        gt,
        predictions,
        protocol,
        breakdowns,
        split=split,
        occlusion_bands=_bands(occlusion_bands, OCCLUSION_BANDS, "--occlusion-bands"),
        crowd_bands=_bands(crowd_bands, CROWD_INDEX_BANDS, "--crowd-bands"),
        xtcocotools_compat=xtcocotools_compat,
        run=run,
        predictions_source=predictions,
        progress=True,
    )
    print_summary(table, Console())
    if out is not None:
        console.print(f"[green]wrote[/] {write_table(table, out)}")


# --- tracking ---------------------------------------------------------------------------------------


@app.command("track")
def track_cmd(
    predictions: Annotated[Path, typer.Argument(help="occbench predictions (parquet or folder) or COCO results JSON.")],
    dataset: Annotated[Path, typer.Option("--dataset", help="The unified dataset the predictions are on.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (predictions.parquet) or .parquet file.")],
    split: Annotated[str | None, typer.Option("--split", help="Split of the dataset.")] = None,
    preset: Annotated[
        str, typer.Option(help="detect-and-track (score >= 0.95, area >= 50 px², clipped boxes) | unfiltered.")
    ] = "detect-and-track",
    cost: Annotated[str | None, typer.Option(help="iou (1 - box IoU, Detect-and-Track) | oks (1 - pose OKS).")] = None,
    max_cost: Annotated[float | None, typer.Option(help="Do not link assigned pairs above this cost.")] = None,
    min_score: Annotated[
        float | None, typer.Option(help="Drop detections scoring below this (overrides preset).")
    ] = None,
    min_area: Annotated[
        float | None, typer.Option(help="Drop boxes smaller than this, px² (overrides preset).")
    ] = None,
) -> None:
    """Link predicted persons across consecutive frames (Hungarian on 1 - IoU) and write track ids.

    Example: `occbench track runs/sb50/predictions.parquet --dataset datasets/jta --split test --out runs/sb50-tracked`
    """
    from dataclasses import replace

    from occbench.tracking.link import PRESETS, track_predictions

    if preset not in PRESETS:
        raise OccbenchError(f"unknown preset {preset!r}; choose {', '.join(PRESETS)}", field="--preset")
    overrides = {"cost": cost, "max_cost": max_cost, "min_score": min_score, "min_area": min_area}
    config = replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})
    result = track_predictions(predictions, dataset, split, out, config)
    console.print(
        f"[green]wrote[/] {out}: {len(result.predictions):,} tracked predictions in {result.num_tracks:,} tracks "
        f"({result.num_filtered:,} of {result.num_input:,} filtered out) in {result.seconds:.2f} s"
    )


# --- end tracking ----------------------------------------------------------------------------------


# --- training --------------------------------------------------------------------------------------


@app.command("train")
def train_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder (checkpoints, metrics.csv, weights).")],
    model: Annotated[str | None, typer.Option(help="Zoo model name (see `occbench models`).")] = None,
    dataset: Annotated[Path | None, typer.Option(help="Unified dataset folder.")] = None,
    split: Annotated[str | None, typer.Option(help="Training split (default train).")] = None,
    val_split: Annotated[str | None, typer.Option(help="Validation split: AP every --val-every epochs.")] = None,
    recipe: Annotated[Path | None, typer.Option(help="A TOML recipe, e.g. benchmark/recipes/occnet.toml.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs.")] = None,
    batch: Annotated[int | None, typer.Option(help="Batch size (per process).")] = None,
    lr: Annotated[float | None, typer.Option(help="Adam learning rate.")] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda | cuda:N | mps.")] = None,
    amp: Annotated[bool | None, typer.Option("--amp/--no-amp", help="Mixed precision (CUDA).")] = None,
    workers: Annotated[int | None, typer.Option(help="DataLoader workers.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many steps.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the run folder's checkpoint.")] = False,
) -> None:
    """Train a zoo model (OccNet's recipe by default) on a unified dataset; resumable; torchrun for multi-GPU.

    Example: `occbench train --recipe benchmark/recipes/occnet.toml --dataset datasets/cp --out runs/occnet`
    """
    from occbench.training.recipes import make_config
    from occbench.training.trainer import train

    config = make_config(
        recipe,
        {
            "model": model,
            "dataset": str(dataset) if dataset else None,
            "split": split,
            "val_split": val_split,
            "epochs": epochs,
            "batch_size": batch,
            "lr": lr,
            "device": device,
            "amp": amp,
            "workers": workers,
            "seed": seed,
            "max_steps": max_steps,
        },
    )
    result = train(config, out, resume=resume)
    console.print(
        f"[green]done[/]: {result.steps} steps, last loss {result.last_loss:.4g}, "
        f"val AP {result.val_ap if result.val_ap is not None else 'n/a'}; weights {result.weights}"
    )


# --- the main job -----------------------------------------------------------------------------------


@app.command("demo")
def demo_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where the demo writes its datasets and results.")] = Path(
        "datasets/demo"
    ),
    leaderboards: Annotated[Path, typer.Option(help="Leaderboards folder.")] = Path("leaderboards/demo"),
    report: Annotated[Path, typer.Option(help="HTML report file.")] = Path("reports/demo.html"),
    spec: Annotated[Path | None, typer.Option(help="Matrix spec (default: benchmark/demo.toml).")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Delete earlier demo outputs first.")] = False,
) -> None:
    """Run the main job end to end: synthetic crowds -> converters -> benchmark matrix -> leaderboards + report.

    Example: `occbench demo --fresh`
    """
    from occbench.demo import DEMO_SPEC, run_demo

    result = run_demo(out, leaderboards=leaderboards, report=report, spec=spec or DEMO_SPEC, fresh=fresh,
                      console=console)  # fmt: skip
    console.print(f"[green]done[/] in {result.seconds:.0f} s")
    console.print(f"leaderboards: {leaderboards / 'README.md'}")
    console.print(f"report:       {result.report}")
    if result.failed_cells:
        for failure in result.failed_cells:
            console.print(f"[red]failed:[/] {failure}", highlight=False)
        raise typer.Exit(1)


# --- synthetic crowds -----------------------------------------------------------------------------


def _parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise OccbenchError(f"expected WIDTHxHEIGHT, got {text!r}", field="--size") from None
    return width, height


def _parse_splits(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in text.split(","):
        name, _, count = part.partition(":")
        if not name or not count.isdigit() or int(count) < 1:
            raise OccbenchError(f"expected NAME:COUNT[,NAME:COUNT...], got {text!r}", field="--splits")
        out[name.strip()] = int(count)
    return out


@app.command("synth")
def synth_cmd(
    layout: Annotated[str, typer.Option(help="jta | jta-ext | crowdpose: the native layout to write.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    sequences: Annotated[int, typer.Option(help="Number of sequences (all in --split).")] = 1,
    split: Annotated[str, typer.Option(help="Split name of the sequences.")] = "test",
    splits: Annotated[str | None, typer.Option(help="Sequences per split, e.g. train:6,val:1,test:2.")] = None,
    frames: Annotated[int, typer.Option(help="Frames per sequence.")] = 30,
    persons: Annotated[int, typer.Option(help="People in view per frame (density).")] = 12,
    occluders: Annotated[int, typer.Option(help="Static occluders (poles, panels) per sequence.")] = 2,
    size: Annotated[str, typer.Option(help="Frame size WIDTHxHEIGHT (JTA intrinsics are scaled).")] = "960x540",
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same bytes.")] = 0,
    stride: Annotated[int, typer.Option(help="crowdpose layout: keep every n-th frame as an image.")] = 1,
    frame_offset: Annotated[int, typer.Option(help="jta-ext: image number = CSV frame + offset.")] = 0,
    overwrite: OverwriteOption = False,
) -> None:
    """Generate synthetic crowded scenes with exact occlusion flags, in a native dataset layout.

    Example: `occbench synth --layout crowdpose --out datasets/synth-raw --splits train:6,test:2 --persons 20`
    """
    from occbench.datasets.synth.generate import SynthConfig
    from occbench.datasets.synth.writers import write_layout

    config = SynthConfig(
        splits=_parse_splits(splits) if splits else {split: sequences},
        frames=frames,
        persons=persons,
        occluders=occluders,
        size=_parse_size(size),
        seed=seed,
        stride=stride,
    )
    path = write_layout(layout, out, config, overwrite=overwrite, frame_offset=frame_offset)
    console.print(f"[green]wrote[/] {layout} layout to {path}")


# --- models ----------------------------------------------------------------------------------------


@app.command("models")
def models_cmd(
    family: Annotated[str | None, typer.Option(help="Only this family (e.g. hrnet, occnet).")] = None,
    joints: Annotated[int, typer.Option(help="Number of joints to size the heads for.")] = 17,
) -> None:
    """List the model zoo: every family and variant with input/heatmap size, parameters and GFLOPs.

    Example: `occbench models --family occnet`
    """
    from rich.table import Table

    from occbench.models.registry import FAMILIES, MODELS
    from occbench.models.summary import summarize

    if family is not None and family not in FAMILIES:
        raise OccbenchError(f"unknown family {family!r}; one of {', '.join(FAMILIES)}", field="--family")
    table = Table(title=f"occbench model zoo ({joints} joints)")
    for column, justify in (
        ("model", "left"),
        ("family", "left"),
        ("input HxW", "right"),
        ("heatmap", "right"),
        ("params", "right"),
        ("GMACs", "right"),
        ("description", "left"),
    ):
        # Names and sizes are what users type: never wrap or truncate them.
        table.add_column(column, justify=justify, no_wrap=column != "description")  # type: ignore[arg-type]
    for spec in MODELS.values():
        if family is not None and spec.family != family:
            continue
        s = summarize(spec, joints)
        table.add_row(
            s.name,
            s.family,
            "x".join(map(str, s.input_size)),
            "x".join(map(str, s.heatmap_size)),
            f"{s.params:,}",
            f"{s.gflops / 2:.2f}",
            s.description,
        )
    Console().print(table)
    console.print("GMACs: multiply-accumulates of one forward at the standard input (papers often call these GFLOPs).")


# --- benchmark matrix: run / status / leaderboard / report ------------------------------------------

StoreOption = Annotated[Path | None, typer.Option("--store", help="Results store folder (default: runs/<spec name>).")]


@app.command("run")
def run_cmd(
    spec: Annotated[Path, typer.Argument(help="A matrix spec (TOML), e.g. benchmark/demo.toml.")],
    store: StoreOption = None,
    executor: Annotated[str, typer.Option(help="local (sequential on this machine) or ray.")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (e.g. auto).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Re-run cells that are already done.")] = False,
) -> None:
    """Run every cell (predict + evaluate) of a benchmark matrix; finished cells are skipped on re-runs.

    Example: `occbench run benchmark/crowdpose.toml --executor ray --address auto`
    """
    from occbench.benchmark.runner import run_matrix

    summary = run_matrix(spec, store_dir=store, executor=executor, force=force, address=address)
    console.print(
        f"cells: [green]{summary.done} done[/], {summary.skipped} skipped, "
        f"[{'red' if summary.failed else 'green'}]{summary.failed} failed[/]"
    )
    for failure in summary.failures:
        console.print(f"[red]failed:[/] {failure}", highlight=False)
    if not summary.ok:
        raise typer.Exit(1)


@app.command("status")
def status_cmd(
    spec: Annotated[Path, typer.Argument(help="A matrix spec (TOML).")],
    store: StoreOption = None,
) -> None:
    """Show which cells of a matrix are done, failed or pending.

    Example: `occbench status benchmark/demo.toml`
    """
    from rich.table import Table

    from occbench.benchmark.runner import matrix_status

    table = matrix_status(spec, store)
    view = Table(title=f"{spec}")
    for column in ("state", "cell", "key"):
        view.add_column(column)
    colour = {"done": "green", "failed": "red", "pending": "yellow"}
    for row in table.itertuples(index=False):
        view.add_row(f"[{colour[row.state]}]{row.state}[/]", row.cell, row.key)
    Console().print(view)
    counts = table["state"].value_counts().to_dict()
    console.print(", ".join(f"{counts.get(s, 0)} {s}" for s in ("done", "failed", "pending")))


@app.command("leaderboard")
def leaderboard_cmd(
    store: Annotated[list[Path], typer.Option("--store", help="Results store folder(s).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("leaderboards"),
) -> None:
    """Write leaderboards (Markdown + CSV per dataset/split/protocol) from results stores.

    Example: `occbench leaderboard --store runs/demo --out leaderboards/demo`
    """
    from occbench.benchmark.store import ResultsStore
    from occbench.report.leaderboard import write_leaderboards

    for folder in store:
        target = out if len(store) == 1 else out / folder.name
        for path in write_leaderboards(ResultsStore(folder), target):
            console.print(f"[green]wrote[/] {path}")


@app.command("report")
def report_cmd(
    store: Annotated[list[Path], typer.Option("--store", help="Results store folder(s).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output HTML file.")] = Path("reports/report.html"),
    title: Annotated[str, typer.Option(help="Report title.")] = "occbench report",
) -> None:
    """Write the self-contained HTML report (leaderboards, breakdown figures, gallery, provenance).

    Example: `occbench report --store runs/demo --out reports/demo.html`
    """
    from occbench.benchmark.store import ResultsStore
    from occbench.report.html import write_report

    path = write_report([ResultsStore(s) for s in store], out, title=title)
    console.print(f"[green]wrote[/] {path}")


# --- inference: predict ---------------------------------------------------------------------------


@app.command("predict")
def predict_cmd(
    model: Annotated[str, typer.Option("--model", help="Model zoo name, e.g. simplebaseline_r50.")],
    dataset: Annotated[Path, typer.Option("--dataset", help="A unified dataset folder.")],
    split: Annotated[str, typer.Option("--split", help="The split to predict.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (predictions.parquet, results.json).")],
    checkpoint: Annotated[Path | None, typer.Option(help="Checkpoint (.pth, .pth.tar, .safetensors).")] = None,
    boxes: Annotated[str, typer.Option(help="gt | jitter:SIGMA | a COCO detection-results JSON.")] = "gt",
    score_threshold: Annotated[float, typer.Option(help="Drop detections scoring below this.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the jitter:SIGMA box noise.")] = 0,
    flip: Annotated[bool, typer.Option("--flip/--no-flip", help="Flip test (in the same forward batch).")] = False,
    decode: Annotated[str, typer.Option(help="Heatmap decoder: argmax (official) or dark.")] = "argmax",
    nms: Annotated[str, typer.Option(help="oks (0.9), pose (RMPE parametric) or none.")] = "oks",
    amp: Annotated[bool, typer.Option("--amp/--no-amp", help="Mixed precision (autocast).")] = False,
    amp_dtype: Annotated[str, typer.Option(help="auto (bf16 where supported), bf16 or fp16.")] = "auto",
    channels_last: Annotated[bool, typer.Option("--channels-last", help="NHWC memory format.")] = False,
    batch_size: Annotated[int, typer.Option(help="Persons per forward (doubled inside with --flip).")] = 32,
    device: Annotated[str, typer.Option(help="auto (cuda, mps, cpu), or a torch device.")] = "auto",
    workers: Annotated[
        int | None, typer.Option(help="Image-decoding processes (default: none on a CPU, up to 8 with a GPU).")
    ] = None,
    lanes: Annotated[
        int | None,
        typer.Option(
            help="CPU: threads each decoding and running its own images on a share of torch's threads "
            "(default: one per thread, up to 4)."
        ),
    ] = None,
    input_size: Annotated[
        tuple[int, int] | None, typer.Option(help="Input HEIGHT WIDTH (default: the model's own).")
    ] = None,
    channel_order: Annotated[str | None, typer.Option(help="RGB or BGR (default: the checkpoint's).")] = None,
    image_root: Annotated[Path | None, typer.Option(help="Override the dataset's image folder.")] = None,
    overwrite: OverwriteOption = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run in OUT.partial.")] = False,
) -> None:
    """Run a top-down model over a split and write predictions (Parquet + COCO results JSON).

    Example: `occbench predict --model simplebaseline_r50 --checkpoint pose_resnet_50_256x192.pth
    --dataset datasets/crowdpose --split test --boxes gt --flip --out runs/sb50-gt`
    """
    from occbench.inference.pipeline import PredictOptions, predict

    options = PredictOptions(
        boxes=boxes,
        score_threshold=score_threshold,
        seed=seed,
        flip=flip,
        decoder=decode,
        nms=nms,
        amp=(amp_dtype if amp_dtype != "auto" else True) if amp else False,
        channels_last=channels_last,
        batch_size=batch_size,
        device=device,
        workers=workers,
        lanes=lanes,
        image_root=None if image_root is None else str(image_root),
    )
    result = predict(
        model,
        dataset,
        split,
        out,
        checkpoint=checkpoint,
        options=options,
        input_size=input_size,
        channel_order=channel_order,
        overwrite=overwrite,
        resume=resume,
    )
    meta = result.metadata
    for warning in meta["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    rate = meta["persons_per_s"]
    console.print(
        f"[green]wrote[/] {result.out_dir}: {meta['predictions']:,} predictions from {meta['persons_in']:,} persons "
        f"in {meta['images']:,} images" + (f", {rate:,.0f} persons/s on {meta['device']}" if rate else "")
    )


# --- perf -------------------------------------------------------------------------------------------


@app.command(
    "perf",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
)
def perf_cmd(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Perf script to run; omit to list them.")] = None,
) -> None:
    """Run a speed/memory measurement against the reference tools; extra arguments go to the script.

    Example: `occbench perf convert` (list the scripts with `occbench perf`; `occbench perf NAME --help`)
    """
    from occbench import perf

    scripts = perf.available()
    if name is None or name in ("-h", "--help"):
        typer.echo(ctx.get_help() if name else "")
        for script, doc in scripts.items():
            typer.echo(f"  {script:<14} {doc}")
        return
    if name not in scripts:
        raise OccbenchError(f"unknown perf script {name!r}; known: {', '.join(scripts)}")
    perf.run(name, list(ctx.args))


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
