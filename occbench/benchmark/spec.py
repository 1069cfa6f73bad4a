"""The benchmark matrix spec: a TOML file of models × datasets × protocols, and its cells.

A spec looks like ``benchmark/demo.toml``::

    name = "demo"

    [[models]]
    name = "occnet_tiny"            # label in leaderboards
    arch = "occnet_tiny"            # model zoo registry name
    checkpoint = "builtin:occnet_tiny"   # path, or a checkpoint shipped with occbench
    flip = true
    decoder = "argmax"              # argmax | dark
    nms = ["oks", "pose"]           # a list expands into one cell per value

    [[models]]
    name = "my-external-model"
    predictions = "results/{dataset}_{split}_{protocol}.json"   # evaluate given results

    [[datasets]]
    name = "synth"
    dir = "datasets/demo/crowdpose"
    split = "test"

    [[protocols]]
    name = "gt"
    boxes = "gt"                    # gt | jitter:SIGMA | a COCO detections file

    [evaluation]
    protocol = "auto"               # auto | coco | crowdpose | posetrack (= auto + track)
    breakdowns = "all"
    track = true                    # also link predictions into tracks and score them (PoseTrack)
    track_preset = "detect-and-track"   # linking preset: detect-and-track | unfiltered

With ``track = true`` (or ``track = true`` on one model), every cell whose dataset split has
video sequences also links its predictions (``occbench.tracking.link``) and adds the
PoseTrack table (protocol ``posetrack``) to its metrics; splits without sequences are scored
as usual and the cell's provenance says tracking was skipped.

Every problem is reported with the spec file, the line and the key (``models[2].decoder``).
Each cell has a content hash over everything that determines its result (the resolved
model, checkpoint sha256, dataset manifest hash, protocol and evaluation settings), so a
re-run skips finished cells and any change re-runs exactly the cells it affects.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from occbench.errors import OccbenchError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DECODERS = ("argmax", "dark")
NMS_KINDS = ("oks", "pose", "none")
EVAL_PROTOCOLS = ("auto", "coco", "crowdpose", "posetrack")
BOXES_RE = re.compile(r"^(gt|jitter:\d+(\.\d+)?)$")

MODEL_KEYS: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "arch": str,
    "checkpoint": str,
    "predictions": str,
    "input_size": list,
    "channel_order": str,
    "flip": (bool, list),
    "decoder": (str, list),
    "nms": (str, list),
    "batch_size": int,
    "amp": (bool, str),
    "track": bool,
}
DATASET_KEYS: dict[str, type | tuple[type, ...]] = {"name": str, "dir": str, "split": str, "image_root": str}
PROTOCOL_KEYS: dict[str, type | tuple[type, ...]] = {"name": str, "boxes": str, "score_threshold": (int, float)}
EVALUATION_KEYS: dict[str, type | tuple[type, ...]] = {
    "protocol": str,
    "breakdowns": (str, list),
    "occlusion_bands": str,
    "crowd_bands": str,
    "xtcocotools_compat": bool,
    "track": bool,
    "track_preset": str,
}
TOP_KEYS = {"name", "description", "models", "datasets", "protocols", "evaluation", "runtime"}
RUNTIME_KEYS: dict[str, type | tuple[type, ...]] = {
    "device": str,
    "workers": int,
    "lanes": int,
    "batch_size": int,
    "threads": int,
}
EXPANDING = ("flip", "decoder", "nms")
# Linking presets of occbench.tracking.link.PRESETS (named here so parsing a spec imports no scipy).
TRACK_PRESETS = ("detect-and-track", "unfiltered")
DEFAULT_TRACK_PRESET = "detect-and-track"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    arch: str | None
    checkpoint: str | None
    predictions: str | None
    input_size: tuple[int, int] | None
    channel_order: str | None
    flip: bool
    decoder: str
    nms: str
    batch_size: int | None
    amp: bool | str
    track: bool


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    dir: str
    split: str
    image_root: str | None = None


@dataclass(frozen=True)
class ProtocolEntry:
    name: str
    boxes: str
    score_threshold: float = 0.0


@dataclass(frozen=True)
class EvaluationSettings:
    protocol: str = "auto"
    breakdowns: tuple[str, ...] = ("all",)
    occlusion_bands: str | None = None
    crowd_bands: str | None = None
    xtcocotools_compat: bool = False
    track: bool = False
    track_preset: str = DEFAULT_TRACK_PRESET


@dataclass(frozen=True)
class Cell:
    """One predict + evaluate job of the matrix."""

    spec_name: str
    model: ModelEntry
    dataset: DatasetEntry
    protocol: ProtocolEntry
    evaluation: EvaluationSettings
    runtime: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        variant = []
        if self.model.predictions is None:
            variant = [f"flip={'on' if self.model.flip else 'off'}", self.model.decoder, f"nms={self.model.nms}"]
        return " / ".join([self.model.name, *variant, f"{self.dataset.name}:{self.dataset.split}", self.protocol.name])

    @property
    def tracks(self) -> bool:
        """Whether the cell also links and scores tracks (the spec's or the model's ``track``)."""
        return self.evaluation.track or self.model.track

    def identity(self) -> dict[str, Any]:
        """What the cell's result depends on, before resolving files (see runner.cell_key)."""
        evaluation = asdict(self.evaluation)
        model = asdict(self.model)
        if not self.tracks:
            # Cells that do not track keep the keys they had before tracking settings existed,
            # so adding tracking to occbench does not re-run finished stores.
            evaluation.pop("track")
            evaluation.pop("track_preset")
            model.pop("track")
        elif not self.evaluation.track:
            evaluation["track"] = True
        return {
            "model": model,
            "dataset": asdict(self.dataset),
            "protocol": asdict(self.protocol),
            "evaluation": evaluation,
        }


@dataclass(frozen=True)
class MatrixSpec:
    name: str
    path: Path
    models: tuple[ModelEntry, ...]
    datasets: tuple[DatasetEntry, ...]
    protocols: tuple[ProtocolEntry, ...]
    evaluation: EvaluationSettings
    runtime: dict[str, Any]
    description: str = ""

    def cells(self) -> list[Cell]:
        return [
            Cell(self.name, m, d, p, self.evaluation, dict(self.runtime))
            for m, d, p in itertools.product(self.models, self.datasets, self.protocols)
        ]

    def resolve(self, relative: str) -> Path:
        """Paths in a spec are relative to the spec file's folder's parent when they start there."""
        path = Path(relative)
        if path.is_absolute():
            return path
        for base in (Path.cwd(), self.path.parent, self.path.parent.parent):
            if (base / path).exists():
                return base / path
        return Path.cwd() / path


class _Locator:
    """Finds the line of ``models[1].decoder``-style keys in TOML text for error messages."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def line_of(self, key_path: str) -> int | None:
        match = re.match(r"^(\w+)(?:\[(\d+)\])?(?:\.(\w+))?$", key_path)
        if not match:
            return None
        table, index, key = match.group(1), match.group(2), match.group(3)
        current, counts = "", {}
        for number, raw in enumerate(self.lines, start=1):
            line = raw.split("#", 1)[0].strip()
            header = re.match(r"^\[\[\s*([\w.]+)\s*\]\]$", line) or re.match(r"^\[\s*([\w.]+)\s*\]$", line)
            if header:
                current = header.group(1)
                counts[current] = counts.get(current, -1) + 1
                if key is None and current == table and (index is None or counts[current] == int(index)):
                    return number
                continue
            key_match = re.match(r"^([\w-]+)\s*=", line)
            if not key_match:
                continue
            in_table = current == table and (index is None or counts.get(current) == int(index))
            if key is None and current == "" and key_match.group(1) == table:
                return number
            if in_table and key_match.group(1) == key:
                return number
        return None


class _SpecReader:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.locator = _Locator(text)

    def fail(self, key_path: str, message: str) -> OccbenchError:
        line = self.locator.line_of(key_path)
        where = f"{self.path}:{line}" if line else str(self.path)
        return OccbenchError(message, file=where, field=key_path)

    def table(self, raw: dict[str, Any], key_path: str, allowed: dict[str, Any], required: tuple[str, ...]) -> dict:
        for key, value in raw.items():
            if key not in allowed:
                raise self.fail(f"{key_path}.{key}", f"unknown key (allowed: {', '.join(allowed)})")
            if not isinstance(value, allowed[key]) or (allowed[key] is int and isinstance(value, bool)):
                expected = (
                    allowed[key].__name__
                    if isinstance(allowed[key], type)
                    else "/".join(t.__name__ for t in allowed[key])
                )
                raise self.fail(f"{key_path}.{key}", f"expected {expected}, got {type(value).__name__}")
        for key in required:
            if key not in raw:
                raise self.fail(key_path, f"missing required key '{key}'")
        return raw

    def tables(self, data: dict[str, Any], name: str) -> list[dict[str, Any]]:
        value = data.get(name)
        if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
            raise self.fail(name, f"needs at least one [[{name}]] table")
        return value


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def load_spec(path: str | Path) -> MatrixSpec:
    """Parse and validate a matrix spec; errors name the file, line and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OccbenchError("spec file not found", file=path) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise OccbenchError(f"invalid TOML: {exc}", file=path) from None
    reader = _SpecReader(path, text)
    for key in data:
        if key not in TOP_KEYS:
            raise reader.fail(key, f"unknown top-level key (allowed: {', '.join(sorted(TOP_KEYS))})")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not re.match(r"^[\w.-]+$", name):
        raise reader.fail("name", "must be a name of letters, digits, '.', '_' or '-'")

    models: list[ModelEntry] = []
    seen_labels: set[str] = set()
    for i, raw in enumerate(reader.tables(data, "models")):
        key = f"models[{i}]"
        reader.table(raw, key, MODEL_KEYS, ("name",))
        if ("arch" in raw) == ("predictions" in raw):
            raise reader.fail(key, "give either 'arch' (run a zoo model) or 'predictions' (evaluate given results)")
        for variant_key in EXPANDING:
            for value in _as_list(raw.get(variant_key, [])):
                allowed = {"decoder": DECODERS, "nms": NMS_KINDS, "flip": (True, False)}[variant_key]
                if value not in allowed:
                    raise reader.fail(f"{key}.{variant_key}", f"{value!r} is not one of {', '.join(map(str, allowed))}")
        size = raw.get("input_size")
        if size is not None and (len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size)):
            raise reader.fail(f"{key}.input_size", "must be [height, width] in pixels")
        if raw.get("channel_order") not in (None, "RGB", "BGR"):
            raise reader.fail(f"{key}.channel_order", "must be RGB or BGR")
        flips = _as_list(raw.get("flip", True))
        decoders = _as_list(raw.get("decoder", "argmax"))
        nms_values = _as_list(raw.get("nms", "oks"))
        if "predictions" in raw:
            flips, decoders, nms_values = [False], ["argmax"], ["none"]
        for flip, decoder, nms in itertools.product(flips, decoders, nms_values):
            entry = ModelEntry(
                name=raw["name"],
                arch=raw.get("arch"),
                checkpoint=raw.get("checkpoint"),
                predictions=raw.get("predictions"),
                input_size=tuple(size) if size else None,
                channel_order=raw.get("channel_order"),
                flip=flip,
                decoder=decoder,
                nms=nms,
                batch_size=raw.get("batch_size"),
                amp=raw.get("amp", False),
                track=raw.get("track", False),
            )
            label = json.dumps(asdict(entry), sort_keys=True)
            if label in seen_labels:
                raise reader.fail(key, f"model {raw['name']!r} with the same settings appears twice")
            seen_labels.add(label)
            models.append(entry)

    datasets = []
    for i, raw in enumerate(reader.tables(data, "datasets")):
        reader.table(raw, f"datasets[{i}]", DATASET_KEYS, ("name", "dir", "split"))
        datasets.append(DatasetEntry(raw["name"], raw["dir"], raw["split"], raw.get("image_root")))
    if len({(d.name, d.split) for d in datasets}) != len(datasets):
        raise reader.fail("datasets", "two datasets share a name and split")

    protocols = []
    for i, raw in enumerate(reader.tables(data, "protocols")):
        key = f"protocols[{i}]"
        reader.table(raw, key, PROTOCOL_KEYS, ("name", "boxes"))
        boxes = raw["boxes"]
        if not BOXES_RE.match(boxes) and not boxes.endswith(".json"):
            raise reader.fail(f"{key}.boxes", "must be 'gt', 'jitter:SIGMA' or a COCO detections .json file")
        protocols.append(ProtocolEntry(raw["name"], boxes, float(raw.get("score_threshold", 0.0))))
    if len({p.name for p in protocols}) != len(protocols):
        raise reader.fail("protocols", "protocol names must be unique")

    ev_raw = data.get("evaluation", {})
    if not isinstance(ev_raw, dict):
        raise reader.fail("evaluation", "must be a table")
    reader.table(ev_raw, "evaluation", EVALUATION_KEYS, ())
    if ev_raw.get("protocol", "auto") not in EVAL_PROTOCOLS:
        raise reader.fail("evaluation.protocol", f"must be one of {', '.join(EVAL_PROTOCOLS)}")
    if ev_raw.get("track_preset", DEFAULT_TRACK_PRESET) not in TRACK_PRESETS:
        raise reader.fail("evaluation.track_preset", f"must be one of {', '.join(TRACK_PRESETS)}")
    evaluation = EvaluationSettings(
        protocol=ev_raw.get("protocol", "auto"),
        breakdowns=tuple(_as_list(ev_raw.get("breakdowns", "all"))),
        occlusion_bands=ev_raw.get("occlusion_bands"),
        crowd_bands=ev_raw.get("crowd_bands"),
        xtcocotools_compat=ev_raw.get("xtcocotools_compat", False),
        # protocol "posetrack" means: score poses as "auto" does, and score tracks too.
        track=ev_raw.get("track", False) or ev_raw.get("protocol") == "posetrack",
        track_preset=ev_raw.get("track_preset", DEFAULT_TRACK_PRESET),
    )
    runtime_raw = data.get("runtime", {})
    reader.table(runtime_raw, "runtime", RUNTIME_KEYS, ())
    return MatrixSpec(
        name=name,
        path=path,
        models=tuple(models),
        datasets=tuple(datasets),
        protocols=tuple(protocols),
        evaluation=evaluation,
        runtime=dict(runtime_raw),
        description=str(data.get("description", "")),
    )


def stable_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
