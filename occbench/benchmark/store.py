"""The results store: one folder per finished (or failed) matrix cell, written atomically.

Layout::

    STORE/cells/<key>/cell.json          status, the cell, provenance, timings, error
    STORE/cells/<key>/metrics.parquet    the evaluation's tidy table (done cells)
    STORE/cells/<key>/predictions.parquet
    STORE/cells/<key>/tracked.parquet     the linked predictions (tracking cells on video splits)

A cell folder is assembled under ``STORE/cells/.tmp-*`` and moved into place with one
rename, so Ctrl-C or a kill leaves either the whole cell or nothing; leftovers of killed
runs are ignored and cleaned. ``<key>`` is the cell's content hash.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from occbench.errors import OccbenchError
from occbench.fileio import replace_dir

CELL_FILE = "cell.json"
METRICS_FILE = "metrics.parquet"
PREDICTIONS_FILE = "predictions.parquet"
TRACKED_FILE = "tracked.parquet"
DONE, FAILED = "done", "failed"


@dataclass
class CellRecord:
    key: str
    status: str  # done | failed
    label: str
    spec: str
    cell: dict[str, Any]
    provenance: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def model(self) -> str:
        return self.cell["model"]["name"]

    @property
    def dataset(self) -> str:
        return self.cell["dataset"]["name"]

    @property
    def split(self) -> str:
        return self.cell["dataset"]["split"]

    @property
    def protocol(self) -> str:
        return self.cell["protocol"]["name"]

    def variant(self) -> str:
        m = self.cell["model"]
        if m.get("predictions"):
            return "given predictions"
        return f"flip={'on' if m['flip'] else 'off'}, {m['decoder']}, nms={m['nms']}"


class ResultsStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.cells_dir = self.root / "cells"

    def cell_dir(self, key: str) -> Path:
        return self.cells_dir / key

    def status(self, key: str) -> str | None:
        file = self.cell_dir(key) / CELL_FILE
        if not file.exists():
            return None
        return json.loads(file.read_text())["status"]

    def _publish(self, record: CellRecord, files: dict[str, Any]) -> Path:
        self.cells_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".tmp-{record.key[:12]}-", dir=self.cells_dir))
        try:
            for name, writer in files.items():
                writer(staging / name)
            (staging / CELL_FILE).write_text(json.dumps(asdict(record), indent=2, default=str) + "\n")
            replace_dir(staging, self.cell_dir(record.key))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return self.cell_dir(record.key)

    def write_done(
        self,
        record: CellRecord,
        metrics: pd.DataFrame,
        predictions_file: Path | None = None,
        tracked_file: Path | None = None,
    ) -> Path:
        record.status = DONE

        def write_metrics(path: Path) -> None:
            table = metrics.copy()
            table.attrs = {}
            table.to_parquet(path, index=False)

        files: dict[str, Any] = {METRICS_FILE: write_metrics}
        if predictions_file is not None:
            files[PREDICTIONS_FILE] = lambda path: shutil.copyfile(predictions_file, path)
        if tracked_file is not None:
            files[TRACKED_FILE] = lambda path: shutil.copyfile(tracked_file, path)
        return self._publish(record, files)

    def write_failed(self, record: CellRecord) -> Path:
        record.status = FAILED
        return self._publish(record, {})

    def clean_leftovers(self) -> int:
        """Remove staging folders of killed runs; returns how many."""
        if not self.cells_dir.exists():
            return 0
        leftovers = [p for p in self.cells_dir.iterdir() if p.name.startswith(".")]
        for p in leftovers:
            shutil.rmtree(p, ignore_errors=True)
        return len(leftovers)

    def records(self) -> list[CellRecord]:
        if not self.cells_dir.exists():
            return []
        out = []
        for folder in sorted(self.cells_dir.iterdir()):
            file = folder / CELL_FILE
            if folder.name.startswith(".") or not file.exists():
                continue
            try:
                out.append(CellRecord(**json.loads(file.read_text())))
            except (json.JSONDecodeError, TypeError) as exc:
                raise OccbenchError(f"unreadable cell record ({exc})", file=file) from None
        return out

    def metrics(self, records: list[CellRecord] | None = None) -> pd.DataFrame:
        """All done cells' metrics, with the cell's model/variant/dataset/protocol columns."""
        frames = []
        for rec in records if records is not None else self.records():
            if rec.status != DONE:
                continue
            table = pd.read_parquet(self.cell_dir(rec.key) / METRICS_FILE)
            table.insert(0, "cell", rec.key)
            table.insert(1, "model", rec.model)
            table.insert(2, "variant", rec.variant())
            table.insert(3, "matrix_protocol", rec.protocol)
            frames.append(table)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def predictions_path(self, key: str) -> Path | None:
        path = self.cell_dir(key) / PREDICTIONS_FILE
        return path if path.exists() else None

    def tracked_path(self, key: str) -> Path | None:
        path = self.cell_dir(key) / TRACKED_FILE
        return path if path.exists() else None


def default_store_for(spec_name: str) -> Path:
    return Path(os.environ.get("OCCBENCH_RUNS", "runs")) / spec_name
