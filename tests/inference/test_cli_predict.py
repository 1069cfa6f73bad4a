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


def test_predict_verb_runs_a_zoo_model_from_its_checkpoint(tmp_path) -> None:
    import torch

    from occbench.fileio import sha256_file
    from occbench.models.registry import IMAGENET_MEAN, IMAGENET_STD, InputNorm, build_model, save_checkpoint
    from occbench.predictions import read_predictions

    ds = make_marker_dataset(tmp_path, num_images=2)
    torch.manual_seed(0)
    checkpoint = tmp_path / "sb_tiny.safetensors"
    norm = InputNorm("BGR", 1 / 255, IMAGENET_MEAN, IMAGENET_STD)
    save_checkpoint(build_model("simplebaseline_tiny", 14), checkpoint, norm=norm)
    out = tmp_path / "out"
    args = [
        "predict",
        "--model",
        "simplebaseline_tiny",
        "--dataset",
        str(ds.root),
        "--split",
        "test",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(app, [*args, "--checkpoint", str(checkpoint), "--flip", "--boxes", "jitter:0.05"])
    assert result.exit_code == 0, result.output
    assert "4 predictions from 4 persons in 2 images" in " ".join(result.output.split())
    meta = read_predictions(out).metadata
    assert meta["checkpoint_sha256"] == sha256_file(checkpoint)
    assert meta["channel_order"] == "BGR" and meta["input_size"] == [128, 96] and meta["heatmap_size"] == [32, 24]
    assert meta["boxes"] == "jitter:0.05" and meta["flip"] is True
    # Weights of another architecture are refused by name.
    wrong = tmp_path / "hrnet_tiny.safetensors"
    save_checkpoint(build_model("hrnet_tiny", 14), wrong)
    refused = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "o2"), "--checkpoint", str(wrong)])
    message = " ".join(refused.output.split())
    assert refused.exit_code == 1 and "hrnet_tiny.safetensors" in message and "missing keys" in message
