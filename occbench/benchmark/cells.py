"""What one matrix cell does: predict (or read given predictions), then evaluate.

A model entry with ``arch`` runs the top-down pipeline (``occbench.inference.pipeline.predict``)
with the cell's boxes, flip, decoder and NMS on the runtime's device; one with ``predictions``
evaluates a results file the user made elsewhere. Evaluation follows the spec's settings. The
outcome carries the metrics table, the predictions file, and provenance: device, persons/s,
stage timings and checkpoint sha256.

A tracking cell (``track = true``) on a split with video sequences then links the predictions
into tracks (``occbench.tracking.link.track_predictions`` with the spec's preset) and appends
the PoseTrack table (``occbench.tracking.evaluate_tracking``, protocol ``posetrack``) to the
metrics; the linked predictions are stored with the cell for the report's timelines. A split
without sequences is scored as usual and its provenance says tracking was skipped.

Checkpoints named ``builtin:NAME`` are the small ones shipped inside occbench
(``occbench/checkpoints/NAME.safetensors``).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from occbench.bands import CROWD_INDEX_BANDS, OCCLUSION_BANDS, parse_bands
from occbench.benchmark.runner import CellOutcome, predictions_path_for
from occbench.benchmark.spec import Cell, MatrixSpec
from occbench.datasets.store import open_dataset
from occbench.errors import OccbenchError

BUILTIN_PREFIX = "builtin:"


def resolve_checkpoint(spec: MatrixSpec, reference: str | None) -> Path | None:
    if reference is None:
        return None
    if reference.startswith(BUILTIN_PREFIX):
        from occbench.training.shipped import shipped_checkpoint

        return shipped_checkpoint(reference[len(BUILTIN_PREFIX) :])
    path = spec.resolve(reference)
    if not path.is_file():
        raise OccbenchError("checkpoint not found", file=path, field="checkpoint")
    return path


def run_cell(spec: MatrixSpec, cell: Cell, work_dir: Path) -> CellOutcome:
    from occbench.evaluation import evaluate

    started = time.perf_counter()
    if cell.runtime.get("threads"):
        import torch

        torch.set_num_threads(int(cell.runtime["threads"]))
    ds = open_dataset(spec.resolve(cell.dataset.dir))
    provenance: dict[str, Any] = {
        "dataset_manifest_sha256": ds.manifest_hash,
        # Where the report finds the dataset (and its images) again for the gallery.
        "dataset_dir": str(ds.root.resolve()),
        "image_root": str(spec.resolve(cell.dataset.image_root).resolve()) if cell.dataset.image_root else None,
    }
    if cell.model.predictions is not None:
        source = spec.resolve(predictions_path_for(cell))
        predictions: Any = source
        predictions_file = source if source.suffix == ".parquet" else None
        provenance["predictions_file"] = str(source)
    else:
        from occbench.inference.pipeline import PredictOptions, predict

        checkpoint = resolve_checkpoint(spec, cell.model.checkpoint)
        options = PredictOptions(
            boxes=str(spec.resolve(cell.protocol.boxes))
            if cell.protocol.boxes.endswith(".json")
            else cell.protocol.boxes,
            score_threshold=cell.protocol.score_threshold,
            flip=cell.model.flip,
            decoder=cell.model.decoder,
            nms=cell.model.nms,
            batch_size=cell.model.batch_size or int(cell.runtime.get("batch_size", 64)),
            amp=cell.model.amp,
            device=str(cell.runtime.get("device", "auto")),
            workers=cell.runtime.get("workers"),
            lanes=cell.runtime.get("lanes"),
            image_root=cell.dataset.image_root,
        )
        result = predict(
            cell.model.arch or "",
            ds,
            cell.dataset.split,
            work_dir / "predict",
            checkpoint=checkpoint,
            options=options,
            input_size=cell.model.input_size,
            channel_order=cell.model.channel_order,
            overwrite=True,
            progress=False,
        )
        predictions = result.predictions
        predictions_file = result.out_dir / "predictions.parquet"
        meta = result.metadata
        provenance.update(
            {
                "device": meta.get("device_name") or meta.get("device"),
                "persons_per_s": meta.get("persons_per_s"),
                "stage_seconds": meta.get("stage_seconds"),
                "checkpoint_sha256": meta.get("checkpoint_sha256"),
                "torch_version": meta.get("torch_version"),
            }
        )
    settings = cell.evaluation
    occlusion_bands = parse_bands(settings.occlusion_bands) if settings.occlusion_bands else OCCLUSION_BANDS
    crowd_bands = parse_bands(settings.crowd_bands) if settings.crowd_bands else CROWD_INDEX_BANDS
    table = evaluate(
        ds,
        # The file, where there is one: a large split (JTA) is then evaluated a group of parts at a time.
        predictions_file if predictions_file is not None else predictions,
        "auto" if settings.protocol == "posetrack" else settings.protocol,
        breakdowns=list(settings.breakdowns),
        split=cell.dataset.split,
        occlusion_bands=occlusion_bands,
        crowd_bands=crowd_bands,
        xtcocotools_compat=settings.xtcocotools_compat,
        run=cell.label,
        predictions_source=str(predictions_path_for(cell)) if cell.model.predictions else "predictions",
    )
    provenance["evaluation_seconds"] = table.attrs.get("provenance", {}).get("evaluation_seconds")
    tracked_file = None
    if cell.tracks:
        tracking_table, tracked_file, provenance["tracking"] = run_tracking(
            cell, ds, predictions, work_dir, occlusion_bands, crowd_bands
        )
        if tracking_table is not None:
            table = pd.concat([table, tracking_table], ignore_index=True)
    provenance["seconds"] = time.perf_counter() - started
    return CellOutcome(table, provenance, predictions_file, tracked_file=tracked_file)


def has_sequences(ds: Any, split: str) -> bool:
    images = ds.read_images(split)
    return "sequence" in images.columns and bool((images["sequence"].fillna("").astype(str) != "").any())


def run_tracking(
    cell: Cell, ds: Any, predictions: Any, work_dir: Path, occlusion_bands: Any, crowd_bands: Any
) -> tuple[pd.DataFrame | None, Path | None, dict[str, Any]]:
    """Link the cell's predictions into tracks and score them; (table, linked file, provenance)."""
    split = cell.dataset.split
    if not has_sequences(ds, split):
        return None, None, {"skipped": f"split {split!r} has no video sequences"}
    from occbench.tracking.link import PRESETS, track_predictions
    from occbench.tracking.metrics import evaluate_tracking

    config = PRESETS[cell.evaluation.track_preset]
    started = time.perf_counter()
    tracked = work_dir / "tracked.parquet"
    tracked.parent.mkdir(parents=True, exist_ok=True)
    linked = track_predictions(predictions, ds, split, tracked, config)
    link_seconds = time.perf_counter() - started
    table = evaluate_tracking(
        ds,
        tracked,
        split,
        occlusion_bands=occlusion_bands,
        crowd_bands=crowd_bands,
        run=cell.label,
        predictions_source=f"{cell.label} (tracked)",
    )
    return (
        table,
        tracked,
        {
            "preset": cell.evaluation.track_preset,
            "config": asdict(config),
            "num_input": linked.num_input,
            "num_filtered": linked.num_filtered,
            "num_tracks": linked.num_tracks,
            "link_seconds": link_seconds,
            "metrics_seconds": table.attrs.get("provenance", {}).get("evaluation_seconds"),
        },
    )
