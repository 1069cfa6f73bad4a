"""``evaluate``: ground truth + predictions → one tidy metrics table.

The table has exactly the columns ``run, dataset, split, protocol, breakdown, subset, metric,
value`` (EVALUATION.md "Output shape"); the standard stats are breakdown ``standard``, subset
``all``. Provenance (occbench version, dataset manifest hash, the predictions' metadata such as
checkpoint sha256 / device / stage timings, the evaluation's own time, the crowdIndex source,
the xtcocotools option) is in ``table.attrs["provenance"]`` and is written beside the table.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from occbench import __version__
from occbench.bands import CROWD_INDEX_BANDS, OCCLUSION_BANDS, Band
from occbench.errors import OccbenchError
from occbench.evaluation import breakdowns as bd
from occbench.evaluation import by_parts as grouped
from occbench.evaluation import outcomes as oc
from occbench.evaluation.inputs import (
    PROTOCOLS,
    GroundTruth,
    check_predictions,
    default_protocol_for,
    load_ground_truth,
    load_predictions,
    prepare_detections,
)
from occbench.fileio import atomic_path, write_json_atomic
from occbench.predictions import (
    PREDICTIONS_FILE,
    Predictions,
    prediction_metadata,
    write_predictions,
)

COLUMNS = ["run", "dataset", "split", "protocol", "breakdown", "subset", "metric", "value"]
BREAKDOWNS = ("occlusion", "keypoint_subset", "joint_visibility", "crowding", "errors", "pr_curve")
CROWD_SWEEP = oc.CROWD_SWEEP


def _breakdown_set(breakdowns: Any) -> set[str]:
    if breakdowns is None:
        return set()
    items = [breakdowns] if isinstance(breakdowns, str) else list(breakdowns)
    chosen: set[str] = set()
    for item in items:
        for name in str(item).split(","):
            name = name.strip()
            if not name or name == "none":
                continue
            if name == "all":
                chosen.update(BREAKDOWNS)
            elif name in BREAKDOWNS:
                chosen.add(name)
            else:
                raise OccbenchError(
                    f"unknown breakdown {name!r}; choose from all, none, {', '.join(BREAKDOWNS)}", field="--breakdowns"
                )
    return chosen


def evaluate(
    ground_truth: Any,
    predictions: Any,
    protocol: str = "auto",
    breakdowns: Any = "all",
    *,
    split: str | None = None,
    occlusion_bands: tuple[Band, ...] = OCCLUSION_BANDS,
    crowd_bands: tuple[Band, ...] = CROWD_INDEX_BANDS,
    crowd_sweep: tuple[Band, ...] = CROWD_SWEEP,
    xtcocotools_compat: bool = False,
    run: str = "",
    predictions_source: object | None = None,
    workers: int = 2,
    by_parts: bool | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Evaluate predictions against ground truth; see the module docstring.

    ``ground_truth``: a unified dataset folder / ``Dataset`` (with ``split``), or a COCO /
    CrowdPose keypoint JSON. ``predictions``: ``Predictions``, an occbench predictions Parquet (or
    folder), a COCO results JSON, or a list of result dicts. ``protocol``: ``auto`` (follows the
    dataset), ``coco`` or ``crowdpose``. ``by_parts``: evaluate a group of the dataset's parts at
    a time, in bounded memory (``occbench.evaluation.by_parts``; the same rows, bit for bit,
    whatever the breakdowns). It needs a dataset and a predictions Parquet; ``None`` (default)
    does so when those hold and the split has more than ``GROUP_INSTANCES`` people. ``progress``
    shows a bar over the groups (the CLI's; a full JTA split takes minutes).
    """
    started = time.perf_counter()
    chosen = _breakdown_set(breakdowns)
    if by_parts is not False:
        parts = _by_parts_inputs(ground_truth, split)
        if by_parts and isinstance(parts, str):
            raise OccbenchError(f"cannot evaluate by parts: {parts}", field="by_parts")
        if not isinstance(parts, str) and (by_parts or sum(parts[0].part_sizes(parts[1])) > grouped.GROUP_INSTANCES):
            source = predictions_source or (predictions if isinstance(predictions, (str, Path)) else "predictions")
            with _as_predictions_parquet(predictions, *parts, source) as (parquet, metadata):
                return _evaluate_by_parts(
                    *parts,
                    parquet,
                    metadata,
                    protocol,
                    xtcocotools_compat,
                    run,
                    started,
                    chosen,
                    (occlusion_bands, crowd_bands, crowd_sweep),
                    workers,
                    progress,
                )
    gt = load_ground_truth(ground_truth, split)
    protocol = _resolve_protocol(protocol, gt.default_protocol)
    gt = dataclasses.replace(gt, ignore_rule=_ignore_rule(protocol, xtcocotools_compat))
    source = predictions_source or (predictions if isinstance(predictions, (str, Path)) else "predictions")
    preds = load_predictions(predictions, gt.schema.num_joints)
    dets = prepare_detections(gt, preds, xtcocotools_compat=xtcocotools_compat, source=source)

    _, crowd_source = gt.crowd_values()
    plan = oc.plan_for(
        protocol,
        chosen,
        (occlusion_bands, crowd_bands, crowd_sweep),
        crowd_source,
        oc.has_self_occlusion(gt.self_occlusion_ratio),
        bd.visibility_histogram(gt.visibility),
    )
    rows = oc.evaluate_whole(gt, dets, plan, len(preds), workers)
    provenance = _provenance(
        gt.manifest_hash,
        protocol,
        xtcocotools_compat,
        dets.dropped,
        crowd_source,
        (occlusion_bands, crowd_bands),
        chosen,
        preds.metadata,
        started,
    )
    return _metrics_table(rows, run, gt.name, gt.split, protocol, provenance)


def _metrics_table(
    rows: list[bd.Row], run: str, dataset: str, split: str, protocol: str, provenance: dict[str, Any]
) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=["breakdown", "subset", "metric", "value"])
    table.insert(0, "run", run)
    table.insert(1, "dataset", dataset)
    table.insert(2, "split", split)
    table.insert(3, "protocol", protocol)
    table["value"] = table["value"].astype(float)
    table.attrs["provenance"] = provenance
    return table


def _resolve_protocol(protocol: str, default: str) -> str:
    protocol = default if protocol == "auto" else protocol
    if protocol not in PROTOCOLS:
        raise OccbenchError(f"unknown protocol {protocol!r}; choose auto, {', '.join(PROTOCOLS)}", field="--protocol")
    return protocol


def _ignore_rule(protocol: str, xtcocotools_compat: bool) -> str:
    # xtcocotools' "keypoints" mode ignores a person with no labelled joint, whatever the file's
    # num_keypoints says (its keypoints_crowd mode reads num_keypoints, as crowdposetools does).
    return "labelled" if xtcocotools_compat and protocol == "coco" else "num_keypoints"


def _provenance(
    manifest_hash: str,
    protocol: str,
    xtcocotools_compat: bool,
    dropped: int,
    crowd_source: str,
    bands: tuple[tuple[Band, ...], tuple[Band, ...]],
    chosen: set[str],
    prediction_metadata: dict[str, Any],
    started: float,
) -> dict[str, Any]:
    occlusion_bands, crowd_bands = bands
    return {
        "occbench_version": __version__,
        "dataset_manifest_sha256": manifest_hash,
        "protocol": protocol,
        "xtcocotools_compat": xtcocotools_compat,
        "detections_dropped_by_xtcocotools_rule": dropped,
        "ground_truth_ignore_rule": _ignore_rule(protocol, xtcocotools_compat),
        "crowd_index_source": crowd_source,
        "occlusion_bands": ",".join(map(str, occlusion_bands)),
        "crowd_bands": ",".join(map(str, crowd_bands)),
        "breakdowns": sorted(chosen),
        "predictions": dict(prediction_metadata),
        "evaluation_seconds": time.perf_counter() - started,
    }


def _by_parts_inputs(ground_truth: Any, split: str | None) -> tuple[Any, str] | str:
    """(dataset, split) when the evaluation can run by parts, else the reason it cannot."""
    from occbench.datasets.store import Dataset, open_dataset

    if isinstance(ground_truth, Dataset):
        ds = ground_truth
    elif isinstance(ground_truth, (str, Path)) and Path(ground_truth).is_dir():
        ds = open_dataset(ground_truth)
    else:
        return "the ground truth must be an occbench dataset (folder)"
    if split is None:
        if len(ds.splits) != 1:
            raise OccbenchError(f"name a split (--split); this dataset has {', '.join(ds.splits)}", file=ds.root)
        split = ds.splits[0]
    ds.part_names(split)  # an unknown split fails here, naming the splits there are
    return ds, split


@contextlib.contextmanager
def _as_predictions_parquet(
    predictions: Any, ds: Any, split: str, source: object
) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The predictions as an occbench predictions Parquet, and their metadata.

    A Parquet is used where it lies. Anything else (``Predictions``, a COCO results JSON, result
    dicts) is checked here, so errors name its own records, then written ordered by image (stable,
    so ties keep their order within an image, as the reference's ordering needs) to a temporary
    file, which the groups then read only the rows of their images from.
    """
    if isinstance(predictions, (str, Path)) and Path(predictions).suffix != ".json":
        yield Path(predictions), prediction_metadata(predictions)
        return
    preds = load_predictions(predictions, ds.schema.num_joints)
    check_predictions(preds, ds.schema.num_joints, np.sort(ds.read_images(split)["image_id"].to_numpy()), source)
    metadata = dict(preds.metadata)
    ordered = preds.select(np.argsort(preds.image_id, kind="stable"))
    del preds
    with tempfile.TemporaryDirectory(prefix="occbench-eval-") as folder:
        parquet = write_predictions(Path(folder) / PREDICTIONS_FILE, ordered)
        del ordered
        yield parquet, metadata


def _evaluate_by_parts(
    ds: Any,
    split: str,
    predictions: Path,
    metadata: dict[str, Any],
    protocol: str,
    xtcocotools_compat: bool,
    run: str,
    started: float,
    chosen: set[str],
    bands: tuple[tuple[Band, ...], tuple[Band, ...], tuple[Band, ...]],
    workers: int,
    progress: bool,
) -> pd.DataFrame:
    m = ds.manifest
    protocol = _resolve_protocol(protocol, default_protocol_for(m.schema, m.area_convention, m.source))
    result = grouped.evaluate_by_parts(
        ds,
        split,
        predictions,
        protocol,
        chosen,
        bands,
        xtcocotools_compat=xtcocotools_compat,
        ignore_rule=_ignore_rule(protocol, xtcocotools_compat),
        workers=workers,
        progress=progress,
    )
    occlusion_bands, crowd_bands, _ = bands
    provenance = _provenance(
        ds.manifest_hash,
        protocol,
        xtcocotools_compat,
        result.dropped,
        result.crowd_source,
        (occlusion_bands, crowd_bands),
        chosen,
        metadata,
        started,
    )
    provenance["evaluated_by_parts"] = result.groups
    return _metrics_table(result.rows, run, m.name, split, protocol, provenance)


def evaluate_box_robustness(
    ground_truth: Any,
    prediction_sets: dict[float, Any],
    protocol: str = "auto",
    *,
    split: str | None = None,
    run: str = "",
) -> pd.DataFrame:
    """AP against box noise: one standard evaluation per noise level (0 = ground-truth boxes).

    Rows are breakdown ``box_noise``, subset ``sigma=<level>``, the standard stats as metrics.
    """
    gt = load_ground_truth(ground_truth, split)
    frames = []
    for sigma in sorted(prediction_sets):
        table = evaluate(gt, prediction_sets[sigma], protocol, breakdowns="none", run=run)
        standard = table[table["breakdown"] == "standard"].copy()
        standard["breakdown"] = "box_noise"
        standard["subset"] = f"sigma={sigma:g}"
        frames.append(standard)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    out.attrs["provenance"] = {"occbench_version": __version__, "noise_levels": sorted(prediction_sets)}
    return out


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a metrics table atomically: Parquet (provenance in its metadata) or CSV (+ sidecar JSON)."""
    path = Path(path)
    provenance = table.attrs.get("provenance", {})
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrow = pa.Table.from_pandas(table[COLUMNS], preserve_index=False)
        arrow = arrow.replace_schema_metadata({b"occbench_provenance": json.dumps(provenance, default=str).encode()})
        with atomic_path(path) as tmp:
            pq.write_table(arrow, tmp)
    elif path.suffix == ".csv":
        with atomic_path(path) as tmp:
            table[COLUMNS].to_csv(tmp, index=False, float_format=lambda v: repr(float(v)))
        write_json_atomic(path.with_name(path.name + ".provenance.json"), provenance)
    else:
        raise OccbenchError("output must end in .parquet or .csv", file=path, field="--out")
    return path


def read_table(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        arrow = pq.read_table(path)
        table = arrow.to_pandas()
        meta = (arrow.schema.metadata or {}).get(b"occbench_provenance", b"{}")
        table.attrs["provenance"] = json.loads(meta)
        return table
    table = pd.read_csv(path)
    sidecar = path.with_name(path.name + ".provenance.json")
    table.attrs["provenance"] = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    return table


def standard_row(table: pd.DataFrame, metric: str = "AP") -> float:
    hit = table[(table["breakdown"] == "standard") & (table["metric"] == metric)]
    return float(hit["value"].iloc[0]) if len(hit) else float("nan")


__all__ = ["COLUMNS", "GroundTruth", "Predictions", "evaluate", "evaluate_box_robustness", "read_table", "write_table"]
