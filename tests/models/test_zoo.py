"""The model zoo: exact sizes of the official layouts, key compatibility, checkpoints, contract."""

from __future__ import annotations

import pytest
import torch

from occbench.errors import OccbenchError
from occbench.models.checkpoints import load_checkpoint, save_checkpoint
from occbench.models.registry import FAMILIES, MODELS, build_model, get_spec

# MODELS.md "Reference sizes": measured by building each official model from its own code.
REFERENCE_SIZES = {
    ("simplebaseline_r50", 17): (33_999_697, 338),
    ("simplebaseline_r101", 17): (52_991_825, 644),
    ("simplebaseline_r152", 17): (68_635_473, 950),
    ("hrnet_w32", 17): (28_536_113, 1754),
    ("hrnet_w48", 17): (63_595_745, 1754),
    ("hourglass_8", 16): (32_819_328, 2752),
    ("hourglass_2", 16): (8_429_088, 742),
    ("cpn_r50", 17): (27_406_826, 582),
    ("fastpose_r50", 17): (40_577_745, 348),
    # mmpose's CPM (the only public PyTorch CPM): 6 stages, 17 joints.
    ("cpm", 17): (31_304_166, 216),
    # The 384x288 variants are the same networks.
    ("simplebaseline_r152_384x288", 17): (68_635_473, 950),
    ("hrnet_w48_384x288", 17): (63_595_745, 1754),
    ("cpn_r50_384x288", 17): (27_406_826, 582),
}


def _meta_model(name: str, joints: int) -> torch.nn.Module:
    with torch.device("meta"):
        return build_model(name, joints)


@pytest.mark.parametrize(("name", "joints"), list(REFERENCE_SIZES), ids=lambda v: str(v))
def test_official_layouts_have_the_reference_sizes(name, joints) -> None:
    model = _meta_model(name, joints)
    params, entries = REFERENCE_SIZES[(name, joints)]
    assert sum(p.numel() for p in model.parameters()) == params
    assert len(model.state_dict()) == entries


DOCUMENTED_KEYS = {
    "simplebaseline_r50": [
        ("conv1.weight", (64, 3, 7, 7)),
        ("layer1.0.downsample.0.weight", (256, 64, 1, 1)),
        ("layer4.2.bn3.running_var", (2048,)),
        ("deconv_layers.0.weight", (2048, 256, 4, 4)),
        ("deconv_layers.7.weight", (256,)),
        ("final_layer.weight", (17, 256, 1, 1)),
        ("final_layer.bias", (17,)),
    ],
    "hrnet_w32": [
        ("conv2.weight", (64, 64, 3, 3)),
        ("layer1.3.conv3.weight", (256, 64, 1, 1)),
        ("transition1.0.0.weight", (32, 256, 3, 3)),
        ("transition1.1.0.0.weight", (64, 256, 3, 3)),
        ("transition2.2.0.0.weight", (128, 64, 3, 3)),
        ("stage2.0.branches.1.3.conv2.weight", (64, 64, 3, 3)),
        ("stage3.3.fuse_layers.2.0.1.1.weight", (128,)),
        ("stage4.2.fuse_layers.0.3.0.weight", (32, 256, 1, 1)),
        ("final_layer.weight", (17, 32, 1, 1)),
    ],
    "hourglass_8": [
        ("pre.0.conv.weight", (64, 3, 7, 7)),
        ("pre.0.bn.weight", (64,)),
        ("pre.4.skip_layer.conv.weight", (256, 128, 1, 1)),
        ("hgs.0.0.up1.skip_layer.conv.weight", (256, 256, 1, 1)),
        ("hgs.7.0.low2.low2.low2.low2.conv3.conv.bias", (256,)),
        ("features.0.1.bn.running_mean", (256,)),
        ("outs.7.conv.weight", (16, 256, 1, 1)),
        ("merge_preds.6.conv.conv.weight", (256, 16, 1, 1)),
        ("merge_features.0.conv.conv.bias", (256,)),
    ],
    "cpn_r50": [
        ("resnet.conv1.weight", (64, 3, 7, 7)),
        ("resnet.layer4.0.downsample.1.running_mean", (2048,)),
        ("global_net.laterals.0.0.weight", (256, 2048, 1, 1)),
        ("global_net.upsamples.2.1.weight", (256, 256, 1, 1)),
        ("global_net.predict.3.3.weight", (17, 256, 3, 3)),
        ("global_net.predict.0.5.weight", (17,)),
        ("refine_net.cascade.0.2.downsample.0.weight", (256, 256, 1, 1)),
        ("refine_net.final_predict.0.conv1.weight", (128, 1024, 1, 1)),
        ("refine_net.final_predict.1.weight", (17, 256, 3, 3)),
        ("refine_net.final_predict.2.running_var", (17,)),
    ],
    "cpm": [
        ("stem.0.conv.weight", (128, 3, 9, 9)),
        ("stem.0.bn.running_var", (128,)),
        ("stem.6.conv.weight", (32, 128, 5, 5)),
        ("stem.7.conv.weight", (512, 32, 9, 9)),
        ("stem.9.conv.weight", (17, 512, 1, 1)),
        ("stem.9.conv.bias", (17,)),
        ("middle.4.conv.weight", (128, 128, 9, 9)),
        ("middle_conv.4.0.conv.weight", (32, 128, 5, 5)),
        ("middle_conv.0.0.bn.weight", (32,)),
        ("cpm_stages.0.model.0.conv.weight", (128, 17 + 32, 11, 11)),
        ("cpm_stages.4.model.2.bn.num_batches_tracked", ()),
        ("out_convs.0.0.conv.weight", (128, 128, 1, 1)),
        ("out_convs.4.1.conv.weight", (17, 128, 1, 1)),
        ("out_convs.4.1.conv.bias", (17,)),
    ],
    "fastpose_r50": [
        ("preact.conv1.weight", (64, 3, 7, 7)),
        ("preact.layer1.0.se.fc.0.weight", (256, 256)),
        ("preact.layer4.0.se.fc.2.bias", (2048,)),
        ("duc1.conv.weight", (1024, 512, 3, 3)),
        ("duc2.bn.running_var", (512,)),
        ("conv_out.weight", (17, 128, 3, 3)),
    ],
}


@pytest.mark.parametrize("name", list(DOCUMENTED_KEYS))
def test_documented_keys_and_shapes(name) -> None:
    joints = 16 if name.startswith("hourglass") else 17
    state = _meta_model(name, joints).state_dict()
    for key, shape in DOCUMENTED_KEYS[name]:
        assert key in state, key
        assert tuple(state[key].shape) == shape, key
    if name == "cpm":  # mmcv ConvModule: a conv followed by BN has no bias
        assert "stem.0.conv.bias" not in state and "out_convs.0.0.conv.bias" not in state
        assert not any(k.startswith(("stem.1.", "stem.3.", "stem.5.")) for k in state)  # max pools
    if name == "fastpose_r50":
        assert not any(".1.se." in k or ".2.se." in k for k in state)  # SE only in block 0 of each stage


@pytest.mark.parametrize(
    ("container", "prefix"),
    [(None, ""), ("state_dict", "module."), ("state_dict", "model.module."), ("best_state_dict", "")],
)
def test_official_checkpoint_containers_load_strictly(tmp_path, container, prefix) -> None:
    source = build_model("hourglass_tiny", 16)
    state = {prefix + k: v for k, v in source.state_dict().items()}
    payload = state if container is None else {container: state, "epoch": 3}
    path = tmp_path / "model.pth.tar"
    torch.save(payload, path)
    target = build_model("hourglass_tiny", 16)
    report = load_checkpoint(target, path)
    assert report.prefix == prefix and report.container == container
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key


def test_wrong_keys_are_reported_by_name(tmp_path) -> None:
    state = build_model("simplebaseline_tiny", 14).state_dict()
    state["final_layer.extra"] = torch.zeros(1)
    del state["deconv_layers.1.running_var"]
    state["final_layer.weight"] = torch.zeros(17, 64, 1, 1)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(OccbenchError) as err:
        load_checkpoint(build_model("simplebaseline_tiny", 14), path)
    message = str(err.value)
    assert str(path) in message and "deconv_layers.1.running_var" in message
    assert "final_layer.extra" in message and "final_layer.weight (17, 64, 1, 1) vs (14, 64, 1, 1)" in message


def test_pickled_objects_are_refused(tmp_path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "payload": Evil()}, path)
    with pytest.raises(OccbenchError, match="weights_only"):
        load_checkpoint(build_model("simplebaseline_tiny", 14), path)


def test_safetensors_round_trip_keeps_the_norm(tmp_path) -> None:
    model = build_model("occnet_tiny", 14)
    spec = get_spec("simplebaseline_r50")
    path = save_checkpoint(model, tmp_path / "w.safetensors", norm=spec.norm, metadata={"recipe": "unit"})
    fresh = build_model("occnet_tiny", 14)
    report = load_checkpoint(fresh, path)
    assert report.norm == spec.norm.to_dict() and report.norm["channel_order"] == "BGR"
    assert report.metadata["recipe"] == "unit"
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value)


@pytest.mark.parametrize("name", [n for n in MODELS if n.endswith("_tiny")])
def test_tiny_variants_follow_the_output_contract(name) -> None:
    spec = get_spec(name)
    model = build_model(name, 14).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, *spec.input_size))
    h, w = spec.heatmap_size
    assert out["heatmaps"].shape == (2, 14, h, w)
    assert all(s.shape == (2, 14, h, w) for s in out["stages"])
    assert torch.equal(out["stages"][-1], out["heatmaps"]) or spec.family in ("occnet", "occnetcb")
    if spec.family in ("occnet", "occnetcb"):
        assert torch.allclose(out["heatmaps"], out["heatmaps_vis"] + out["heatmaps_occ"])
    expected_stages = {"hourglass": 2, "cpm": 3, "cpn": 5}.get(spec.family, 1)
    assert len(out["stages"]) == expected_stages
    assert sum(p.numel() for p in model.parameters()) < 1_700_000


def test_every_family_has_a_tiny_variant() -> None:
    assert set(FAMILIES) == {MODELS[n].family for n in MODELS if n.endswith("_tiny")}
    assert set(FAMILIES) == {"simplebaseline", "hrnet", "occnet", "occnetcb", "hourglass", "cpm", "cpn", "fastpose"}


def test_occnetcb_stop_gradient_isolates_the_heads() -> None:
    from occbench.models.occnet import OccNetCB

    model = OccNetCB(14, layers=(1, 1, 1, 1), width=16, filters=64, stop_gradient=True)
    out = model(torch.randn(1, 3, 128, 96))
    out["heatmaps_vis"].sum().backward()
    assert model.up3_occ[0].weight.grad is None or model.up3_occ[0].weight.grad.abs().sum() == 0
    assert model.up3_vis[0].weight.grad.abs().sum() > 0
