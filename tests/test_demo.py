"""The main job end to end: synthetic crowds -> converters -> matrix -> leaderboards + report."""

from __future__ import annotations

import pandas as pd
import pytest

from occbench.benchmark.store import ResultsStore
from occbench.datasets.validate import validate_dataset
from occbench.demo import run_demo


@pytest.mark.slow
def test_demo_end_to_end(tmp_path) -> None:
    result = run_demo(tmp_path / "data", leaderboards=tmp_path / "lb", report=tmp_path / "demo.html")
    assert result.failed_cells == []
    for dataset in result.datasets.values():
        assert validate_dataset(dataset.root) == []
    assert result.datasets["synth-jta"].read_split("test").images["video"].str.endswith(".mp4").all()

    records = ResultsStore(result.store).records()
    assert len(records) == 32 and {r.status for r in records} == {"done"}

    # The leaderboard shows the store's numbers (the CSV keeps full precision).
    board = pd.read_csv(tmp_path / "lb" / "synth-jta_test_gt-boxes.csv")
    assert {"MOTA", "IDs", "AP occluded-only"} <= set(board.columns) and len(board) == 8
    metrics = ResultsStore(result.store).metrics()
    ap = metrics[
        (metrics.dataset == "synth-jta")
        & (metrics.matrix_protocol == "gt-boxes")
        & (metrics.breakdown == "standard")
        & (metrics.subset == "all")
        & (metrics.metric == "AP")
        & (metrics.protocol != "posetrack")
    ].set_index("cell")["value"]
    assert board.set_index("cell")["AP"].to_dict() == pytest.approx(ap.to_dict(), abs=1e-12)

    html = (tmp_path / "demo.html").read_text(encoding="utf-8")
    assert html.count('src="data:image/jpeg;base64,') >= 4 and "<svg" in html
    assert "OccNet-tiny" in html and "MOTA" in html


def test_shipped_specs_parse_and_expand() -> None:
    from pathlib import Path

    import occbench
    from occbench.benchmark.spec import load_spec
    from occbench.demo import DEMO_SPEC
    from occbench.training.shipped import SHIPPED_MODELS

    root = Path(__file__).resolve().parents[1] / "benchmark"
    # The demo's spec ships inside the package (a wheel install has it); the repository's
    # benchmark/demo.toml is a link to it.
    assert DEMO_SPEC.is_file() and Path(occbench.__file__).resolve().parent in DEMO_SPEC.parents
    assert (root / "demo.toml").resolve() == DEMO_SPEC
    demo = load_spec(root / "demo.toml")
    assert len(demo.cells()) == 4 * 2 * 2 * 2 and demo.evaluation.track
    assert {m.checkpoint for m in demo.models} == {f"builtin:{name}" for name in SHIPPED_MODELS}
    crowdpose = load_spec(root / "crowdpose.toml")
    assert {d.name for d in crowdpose.datasets} == {"crowdpose"} and len(crowdpose.cells()) == 24
