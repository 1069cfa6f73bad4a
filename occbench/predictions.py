"""The predictions contract between inference, evaluation, the benchmark runner and tracking.

A prediction set is one Parquet table, one row per predicted person::

    image_id      int64
    score         float64            instance score
    keypoints     fixed list (3K)    x, y, score per joint, interleaved
    box           fixed list (4)     the box it came from, x, y, w, h (NaN when unknown)
    occluded      fixed list (K)     int8: OccNet's predicted occlusion flag (1/0), -1 unknown
    track_id      int64              -1 until tracking links it

plus free-form metadata (model, checkpoint sha256, box source, ...) in the Parquet schema
metadata under the key ``occbench``. It also reads and writes the COCO results format, a
JSON list of ``{image_id, category_id, keypoints, score}`` (plus ``track_id`` once linked, and
``bbox`` when a tool wrote one).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from occbench.errors import OccbenchError
from occbench.fileio import atomic_path

PREDICTIONS_FILE = "predictions.parquet"
PREDICTIONS_ROW_GROUP = 1 << 17  # rows: readers convert one row group of one column at a time
RESULTS_CHUNK = 1 << 16  # results serialised at a time into a COCO results JSON
METADATA_KEY = b"occbench"


@dataclass
class Predictions:
    image_id: np.ndarray  # (N,) int64
    keypoints: np.ndarray  # (N, K, 3) float64: x, y, joint score
    score: np.ndarray  # (N,) float64
    box: np.ndarray | None = None  # (N, 4) float64 xywh
    occluded: np.ndarray | None = None  # (N, K) int8
    track_id: np.ndarray | None = None  # (N,) int64
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.image_id)
        self.image_id = np.asarray(self.image_id, dtype=np.int64).reshape(n)
        self.keypoints = np.asarray(self.keypoints, dtype=np.float64)
        if self.keypoints.ndim != 3 or self.keypoints.shape[0] != n or self.keypoints.shape[2] != 3:
            raise ValueError(f"keypoints must be ({n}, K, 3), got {self.keypoints.shape}")
        self.score = np.asarray(self.score, dtype=np.float64).reshape(n)
        if self.box is None:
            self.box = np.full((n, 4), np.nan)
        if self.occluded is None:
            self.occluded = np.full((n, self.num_joints), -1, dtype=np.int8)
        if self.track_id is None:
            self.track_id = np.full(n, -1, dtype=np.int64)
        self.box = np.asarray(self.box, dtype=np.float64).reshape(n, 4)
        self.occluded = np.asarray(self.occluded, dtype=np.int8).reshape(n, self.num_joints)
        self.track_id = np.asarray(self.track_id, dtype=np.int64).reshape(n)

    def __len__(self) -> int:
        return len(self.image_id)

    @property
    def num_joints(self) -> int:
        return int(self.keypoints.shape[1])

    def select(self, mask: np.ndarray) -> Predictions:
        mask = np.asarray(mask)
        return Predictions(
            image_id=self.image_id[mask],
            keypoints=self.keypoints[mask],
            score=self.score[mask],
            box=self.box[mask],
            occluded=self.occluded[mask],
            track_id=self.track_id[mask],
            metadata=dict(self.metadata),
        )

    def to_coco_results(self, category_id: int = 1, with_track_id: bool | None = None) -> list[dict[str, Any]]:
        """COCO keypoint results; linked predictions (any track id set, or ``with_track_id``) also
        carry ``track_id`` (PoseTrack's results carry one too)."""
        kps = self.keypoints.reshape(len(self), 3 * self.num_joints).tolist()
        results = [
            {"image_id": int(i), "category_id": category_id, "keypoints": k, "score": float(s)}
            for i, k, s in zip(self.image_id.tolist(), kps, self.score.tolist(), strict=True)
        ]
        if with_track_id if with_track_id is not None else (self.track_id >= 0).any():
            for result, track in zip(results, self.track_id.tolist(), strict=True):
                result["track_id"] = track
        return results


def check_finite(preds: Predictions, source: object) -> None:
    """Every keypoint and score is finite, else an error naming the first bad record (JSON has
    no NaN, and the evaluation cannot score one)."""
    bad = np.flatnonzero(~np.isfinite(preds.keypoints).all(axis=(1, 2)) | ~np.isfinite(preds.score))
    if len(bad):
        raise OccbenchError("NaN or inf value", file=source, record=int(bad[0]), field="keypoints/score")


def write_coco_results(path: str | Path, preds: Predictions, category_id: int = 1) -> None:
    """COCO keypoint results JSON, written atomically and streamed ``RESULTS_CHUNK`` records at a
    time (orjson), so memory stays bounded at any size (a full JTA split is millions of results).
    A non-finite value is an error naming the record."""
    import orjson

    check_finite(preds, path)
    with_track_id = bool((preds.track_id >= 0).any())
    with atomic_path(Path(path)) as tmp, open(tmp, "wb") as out:
        out.write(b"[")
        for start in range(0, len(preds), RESULTS_CHUNK):
            chunk = preds.select(np.arange(start, min(start + RESULTS_CHUNK, len(preds))))
            records = orjson.dumps(chunk.to_coco_results(category_id, with_track_id))
            out.write((b"," if start else b"") + records[1:-1])
        out.write(b"]\n")


def _table(preds: Predictions) -> pa.Table:
    n, k = len(preds), preds.num_joints

    def fixed(values: np.ndarray, dtype: pa.DataType, width: int) -> pa.Array:
        return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1), dtype), width)

    table = pa.table(
        {
            "image_id": pa.array(preds.image_id, pa.int64()),
            "score": pa.array(preds.score, pa.float64()),
            "keypoints": fixed(preds.keypoints, pa.float64(), 3 * k),
            "box": fixed(preds.box, pa.float64(), 4),
            "occluded": fixed(preds.occluded, pa.int8(), k),
            "track_id": pa.array(preds.track_id, pa.int64()),
        }
    )
    meta = {METADATA_KEY: json.dumps({"num_joints": k, "count": n, **preds.metadata}).encode()}
    return table.replace_schema_metadata(meta)


def write_predictions(path: str | Path, preds: Predictions) -> Path:
    """Write predictions atomically. A folder path gets ``predictions.parquet`` inside."""
    target = Path(path)
    if target.suffix != ".parquet":
        target = target / PREDICTIONS_FILE
    with atomic_path(target) as tmp:
        pq.write_table(_table(preds), tmp, compression="zstd", row_group_size=PREDICTIONS_ROW_GROUP)
    return target


def _column_values(
    parquet: pq.ParquetFile, source: Path, name: str, dtype: Any, width: int = 1, rows: np.ndarray | None = None
) -> np.ndarray:
    """A column (scalar, or a list of ``width`` values per row) as an (n, width) array, read row
    group by row group into place: the peak is the array plus one row group's column. ``rows``
    (ascending) reads only those rows; row groups holding none of them are not read."""
    meta = parquet.metadata
    out = np.empty((meta.num_rows if rows is None else len(rows), width), dtype=dtype)
    filled = first_row = 0
    for group in range(meta.num_row_groups):
        group_rows = meta.row_group(group).num_rows
        wanted = None
        if rows is not None:
            lo, hi = np.searchsorted(rows, [first_row, first_row + group_rows])
            wanted = rows[lo:hi] - first_row
        first_row += group_rows
        if wanted is not None and len(wanted) == 0:
            continue
        chunk_start = 0
        for chunk in parquet.read_row_group(group, columns=[name]).column(name).chunks:
            flat = chunk.flatten() if pa.types.is_fixed_size_list(chunk.type) else chunk
            values = flat.to_numpy(zero_copy_only=False).reshape(-1, width)
            chunk_rows = len(values)
            if wanted is not None:
                lo, hi = np.searchsorted(wanted, [chunk_start, chunk_start + chunk_rows])
                values = values[wanted[lo:hi] - chunk_start]
            chunk_start += chunk_rows
            out[filled : filled + len(values)] = values
            filled += len(values)
    if filled != len(out):
        raise OccbenchError(f"column has {filled} values, expected {len(out)}", file=source, field=name)
    return out


def read_predictions(path: str | Path, num_joints: int | None = None, *, rows: np.ndarray | None = None) -> Predictions:
    """Read an occbench predictions Parquet (file or folder) or a COCO results JSON.

    Parquet is read column by column and row group by row group into arrays allocated once, so
    the peak is the predictions plus one row group of one column (not the whole Arrow table
    beside its copies): it matters for a full JTA split's millions of predictions. ``rows``
    (ascending indices, Parquet only) reads just those predictions.
    """
    source = prediction_file(path)
    if source.suffix == ".json":
        if rows is not None:
            raise ValueError("rows= reads Parquet predictions only")
        return read_coco_results(source, num_joints)
    parquet = pq.ParquetFile(source)
    meta = _parquet_metadata(parquet)
    k = int(meta.pop("num_joints"))

    def column(name: str, dtype: Any, width: int = 1) -> np.ndarray:
        values = _column_values(parquet, source, name, dtype, width, rows)
        return values.reshape(len(values)) if width == 1 else values

    return Predictions(
        image_id=column("image_id", np.int64),
        keypoints=column("keypoints", np.float64, k * 3).reshape(-1, k, 3),
        score=column("score", np.float64),
        box=column("box", np.float64, 4),
        occluded=column("occluded", np.int8, k),
        track_id=column("track_id", np.int64),
        metadata=meta,
    )


def prediction_file(path: str | Path) -> Path:
    """The predictions file of ``path`` (a file, or a ``predict`` output folder); raises if absent."""
    source = Path(path)
    if source.is_dir():
        source = source / PREDICTIONS_FILE
    if not source.exists():
        raise OccbenchError("predictions file not found", file=source)
    return source


def _parquet_metadata(parquet: pq.ParquetFile) -> dict[str, Any]:
    meta = json.loads((parquet.schema_arrow.metadata or {}).get(METADATA_KEY, b"{}"))
    meta.pop("count", None)
    return meta


def prediction_metadata(path: str | Path) -> dict[str, Any]:
    """The run metadata of a predictions Parquet (as ``Predictions.metadata``), from its footer."""
    meta = _parquet_metadata(pq.ParquetFile(prediction_file(path)))
    meta.pop("num_joints", None)
    return meta


def prediction_image_ids(path: str | Path) -> np.ndarray:
    """The image id of every prediction in a predictions Parquet, in file order (one column read)."""
    source = prediction_file(path)
    return _column_values(pq.ParquetFile(source), source, "image_id", np.int64).reshape(-1)


def _parse_results_json(path: Path, raw: bytes) -> Any:
    """Parse a results file with the cyclic garbage collector paused: a results file is millions of
    small lists, and the collector's passes over them would double the parse time (measured:
    1.1 s -> 0.5 s for 175k CrowdPose results). Malformed input falls back to ``load_json``'s
    messages."""
    import gc

    import orjson

    from occbench.datasets.cocolike import load_json

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return load_json(path)  # NaN / Infinity tokens, or the standard library's precise message
    finally:
        if was_enabled:
            gc.enable()


def read_coco_results(path: str | Path, num_joints: int | None = None) -> Predictions:
    """Parse a COCO keypoint results file, naming the record and field of any problem.

    Uniform files (every record with the same keys in the same order, numbers and lists of
    numbers only: what every pose codebase writes) are read column-wise by ``_columnar_results``;
    anything else, and every file with a problem, goes through the record-by-record path, which
    names the record and field."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise OccbenchError("file not found", file=path) from None
    columns = _columnar_results(raw)
    if columns is not None:
        preds = _columns_to_predictions(columns, num_joints)
        if preds is not None:
            return preds
    data = _parse_results_json(path, raw)
    del raw
    if isinstance(data, dict) and "annotations" in data:
        data = data["annotations"]
    if not isinstance(data, list):
        raise OccbenchError("expected a JSON list of results", file=path)
    return coco_results_to_predictions(data, num_joints, source=path)


# Structural JSON bytes mapped so that each record becomes one CSV line: ``{`` starts a line,
# ``}``, ``[``, ``]`` and ``:`` become separators, whitespace is deleted. A record
# ``{"image_id":1,"keypoints":[2.5,3],"score":0.9}`` (and its trailing comma) becomes the line
# ``"image_id",1,"keypoints",,2.5,3,,"score",0.9,,``: key fields, number fields and empty fields.
_RECORD_TO_CSV = bytes.maketrans(b"{}[]:", b"\n,,,,")
_JSON_WHITESPACE = b" \t\r\n"


def _columnar_results(raw: bytes) -> dict[str, np.ndarray] | None:
    """A uniform results file read column-wise: key -> (N,) or (N, L) float64 (ids: int64).

    The layout (which CSV field holds which key's numbers) comes from the first record, parsed
    with orjson; pyarrow's CSV reader then parses every record with that layout and the result
    is used only when it is proven: every key field holds its expected name in every record,
    every structural field is empty, every number field parses, and there is one line per
    record. Returns None when the file does not have that shape (the caller then parses it
    record by record)."""
    import orjson
    import pyarrow.csv as pacsv

    compact = raw.translate(_RECORD_TO_CSV, _JSON_WHITESPACE)
    # ``[{`` became ``,\n``: the CSV text starts after it; ``}]`` became ``,,``.
    if not (compact.startswith(b",\n") and compact.endswith(b",,")):
        return None
    first_end = compact.find(b"\n", 2)
    first_line = compact[2 : len(compact) if first_end < 0 else first_end]
    opening = raw.find(b"{")
    try:
        record = orjson.loads(raw[opening : raw.index(b"}", opening) + 1])
    except (orjson.JSONDecodeError, ValueError):
        return None
    if not isinstance(record, dict) or not record:
        return None
    # Expected fields of one line, from the parsed first record: key, then its number(s).
    kinds: list[tuple[str, str]] = []  # (kind, key): kind in key | number | empty
    for key, value in record.items():
        kinds.append(("key", key))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            kinds.append(("number", key))
        elif isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            kinds += [("empty", key)] + [("number", key)] * len(value) + [("empty", key)] * (1 if value else 2)
        else:
            return None
    kinds += [("empty", ""), ("empty", "")]
    if len(first_line.split(b",")) != len(kinds):
        return None
    names = [f"f{i}" for i in range(len(kinds))]
    types: dict[str, pa.DataType] = {}
    for name, (kind, key) in zip(names, kinds, strict=True):
        if kind == "key":
            types[name] = pa.dictionary(pa.int32(), pa.string())
        elif kind == "empty":
            types[name] = pa.null()
        else:
            types[name] = pa.int64() if key in ("image_id", "track_id") else pa.float64()
    try:
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(memoryview(compact)[2:])),
            # 1 MiB blocks: measured fastest on 2 cores for a 55 MB file (16 MiB: 1.6x slower).
            read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 20),
            # No CSV quoting: a key field is read with its JSON quotes, and a quoted number ("7")
            # fails to parse instead of being unquoted into a number.
            parse_options=pacsv.ParseOptions(quote_char=False),
            # Only an empty field is null: a JSON ``null`` or ``NaN`` then fails to parse.
            convert_options=pacsv.ConvertOptions(
                column_types=types, null_values=[""], strings_can_be_null=False, quoted_strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != compact.count(b"\n"):
        return None
    numbers: dict[str, list[str]] = {}
    for name, (kind, key) in zip(names, kinds, strict=True):
        column = table.column(name)
        if kind == "key":
            quoted = json.dumps(key, ensure_ascii=False)
            if column.null_count or any(c.dictionary.to_pylist() != [quoted] for c in column.chunks if len(c)):
                return None
        elif kind == "number":
            if column.null_count:
                return None
            numbers.setdefault(key, []).append(name)
    out: dict[str, np.ndarray] = {}
    for key, value in record.items():
        if not isinstance(value, list):
            out[key] = table.column(numbers[key][0]).to_numpy()
            continue
        # Filled column by column from the chunks: no per-column concatenation.
        stacked = out[key] = np.empty((table.num_rows, len(value)), np.float64)
        for j, name in enumerate(numbers.get(key, [])):
            start = 0
            for chunk in table.column(name).chunks:
                stacked[start : start + len(chunk), j] = chunk.to_numpy()
                start += len(chunk)
    return out


def _columns_to_predictions(columns: dict[str, np.ndarray], num_joints: int | None) -> Predictions | None:
    """``Predictions`` from ``_columnar_results``' columns with the record path's semantics, or
    None when anything needs the record path's error message (a missing key, a wrong keypoint
    count, a non-finite value, a malformed ``bbox``)."""
    image_id, keypoints, score = (columns.get(k) for k in ("image_id", "keypoints", "score"))
    if image_id is None or keypoints is None or score is None:
        return None
    track_id = columns.get("track_id")
    if track_id is not None and (track_id.ndim != 1 or track_id.dtype != np.int64):
        return None
    if image_id.ndim != 1 or score.ndim != 1 or keypoints.ndim != 2 or image_id.dtype != np.int64:
        return None
    n, width = keypoints.shape
    if width == 0 or width % 3 or (num_joints and width != 3 * num_joints):
        return None
    if not (np.isfinite(keypoints).all() and np.isfinite(score).all()):
        return None
    boxes, area_from_bbox = None, False
    bbox = columns.get("bbox")
    if bbox is not None and bbox.size:  # an empty first bbox: no boxes, area from keypoints
        if bbox.ndim != 2 or bbox.shape[1] != 4 or not np.isfinite(bbox).all():
            return None
        boxes, area_from_bbox = bbox, True
    return Predictions(
        image_id=image_id,
        keypoints=keypoints.reshape(n, width // 3, 3),
        score=score,
        box=boxes,
        track_id=track_id,
        metadata={"detection_area": "bbox"} if area_from_bbox else {},
    )


def _all_numbers(values: Iterable[Any]) -> bool:
    """Every value a JSON number (numpy would also turn the string "7" or True into one)."""
    return set(map(type, values)) <= {int, float}


def _numbers(values: Any, width: int, source: object, index: int, name: str) -> np.ndarray:
    """One record's list of numbers, as float64, or an error naming the record."""
    if not isinstance(values, list) or not _all_numbers(values):
        raise OccbenchError("non-numeric value", file=source, record=index, field=name)
    try:
        out = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise OccbenchError("non-numeric value", file=source, record=index, field=name) from None
    if out.shape != (width,):
        raise OccbenchError(f"expected a list of {width} numbers", file=source, record=index, field=name)
    return out


def _result_boxes(results: list[dict[str, Any]], source: object) -> tuple[np.ndarray | None, bool]:
    """The results' ``bbox`` values and whether they set the detections' area.

    pycocotools, xtcocotools, crowdposetools and faster-coco-eval (``loadRes``) take a keypoint
    result's area from ``bbox`` w x h, not from its keypoints, when the *first* result has a
    non-empty ``bbox``; every result must then have one. Any ``bbox`` present must be 4 finite
    numbers (or empty)."""
    first = results[0].get("bbox")
    area_from_bbox = first is not None and not (isinstance(first, list) and len(first) == 0)
    present = [i for i, r in enumerate(results) if r.get("bbox") not in (None, [])]
    if not present:
        return None, False
    if area_from_bbox and len(present) < len(results):
        missing = next(i for i, r in enumerate(results) if r.get("bbox") in (None, []))
        raise OccbenchError(
            "missing; the first result has a bbox, so the reference tools take every result's area from its bbox",
            file=source,
            record=missing,
            field="bbox",
        )
    boxes = np.full((len(results), 4), np.nan)
    try:
        flat = np.asarray([results[i]["bbox"] for i in present], dtype=np.float64)
        ok = (
            flat.ndim == 2
            and flat.shape[1] == 4
            and _all_numbers(chain.from_iterable(results[i]["bbox"] for i in present))
        )
    except (TypeError, ValueError):
        ok = False
    if not ok:  # find the offending record
        for i in present:
            _numbers(results[i]["bbox"], 4, source, i, "bbox")
    bad = np.flatnonzero(~np.isfinite(flat).all(axis=1))
    if len(bad):
        raise OccbenchError("NaN or inf value", file=source, record=present[int(bad[0])], field="bbox")
    boxes[present] = flat
    return (boxes if len(present) == len(results) else None), area_from_bbox


def coco_results_to_predictions(
    results: list[dict[str, Any]], num_joints: int | None = None, source: object = "<results>"
) -> Predictions:
    """COCO keypoint results -> ``Predictions``, validated record by record (the first problem is
    reported with its record and field). When the results carry a ``bbox`` the reference tools
    use for the area (see ``_result_boxes``), ``metadata["detection_area"]`` is ``"bbox"``."""
    if not results:
        return Predictions(
            image_id=np.zeros(0, np.int64), keypoints=np.zeros((0, num_joints or 0, 3)), score=np.zeros(0)
        )
    for index, rec in enumerate(results):
        if not isinstance(rec, dict):
            raise OccbenchError("result is not a JSON object", file=source, record=index)
        if rec.get("image_id") is None or rec.get("keypoints") is None or rec.get("score") is None:
            key = next(k for k in ("image_id", "keypoints", "score") if rec.get(k) is None)
            raise OccbenchError("missing", file=source, record=index, field=key)
    n = len(results)
    try:
        lengths = np.fromiter((len(r["keypoints"]) for r in results), np.int64, n)
    except TypeError:
        index = next(i for i, r in enumerate(results) if not isinstance(r["keypoints"], list))
        raise OccbenchError("not a list", file=source, record=index, field="keypoints") from None
    expected = 3 * num_joints if num_joints else int(lengths[0])
    bad = np.flatnonzero(lengths != expected)
    if len(bad) or expected % 3:
        i = int(bad[0]) if len(bad) else 0
        raise OccbenchError(
            f"has {lengths[i]} values, expected {expected} (3 per joint)", file=source, record=i, field="keypoints"
        )
    try:
        # fromiter over a flat chain is about twice as fast as asarray on nested lists.
        kps = np.fromiter(chain.from_iterable(r["keypoints"] for r in results), np.float64, n * expected)
        scores = np.fromiter((r["score"] for r in results), np.float64, n)
        image_ids = np.fromiter((r["image_id"] for r in results), np.int64, n)
        numeric = (
            _all_numbers(chain.from_iterable(r["keypoints"] for r in results))
            and _all_numbers(r["score"] for r in results)
            and _all_numbers(r["image_id"] for r in results)
        )
        if not numeric or not np.array_equal(image_ids, [r["image_id"] for r in results]):
            raise ValueError("a value that is not a JSON number, or an image id that is not an integer")
    except (TypeError, ValueError, OverflowError) as exc:
        for index, rec in enumerate(results):  # name the first offending record
            _numbers(rec["keypoints"], expected, source, index, "keypoints")
            _numbers([rec["score"]], 1, source, index, "score")
            image_id = rec["image_id"]
            try:
                integral = type(image_id) in (int, float) and np.asarray(image_id, dtype=np.int64) == image_id
            except (TypeError, ValueError, OverflowError):
                integral = False
            if not integral:
                raise OccbenchError("not an integer", file=source, record=index, field="image_id") from None
        raise OccbenchError(f"non-numeric value ({exc})", file=source) from None
    for name, values in (("keypoints", kps.reshape(n, -1)), ("score", scores.reshape(-1, 1))):
        bad_rows = np.flatnonzero(~np.isfinite(values).all(axis=1))
        if len(bad_rows):
            raise OccbenchError("NaN or inf value", file=source, record=int(bad_rows[0]), field=name)
    boxes, area_from_bbox = _result_boxes(results, source)
    return Predictions(
        image_id=image_ids,
        keypoints=kps.reshape(n, expected // 3, 3),
        score=scores,
        box=boxes,
        track_id=_result_tracks(results, source),
        metadata={"detection_area": "bbox"} if area_from_bbox else {},
    )


def _result_tracks(results: list[dict[str, Any]], source: object) -> np.ndarray | None:
    """The results' ``track_id`` (PoseTrack-style linked results): integers; -1 where absent."""
    if not any("track_id" in r for r in results):
        return None
    tracks = [r.get("track_id", -1) for r in results]
    if set(map(type, tracks)) <= {int}:
        try:
            return np.asarray(tracks, dtype=np.int64)
        except OverflowError:
            pass
    index = next(i for i, t in enumerate(tracks) if type(t) is not int or not -(2**63) <= t < 2**63)
    raise OccbenchError("not an integer", file=source, record=index, field="track_id")


def check_image_ids(image_ids: np.ndarray, known_image_ids: np.ndarray, source: object) -> None:
    """Raise naming the first prediction (by its row) whose image id the ground truth does not know."""
    unknown = np.flatnonzero(~np.isin(image_ids, known_image_ids))
    if len(unknown):
        i = int(unknown[0])
        raise OccbenchError(
            f"unknown image id {int(image_ids[i])} ({len(unknown)} predictions affected)",
            file=source,
            record=i,
            field="image_id",
        )
