"""The model zoo registry: every family and variant, their standard inputs and normalisation.

``MODELS`` maps a name to a ``ModelSpec``; ``build_model(name, num_joints)`` makes the
module. Every model takes a normalised (B, 3, H, W) float batch and returns a dict with
``"heatmaps"`` (B, K, h, w), the final map; ``"stages"``, every supervised stage's maps; and,
for OccNet/OccNetCB, ``"heatmaps_vis"`` and ``"heatmaps_occ"`` (``heatmaps`` = their sum).

``InputNorm`` turns raw uint8 pixels into the model input, per checkpoint: the channel order
the weights expect, a scale (1/255), then (x - mean) / std in that channel order. The
defaults are the official ones: pose_resnet reads BGR with cv2 and never converts (the
ImageNet mean/std are applied to B, G, R as written); HRNet's yamls set RGB; the hourglass
divides by 255 only; pytorch-cpn subtracts RGB means with no std; FastPose subtracts
(0.406, 0.457, 0.480). A checkpoint may carry its own (``checkpoints.load_checkpoint``).

``InputNorm`` validates itself: the channel order must be RGB or BGR, mean and std three
finite values each, scale and std positive (``ValueError`` otherwise, which the inference
pipeline turns into an OccbenchError naming the checkpoint).

Variants: ``*_384x288`` names differ from the 256x192 ones only in the standard input (the
same weights run at either size; the official repositories train one checkpoint per size).
Each family has a ``*_tiny`` variant, the same code narrow and shallow at 128x96 input, for
CPU tests, the demo and the shipped checkpoints. docs/models.md has the zoo table.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from torch import nn

from occbench.errors import OccbenchError
from occbench.models.checkpoints import LoadReport, load_checkpoint, save_checkpoint  # noqa: F401 (public API)
from occbench.models.cpm import CPM
from occbench.models.cpn import CPN
from occbench.models.fastpose import FastPose
from occbench.models.hourglass import StackedHourglass
from occbench.models.hrnet import HRNetConfig, PoseHighResolutionNet, StageConfig, hrnet_config
from occbench.models.occnet import OccNet, OccNetCB
from occbench.models.simplebaseline import PoseResNet

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InputNorm:
    channel_order: str  # "RGB" or "BGR": the order the model expects
    scale: float  # pixels * scale first
    mean: tuple[float, float, float]  # then (x - mean) / std, in the model's channel order
    std: tuple[float, float, float]

    def to_dict(self) -> dict[str, object]:
        return {
            "channel_order": self.channel_order,
            "scale": self.scale,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    def __post_init__(self) -> None:
        # Validated here so a bad sidecar JSON or a typo in code fails at once, not as odd heatmaps.
        if self.channel_order not in ("RGB", "BGR"):
            raise ValueError(f"channel_order must be 'RGB' or 'BGR', got {self.channel_order!r}")
        for name in ("mean", "std"):
            values = getattr(self, name)
            if len(values) != 3:
                raise ValueError(f"{name} must have 3 values (one per channel), got {len(values)}")
            if not all(math.isfinite(v) for v in values):
                raise ValueError(f"{name} must be finite, got {list(values)}")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"scale must be positive, got {self.scale}")
        if not all(v > 0 for v in self.std):
            raise ValueError(f"std must be positive, got {list(self.std)}")

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> InputNorm:
        """Parse ``to_dict``'s form (a sidecar JSON's ``norm``); raises KeyError/TypeError/ValueError."""
        mean, std = data["mean"], data["std"]
        if isinstance(mean, (str, bytes)) or isinstance(std, (str, bytes)):
            raise TypeError("mean and std must be lists of 3 numbers")
        return cls(
            str(data["channel_order"]).upper(),
            float(data["scale"]),  # type: ignore[arg-type]
            tuple(float(v) for v in mean),  # type: ignore[attr-defined]
            tuple(float(v) for v in std),  # type: ignore[attr-defined]
        )


RGB_IMAGENET = InputNorm("RGB", 1 / 255, IMAGENET_MEAN, IMAGENET_STD)
BGR_IMAGENET = InputNorm("BGR", 1 / 255, IMAGENET_MEAN, IMAGENET_STD)
HOURGLASS_NORM = InputNorm("RGB", 1 / 255, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
CPN_NORM = InputNorm("RGB", 1 / 255, (122.7717 / 255, 115.9465 / 255, 102.9801 / 255), (1.0, 1.0, 1.0))
FASTPOSE_NORM = InputNorm("RGB", 1 / 255, (0.406, 0.457, 0.480), (1.0, 1.0, 1.0))


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str  # simplebaseline | hrnet | occnet | occnetcb | hourglass | cpm | cpn | fastpose
    input_size: tuple[int, int]  # (H, W) standard input
    heatmap_size: tuple[int, int]  # (h, w) at that input
    norm: InputNorm
    build: Callable[..., nn.Module]  # build(num_joints, input_size=None) -> model
    description: str = ""
    checkpoint_format: str = ""

    @property
    def stride(self) -> int:
        return self.input_size[0] // self.heatmap_size[0]


STD = (256, 192)
TINY = (128, 96)
TINY_LAYERS = (1, 1, 1, 1)
TINY_HRNET = HRNetConfig(
    stem_channels=32,
    layer1_planes=16,
    layer1_blocks=1,
    stage2=StageConfig(1, (1, 1), (16, 32)),
    stage3=StageConfig(1, (1, 1, 1), (16, 32, 64)),
    stage4=StageConfig(1, (1, 1, 1, 1), (16, 32, 64, 128)),
)


def _ignore_size(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    def build(num_joints: int, input_size: tuple[int, int] | None = None) -> nn.Module:
        return factory(num_joints)

    return build


def _spec(
    name: str,
    family: str,
    input_size: tuple[int, int],
    stride: int,
    norm: InputNorm,
    build: Callable[..., nn.Module],
    description: str,
    checkpoint_format: str = "",
) -> ModelSpec:
    heatmap = (input_size[0] // stride, input_size[1] // stride)
    return ModelSpec(name, family, input_size, heatmap, norm, build, description, checkpoint_format)


HIGH = (384, 288)
SIZES = {"": STD, "_384x288": HIGH}  # name suffix -> standard input (H, W)
POSE_RESNET_FORMAT = "official pose_resnet .pth (no prefix; checkpoint.pth: module.-prefixed state_dict); mmpose"
HRNET_FORMAT = "official pose_hrnet .pth (no prefix; checkpoint.pth: module.-prefixed state_dict); mmpose"
CPN_FORMAT = "pytorch-cpn checkpoint['state_dict'], prefix module."

_SPECS = [
    *[
        _spec(
            f"simplebaseline_r{d}{suffix}",
            "simplebaseline",
            size,
            4,
            BGR_IMAGENET,
            _ignore_size(partial(PoseResNet, depth=d)),
            f"SimpleBaseline pose_resnet-{d}",
            POSE_RESNET_FORMAT,
        )
        for d in (50, 101, 152)
        for suffix, size in SIZES.items()
    ],
    *[
        _spec(
            f"hrnet_w{w}{suffix}",
            "hrnet",
            size,
            4,
            RGB_IMAGENET,
            _ignore_size(partial(PoseHighResolutionNet, config=hrnet_config(w))),
            f"HRNet-W{w} (pose_hrnet)",
            HRNET_FORMAT,
        )
        for w in (32, 48)
        for suffix, size in SIZES.items()
    ],
    *[
        _spec(
            f"occnet_r{d}",
            "occnet",
            STD,
            4,
            RGB_IMAGENET,
            _ignore_size(partial(OccNet, depth=d)),
            f"OccNet: ResNet-{d}, visible and occluded branches after two deconvs",
        )
        for d in (50, 101, 152)
    ],
    *[
        _spec(
            f"occnetcb_r{d}",
            "occnetcb",
            STD,
            4,
            RGB_IMAGENET,
            _ignore_size(partial(OccNetCB, depth=d)),
            f"OccNetCB: cross-branch OccNet, ResNet-{d} (branches after one deconv, concatenated for both heads)",
        )
        for d in (50, 101, 152)
    ],
    _spec(
        "occnetcb_sg_r50",
        "occnetcb",
        STD,
        4,
        RGB_IMAGENET,
        _ignore_size(partial(OccNetCB, depth=50, stop_gradient=True)),
        "OccNetCB, ResNet-50, each head sees the other branch's features detached (stop-gradient)",
    ),
    *[
        _spec(
            f"hourglass_{n}",
            "hourglass",
            (256, 256),
            4,
            HOURGLASS_NORM,
            _ignore_size(partial(StackedHourglass, nstack=n)),
            f"Stacked Hourglass, {n} stacks (princeton-vl)",
            "princeton-vl checkpoint['state_dict'], prefix model.module.",
        )
        for n in range(1, 9)
    ],
    _spec(
        "cpm",
        "cpm",
        STD,
        8,
        RGB_IMAGENET,
        _ignore_size(CPM),
        "Convolutional Pose Machines, 6 stages (mmpose layout)",
        "mmpose checkpoint['state_dict'], prefix backbone.",
    ),
    *[
        _spec(
            f"cpn_r{d}{suffix}",
            "cpn",
            size,
            4,
            CPN_NORM,
            _ignore_size(partial(CPN, depth=d)),
            f"CPN: GlobalNet + RefineNet, ResNet-{d}",
            CPN_FORMAT,
        )
        for d, suffix, size in ((50, "", STD), (50, "_384x288", HIGH), (101, "_384x288", HIGH))
    ],
    _spec(
        "fastpose_r50",
        "fastpose",
        STD,
        4,
        FASTPOSE_NORM,
        _ignore_size(partial(FastPose, depth=50)),
        "RMPE's SPPE as AlphaPose FastPose (SE-ResNet-50 + DUC)",
        "AlphaPose .pth (no prefix)",
    ),
    # Tiny variants: the same code, narrow and shallow, 128x96 input.
    _spec(
        "simplebaseline_tiny",
        "simplebaseline",
        TINY,
        4,
        RGB_IMAGENET,
        _ignore_size(partial(PoseResNet, layers=TINY_LAYERS, width=16, deconv_filters=64)),
        "SimpleBaseline, tiny (ResNet width 16, one block per stage, 64-filter deconvs)",
    ),
    _spec(
        "hrnet_tiny",
        "hrnet",
        TINY,
        4,
        RGB_IMAGENET,
        _ignore_size(partial(PoseHighResolutionNet, config=TINY_HRNET)),
        "HRNet, tiny (W16, one module per stage)",
    ),
    _spec(
        "occnet_tiny",
        "occnet",
        TINY,
        4,
        RGB_IMAGENET,
        _ignore_size(partial(OccNet, layers=TINY_LAYERS, width=16, filters=64)),
        "OccNet, tiny",
    ),
    _spec(
        "occnetcb_tiny",
        "occnetcb",
        TINY,
        4,
        RGB_IMAGENET,
        _ignore_size(partial(OccNetCB, layers=TINY_LAYERS, width=16, filters=64)),
        "OccNetCB, tiny",
    ),
    _spec(
        "hourglass_tiny",
        "hourglass",
        TINY,
        4,
        HOURGLASS_NORM,
        _ignore_size(partial(StackedHourglass, nstack=2, inp_dim=64, depth=3, stem=(32, 64))),
        "Stacked Hourglass, tiny (2 stacks, 64 channels, depth 3)",
    ),
    _spec(
        "cpm_tiny",
        "cpm",
        TINY,
        8,
        RGB_IMAGENET,
        _ignore_size(partial(CPM, num_stages=3, feat=16, middle=16, stage1_width=64)),
        "CPM, tiny (3 stages)",
    ),
    _spec(
        "cpn_tiny",
        "cpn",
        TINY,
        4,
        CPN_NORM,
        _ignore_size(partial(CPN, layers=TINY_LAYERS, width=16, lateral=64)),
        "CPN, tiny",
    ),
    _spec(
        "fastpose_tiny",
        "fastpose",
        TINY,
        4,
        FASTPOSE_NORM,
        _ignore_size(partial(FastPose, layers=TINY_LAYERS, width=16)),
        "FastPose, tiny",
    ),
]

MODELS: dict[str, ModelSpec] = {s.name: s for s in _SPECS}
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(s.family for s in _SPECS))


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise OccbenchError(f"unknown model {name!r}; `occbench models` lists them", field="--model") from None


def build_model(name: str, num_joints: int, input_size: tuple[int, int] | None = None) -> nn.Module:
    """Build a zoo model. Every zoo model is fully convolutional and sizes its heatmaps from the
    input at run time, so ``input_size`` (H, W) is accepted for API stability and not needed."""
    return get_spec(name).build(num_joints, input_size=input_size)
