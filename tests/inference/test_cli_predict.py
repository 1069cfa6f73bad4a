"""The ``predict`` verb: bad input exits 1 with a message naming the file or option."""

from __future__ import annotations

from typer.testing import CliRunner

from occbench.cli import app
from tests.inference.helpers import make_marker_dataset


def test_predict_reports_bad_input(tmp_path) -> None:
    runner = CliRunner()
    missing = runner.invoke(
        app,
        [
            "predict",
            "--model",
            "m",
            "--dataset",
            str(tmp_path / "nope"),
            "--split",
            "test",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert missing.exit_code == 1 and "not an occbench dataset" in missing.output
    ds = make_marker_dataset(tmp_path, num_images=1)
    args = ["predict", "--model", "m", "--dataset", str(ds.root), "--split", "test", "--out", str(tmp_path / "o")]
    bad_decoder = runner.invoke(app, [*args, "--decode", "soft"])
    assert bad_decoder.exit_code == 1 and "--decode" in bad_decoder.output
    bad_split = runner.invoke(app, [*args[:5], "--split", "val", *args[7:]])
    assert bad_split.exit_code == 1 and "no split 'val'" in bad_split.output
    assert not (tmp_path / "o").exists()
