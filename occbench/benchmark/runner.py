"""Runs a matrix spec: plan the cells, skip finished ones, execute the rest, store each result.

``run_matrix`` expands the spec into cells, keys each by a content hash (``cell_key``),
skips cells already done in the store (unless ``force``), and hands the rest to an
executor (``local`` or ``ray``). Every finished cell is stored atomically as it arrives; a
failing cell is stored with its error and the others go on. The return value counts done,
skipped and failed cells; the CLI exits non-zero when any failed.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from occbench import __version__
from occbench.benchmark.spec import Cell, MatrixSpec, load_spec, stable_hash
from occbench.benchmark.store import DONE, FAILED, CellRecord, ResultsStore, default_store_for
from occbench.errors import OccbenchError
from occbench.fileio import sha256_file


@dataclass
class CellOutcome:
    """What executing one cell produced (on whatever machine executed it)."""

    metrics: pd.DataFrame | None
    provenance: dict[str, Any]
    predictions_file: Path | None = None
    error: str | None = None
    tracked_file: Path | None = None  # linked predictions of a tracking cell


@dataclass
class PlannedCell:
    cell: Cell
    key: str
    state: str  # done | failed | pending


@dataclass
class RunSummary:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0


def _dataset_manifest_hash(spec: MatrixSpec, cell: Cell) -> str:
    manifest = spec.resolve(cell.dataset.dir) / "manifest.json"
    return sha256_file(manifest) if manifest.exists() else "missing"


def _file_hash(spec: MatrixSpec, reference: str | None) -> str | None:
    if reference is None or reference.startswith("builtin:"):
        return reference
    path = spec.resolve(reference)
    return sha256_file(path) if path.is_file() else f"missing:{reference}"


def cell_key(spec: MatrixSpec, cell: Cell) -> str:
    """Content hash of everything that determines the cell's result."""
    identity = cell.identity()
    identity["dataset_manifest"] = _dataset_manifest_hash(spec, cell)
    identity["checkpoint_sha256"] = _file_hash(spec, cell.model.checkpoint)
    if cell.model.predictions is not None:
        identity["predictions_sha256"] = _file_hash(spec, predictions_path_for(cell))
    if cell.protocol.boxes.endswith(".json"):
        identity["boxes_sha256"] = _file_hash(spec, cell.protocol.boxes)
    return stable_hash(identity)[:24]


def predictions_path_for(cell: Cell) -> str:
    """Expand ``{dataset}``, ``{split}`` and ``{protocol}`` in a model's predictions path."""
    assert cell.model.predictions is not None
    return cell.model.predictions.format(
        dataset=cell.dataset.name, split=cell.dataset.split, protocol=cell.protocol.name
    )


def plan(spec: MatrixSpec, store: ResultsStore) -> list[PlannedCell]:
    out = []
    for cell in spec.cells():
        key = cell_key(spec, cell)
        out.append(PlannedCell(cell, key, store.status(key) or "pending"))
    return out


CellExecutor = Callable[[MatrixSpec, Cell, Path], CellOutcome]


def execute_cell(spec: MatrixSpec, cell: Cell, work_dir: Path) -> CellOutcome:
    """Predict (or read given predictions) and evaluate one cell. Never raises."""
    from occbench.benchmark.cells import run_cell

    started = time.perf_counter()
    try:
        outcome = run_cell(spec, cell, work_dir)
    except Exception as exc:  # a failing cell is recorded; the matrix goes on
        detail = str(exc) if isinstance(exc, OccbenchError) else "".join(traceback.format_exception(exc))
        return CellOutcome(None, {"seconds": time.perf_counter() - started}, error=f"{type(exc).__name__}: {detail}")
    outcome.provenance.setdefault("seconds", time.perf_counter() - started)
    return outcome


def _record(spec: MatrixSpec, planned: PlannedCell, outcome: CellOutcome) -> CellRecord:
    provenance = {
        "occbench_version": __version__,
        "dataset_manifest_sha256": _dataset_manifest_hash(spec, planned.cell),
        "checkpoint_sha256": _file_hash(spec, planned.cell.model.checkpoint),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **outcome.provenance,
    }
    return CellRecord(
        key=planned.key,
        status=DONE if outcome.error is None else FAILED,
        label=planned.cell.label,
        spec=spec.name,
        cell={**planned.cell.identity(), "runtime": planned.cell.runtime},
        provenance=provenance,
        error=outcome.error,
    )


def store_outcome(store: ResultsStore, spec: MatrixSpec, planned: PlannedCell, outcome: CellOutcome) -> CellRecord:
    record = _record(spec, planned, outcome)
    if outcome.error is None and outcome.metrics is not None:
        store.write_done(record, outcome.metrics, outcome.predictions_file, outcome.tracked_file)
    else:
        record.error = record.error or "the cell produced no metrics"
        store.write_failed(record)
    return record


def run_matrix(
    spec_path: str | Path,
    *,
    store_dir: str | Path | None = None,
    executor: str = "local",
    force: bool = False,
    address: str | None = None,
    only: Callable[[Cell], bool] | None = None,
    cell_executor: CellExecutor = execute_cell,
    on_event: Callable[[str, PlannedCell, CellRecord | None], None] | None = None,
) -> RunSummary:
    """Run every pending cell of a spec; see the module docstring."""
    from occbench.benchmark.executors import EXECUTORS

    spec = load_spec(spec_path)
    store = ResultsStore(store_dir or default_store_for(spec.name))
    store.clean_leftovers()
    planned = [p for p in plan(spec, store) if only is None or only(p.cell)]
    summary = RunSummary()
    todo = []
    for p in planned:
        if p.state == DONE and not force:
            summary.skipped += 1
            if on_event:
                on_event("skipped", p, None)
        else:
            todo.append(p)
    if executor not in EXECUTORS:
        raise OccbenchError(f"unknown executor {executor!r}; known: {', '.join(EXECUTORS)}", field="--executor")
    results: Iterator[tuple[PlannedCell, CellOutcome]] = EXECUTORS[executor](
        spec, todo, store.root / "work", cell_executor, address
    )
    for p, outcome in results:
        record = store_outcome(store, spec, p, outcome)
        if record.status == DONE:
            summary.done += 1
        else:
            summary.failed += 1
            summary.failures.append(f"{p.cell.label}: {record.error}")
        if on_event:
            on_event(record.status, p, record)
    return summary


def matrix_status(spec_path: str | Path, store_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per cell of the spec: its key, label, state (done / failed / pending) and error."""
    spec = load_spec(spec_path)
    store = ResultsStore(store_dir or default_store_for(spec.name))
    errors = {r.key: r.error for r in store.records() if r.status == FAILED}
    return pd.DataFrame(
        [{"key": p.key, "cell": p.cell.label, "state": p.state, "error": errors.get(p.key)} for p in plan(spec, store)],
        columns=["key", "cell", "state", "error"],
    )
