"""The main job runs end to end on a machine with no data and produces a valid dataset."""

from __future__ import annotations

from typer.testing import CliRunner

from occbench.cli import app
from occbench.datasets.store import open_dataset
from occbench.datasets.validate import validate_dataset


def test_demo_end_to_end(tmp_path) -> None:
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    ds = open_dataset(tmp_path / "demo" / "synth-crowdpose")
    assert validate_dataset(ds.root) == []
    assert sorted(ds.splits) == ["test", "train"]
    # 2 + 1 sequences of 12 frames, every 2nd frame kept.
    assert ds.manifest.splits["train"].images == 12 and ds.manifest.splits["test"].images == 6
    assert ds.manifest.splits["test"].visibility_counts["occluded"] > 0
    again = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo")])
    assert again.exit_code == 0
    assert open_dataset(tmp_path / "demo" / "synth-crowdpose").manifest.content_hash == ds.manifest.content_hash
