"""Wiring facts that key names alone do not pin down: CPM's concat order, CPN at any input size,
and the registry's variants."""

from __future__ import annotations

import pytest
import torch

from occbench.models.registry import MODELS, build_model, get_spec


def test_cpm_later_stages_read_previous_heatmaps_then_middle_features() -> None:
    torch.manual_seed(0)
    model = build_model("cpm_tiny", 14).eval()
    seen: list[torch.Tensor] = []
    model.cpm_stages[0].register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    x = torch.randn(1, 3, 128, 96)
    with torch.no_grad():
        out = model(x)
        middle = model.middle_conv[0](model.middle(x))
    (stage_input,) = seen
    assert stage_input.shape == (1, 14 + 16, 16, 12)
    assert torch.equal(stage_input[:, :14], out["stages"][0])  # heatmaps first (mmpose order)
    assert torch.allclose(stage_input[:, 14:], middle)
    # Each later stage ends in out_convs: the last 1x1 conv (with bias) gives the stage's maps.
    with torch.no_grad():
        assert torch.allclose(model.out_convs[0](model.cpm_stages[0](stage_input)), out["stages"][1])


def test_cpn_sizes_its_heatmaps_from_the_input() -> None:
    torch.manual_seed(0)
    model = build_model("cpn_tiny", 5).eval()
    with torch.no_grad():
        for h, w in ((128, 96), (256, 192), (96, 128)):
            out = model(torch.randn(1, 3, h, w))
            assert [tuple(s.shape) for s in out["stages"]] == [(1, 5, h // 4, w // 4)] * 5
    # The resize is parameterless, so the key layout is pytorch-cpn's (indices unchanged).
    keys = set(model.state_dict())
    assert "global_net.predict.0.5.weight" in keys and "global_net.predict.0.4.weight" not in keys


def test_cpn_global_maps_are_bilinear_resizes_of_the_level_predictions() -> None:
    torch.manual_seed(0)
    model = build_model("cpn_tiny", 3).eval()
    x = torch.randn(1, 3, 128, 96)
    with torch.no_grad():
        out = model(x)
        fms, _ = model.global_net(model.resnet(x)[::-1], (32, 24))
        coarse = model.global_net.predict[0][:4](fms[0])  # C5 level, at 1/32 of the input
        expected = model.global_net.predict[0][5](
            torch.nn.functional.interpolate(coarse, size=(32, 24), mode="bilinear", align_corners=True)
        )
    assert coarse.shape[-2:] == (4, 3)
    assert torch.allclose(out["stages"][0], expected, atol=1e-6)


VARIANTS = {
    "simplebaseline_r50_384x288": ((384, 288), (96, 72)),
    "simplebaseline_r101_384x288": ((384, 288), (96, 72)),
    "simplebaseline_r152_384x288": ((384, 288), (96, 72)),
    "hrnet_w32_384x288": ((384, 288), (96, 72)),
    "hrnet_w48_384x288": ((384, 288), (96, 72)),
    "occnet_r101": ((256, 192), (64, 48)),
    "occnet_r152": ((256, 192), (64, 48)),
    "occnetcb_r101": ((256, 192), (64, 48)),
    "occnetcb_r152": ((256, 192), (64, 48)),
    "cpn_r50_384x288": ((384, 288), (96, 72)),
    "cpn_r101_384x288": ((384, 288), (96, 72)),
    "cpm": ((256, 192), (32, 24)),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_registry_variants(name) -> None:
    spec = get_spec(name)
    assert (spec.input_size, spec.heatmap_size) == VARIANTS[name]
    with torch.device("meta"):
        out = build_model(name, 17)(torch.zeros(1, 3, *spec.input_size))
    assert tuple(out["heatmaps"].shape) == (1, 17, *spec.heatmap_size)


def _params(name: str) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in build_model(name, 17).parameters())


# pose_resnet 101 − 50 and 152 − 50 (MODELS.md reference sizes): the trunk is all that changes.
TRUNK_DELTA = {101: 52_991_825 - 33_999_697, 152: 68_635_473 - 33_999_697}


@pytest.mark.parametrize(
    ("deeper", "base", "depth"),
    [
        ("occnet_r101", "occnet_r50", 101),
        ("occnet_r152", "occnet_r50", 152),
        ("occnetcb_r101", "occnetcb_r50", 101),
        ("occnetcb_r152", "occnetcb_r50", 152),
        ("cpn_r101_384x288", "cpn_r50", 101),
    ],
)
def test_deeper_variants_differ_by_the_resnet_trunk(deeper, base, depth) -> None:
    assert _params(deeper) - _params(base) == TRUNK_DELTA[depth]


def test_384x288_variants_share_weights_and_norm_with_256x192() -> None:
    for name in ("simplebaseline_r50", "simplebaseline_r101", "simplebaseline_r152", "hrnet_w32", "hrnet_w48"):
        low, high = get_spec(name), get_spec(f"{name}_384x288")
        assert high.norm == low.norm and high.family == low.family and high.checkpoint_format
        assert _params(name) == _params(f"{name}_384x288")
    assert len({s.name for s in MODELS.values()}) == len(MODELS)
