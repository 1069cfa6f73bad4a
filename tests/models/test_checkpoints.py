"""Checkpoint loading: numpy-bearing training checkpoints, mmpose layouts, strict=False reports,
user errors, sidecar JSON and InputNorm validation."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from occbench.errors import OccbenchError
from occbench.models.checkpoints import load_checkpoint, save_checkpoint
from occbench.models.registry import InputNorm, build_model


def _assert_same(target: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    own = target.state_dict()
    assert set(own) == set(state)
    for key, value in state.items():
        assert torch.equal(own[key], value), key


def _numpy_allowed() -> int:
    return sum("numpy" in repr(g) for g in torch.serialization.get_safe_globals())


def _hrnet_training_checkpoint(model: torch.nn.Module) -> dict[str, object]:
    """What HRNet/SimpleBaseline's train.py writes as checkpoint.pth (perf is a numpy float)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    return {
        "epoch": 140,
        "model": "pose_hrnet",
        "state_dict": {"module." + k: v for k, v in model.state_dict().items()},
        "best_state_dict": model.state_dict(),
        "perf": np.float64(0.744),
        "optimizer": optimizer.state_dict(),
        "extras": {"array": np.arange(4, dtype=np.float32), "dtype": np.dtype("int64"), "count": np.int64(7)},
    }


def test_training_checkpoint_with_numpy_values_loads(tmp_path) -> None:
    torch.manual_seed(0)
    source = build_model("hrnet_tiny", 17)
    path = tmp_path / "checkpoint.pth"
    torch.save(_hrnet_training_checkpoint(source), path)
    before = _numpy_allowed()
    target = build_model("hrnet_tiny", 17)
    report = load_checkpoint(target, path)
    assert (report.container, report.prefix, report.layout) == ("state_dict", "module.", "native")
    assert report.loaded == report.tensors == len(source.state_dict()) and report.complete
    _assert_same(target, source.state_dict())
    assert _numpy_allowed() == before == 0  # the allowlist is scoped, not changed globally


def test_numpy1_pickles_load_under_numpy2(tmp_path) -> None:
    source = build_model("simplebaseline_tiny", 17)
    buffer = io.BytesIO()
    # Legacy (non-zip) format: the pickle's GLOBAL names are plain text we can rewrite to what
    # numpy 1 writes (numpy.core.*) to prove both spellings are allowed.
    torch.save(_hrnet_training_checkpoint(source), buffer, _use_new_zipfile_serialization=False)
    data = buffer.getvalue()
    assert b"numpy._core.multiarray" in data
    path = tmp_path / "numpy1.pth"
    path.write_bytes(data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(path, weights_only=True)  # plain torch refuses it
    target = build_model("simplebaseline_tiny", 17)
    load_checkpoint(target, path)
    _assert_same(target, source.state_dict())


def _split_mmpose(state: dict[str, torch.Tensor], head_keys: tuple[str, ...], head: str, backbone_of: str = ""):
    out = {}
    for key, value in state.items():
        if key.startswith(head_keys):
            out[head + key] = value
        else:
            out["backbone." + key[len(backbone_of) :]] = value
    return out


@pytest.mark.parametrize(
    ("name", "head_keys", "head", "backbone_of"),
    [
        ("simplebaseline_tiny", ("deconv_layers.", "final_layer."), "keypoint_head.", ""),  # mmpose 0.x
        ("simplebaseline_tiny", ("deconv_layers.", "final_layer."), "head.", ""),  # mmpose 1.x
        ("hrnet_tiny", ("final_layer.",), "keypoint_head.", ""),
        ("cpm_tiny", (), "head.", ""),  # mmpose's CPM head has no parameters
        ("fastpose_tiny", ("duc1.", "duc2.", "conv_out."), "head.", "preact."),  # backbone. → preact.
        ("cpn_tiny", ("global_net.", "refine_net."), "head.", "resnet."),  # backbone. → resnet.
    ],
)
def test_mmpose_layouts_are_renamed(tmp_path, name, head_keys, head, backbone_of) -> None:
    torch.manual_seed(0)
    source = build_model(name, 17)
    state = _split_mmpose(source.state_dict(), head_keys, head, backbone_of)
    assert all(k.startswith(("backbone.", head)) for k in state)
    path = tmp_path / "mmpose.pth"
    torch.save({"meta": {"epoch": 210, "mmpose_version": "0.x"}, "state_dict": state, "optimizer": {}}, path)
    target = build_model(name, 17)
    report = load_checkpoint(target, path)
    assert report.layout == "mmpose" and report.container == "state_dict" and report.complete
    _assert_same(target, source.state_dict())


def test_strict_false_fine_tunes_17_joints_into_14(tmp_path) -> None:
    torch.manual_seed(0)
    coco = build_model("simplebaseline_tiny", 17)
    state = coco.state_dict()
    state["extra.weight"] = torch.ones(2)
    path = tmp_path / "coco.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    target = build_model("simplebaseline_tiny", 14)
    head_before = target.final_layer.weight.detach().clone()
    report = load_checkpoint(target, path, strict=False)
    assert report.mismatched == [
        ("final_layer.bias", (17,), (14,)),
        ("final_layer.weight", (17, 64, 1, 1), (14, 64, 1, 1)),
    ]
    assert report.unexpected == ["extra.weight"] and report.missing == [] and not report.complete
    assert report.loaded == len(target.state_dict()) - 2 and report.tensors == len(state)
    for key, value in target.state_dict().items():
        if not key.startswith("final_layer."):
            assert torch.equal(value, state[key]), key
    assert torch.equal(target.final_layer.weight, head_before)  # the new head keeps its init
    with pytest.raises(OccbenchError) as err:
        load_checkpoint(build_model("simplebaseline_tiny", 14), path, strict=True)
    assert "extra.weight" in str(err.value) and "final_layer.bias (17,) vs (14,)" in str(err.value)


def test_strict_false_lists_missing_keys(tmp_path) -> None:
    state = build_model("hrnet_tiny", 17).state_dict()
    removed = sorted(k for k in state if k.startswith("final_layer."))
    for key in removed:
        del state[key]
    path = tmp_path / "trunk.pth"
    torch.save(state, path)
    report = load_checkpoint(build_model("hrnet_tiny", 17), path, strict=False)
    assert report.missing == removed == ["final_layer.bias", "final_layer.weight"]
    assert report.loaded == len(state) and report.unexpected == [] and report.mismatched == []


def test_file_without_state_dict_lists_its_keys(tmp_path) -> None:
    path = tmp_path / "optimizer_only.pth"
    torch.save({"epoch": 3, "optimizer": {"lr": 0.1}, "perf": 0.5}, path)
    with pytest.raises(OccbenchError) as err:
        load_checkpoint(build_model("simplebaseline_tiny", 17), path)
    message = str(err.value)
    assert str(path) in message and "no state_dict" in message and "epoch, optimizer, perf" in message


@pytest.mark.parametrize("content", [b"not a safetensors file", b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}"])
def test_broken_safetensors_is_a_user_error(tmp_path, content) -> None:
    path = tmp_path / "broken.safetensors"
    path.write_bytes(content)
    with pytest.raises(OccbenchError) as err:
        load_checkpoint(build_model("simplebaseline_tiny", 17), path)
    assert err.value.file == str(path)


def test_truncated_safetensors_is_a_user_error(tmp_path) -> None:
    path = save_checkpoint(build_model("cpm_tiny", 17), tmp_path / "w.safetensors")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(OccbenchError) as err:
        load_checkpoint(build_model("cpm_tiny", 17), path)
    assert err.value.file == str(path)


def test_sidecar_json_overrides_and_is_validated(tmp_path) -> None:
    model = build_model("hourglass_tiny", 16)
    path = tmp_path / "pose.pth"
    torch.save({"state_dict": {f"model.module.{k}": v for k, v in model.state_dict().items()}}, path)
    sidecar = tmp_path / "pose.pth.json"
    norm = {"channel_order": "BGR", "scale": 1.0, "mean": [0, 0, 0], "std": [1, 1, 1]}
    sidecar.write_text(json.dumps({"norm": norm, "source": "pytorch-cpn"}))
    report = load_checkpoint(build_model("hourglass_tiny", 16), path)
    assert report.norm == norm and report.metadata["source"] == "pytorch-cpn"
    assert InputNorm.from_dict(report.norm) == InputNorm("BGR", 1.0, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    sidecar.write_text(json.dumps({"norm": {**norm, "std": [1, 0, 1]}}))
    with pytest.raises(OccbenchError) as err:
        load_checkpoint(build_model("hourglass_tiny", 16), path)
    assert err.value.file == str(sidecar) and err.value.field == "norm" and "std must be positive" in str(err.value)
    sidecar.write_text("[1, 2]")
    with pytest.raises(OccbenchError, match="JSON object"):
        load_checkpoint(build_model("hourglass_tiny", 16), path)


GOOD_NORM = {"channel_order": "rgb", "scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def test_input_norm_round_trip() -> None:
    norm = InputNorm.from_dict(GOOD_NORM)
    assert norm.channel_order == "RGB" and norm.mean == (0.485, 0.456, 0.406)
    assert InputNorm.from_dict(norm.to_dict()) == norm


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"channel_order": "GBR"}, "channel_order"),
        ({"channel_order": "RGBA"}, "channel_order"),
        ({"mean": [0.5, 0.5]}, "mean must have 3 values"),
        ({"std": [0.2, 0.2, 0.2, 0.2]}, "std must have 3 values"),
        ({"scale": 0}, "scale must be positive"),
        ({"scale": -1 / 255}, "scale must be positive"),
        ({"std": [0.2, 0.0, 0.2]}, "std must be positive"),
        ({"std": [0.2, -0.2, 0.2]}, "std must be positive"),
        ({"mean": [0.5, float("nan"), 0.5]}, "mean must be finite"),
    ],
)
def test_input_norm_rejects_bad_values(change, message) -> None:
    with pytest.raises(ValueError, match=message):
        InputNorm.from_dict({**GOOD_NORM, **change})


def test_input_norm_rejects_missing_or_non_list_fields() -> None:
    with pytest.raises(KeyError):
        InputNorm.from_dict({k: v for k, v in GOOD_NORM.items() if k != "std"})
    with pytest.raises(TypeError):
        InputNorm.from_dict({**GOOD_NORM, "mean": "0.5"})
    with pytest.raises(ValueError, match="channel_order"):
        InputNorm("bgr", 1.0, (0, 0, 0), (1, 1, 1))  # the constructor validates too (upper case only)


def test_pytorch_cpn_revision_with_upsample_bias_fails_strictly_naming_the_keys(tmp_path) -> None:
    # One pytorch-cpn revision builds global_net.upsamples.{i}.1 with bias=True; ours has none.
    state = build_model("cpn_tiny", 17).state_dict()
    for i in range(3):
        state[f"global_net.upsamples.{i}.1.bias"] = torch.zeros(64)
    path = tmp_path / "cpn.pth.tar"
    torch.save({"epoch": 32, "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    with pytest.raises(OccbenchError) as err:
        load_checkpoint(build_model("cpn_tiny", 17), path)
    assert "3 unexpected keys: global_net.upsamples.0.1.bias, global_net.upsamples.1.1.bias" in str(err.value)
