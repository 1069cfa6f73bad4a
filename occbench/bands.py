"""Named value bands: crowdIndex (easy/medium/hard) and instance occlusion (none/partial/heavy).

The same definitions drive ``occbench info``, the evaluator's breakdowns and the report, so
a band means one thing everywhere. Bands are configurable from a compact text form,
``"none:[0,0.1],partial:(0.1,0.5],heavy:(0.5,1]"``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Band:
    """A named interval; each end is open or closed."""

    name: str
    low: float
    high: float
    low_closed: bool = True
    high_closed: bool = False

    def contains(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        above = values >= self.low if self.low_closed else values > self.low
        below = values <= self.high if self.high_closed else values < self.high
        return above & below

    def __str__(self) -> str:
        lo = "[" if self.low_closed else "("
        hi = "]" if self.high_closed else ")"
        return f"{self.name}:{lo}{_fmt(self.low)},{_fmt(self.high)}{hi}"


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:g}"


# CrowdPose's published thresholds: easy < 0.2 <= medium < 0.8 <= hard.
CROWD_INDEX_BANDS: tuple[Band, ...] = (
    Band("easy", 0.0, 0.2, True, False),
    Band("medium", 0.2, 0.8, True, False),
    Band("hard", 0.8, math.inf, True, True),
)

# EVALUATION.md: none [0, 0.1], partial (0.1, 0.5], heavy (0.5, 1].
OCCLUSION_BANDS: tuple[Band, ...] = (
    Band("none", 0.0, 0.1, True, True),
    Band("partial", 0.1, 0.5, False, True),
    Band("heavy", 0.5, 1.0, False, True),
)

# OCHuman's MaxIoU difficulty: moderate [0.5, 0.75), hard [0.75, 1].
MAX_IOU_BANDS: tuple[Band, ...] = (
    Band("moderate", 0.5, 0.75, True, False),
    Band("hard", 0.75, 1.0, True, True),
)

_BAND_RE = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*:\s*([\[(])\s*([^,\s]+)\s*,\s*([^\])\s]+)\s*([\])])\s*$")


def parse_bands(text: str) -> tuple[Band, ...]:
    """Parse ``"name:[lo,hi),name2:[lo,hi]"``; raise ValueError naming the bad part."""
    parts = re.split(r",(?![^\[(]*[\])])", text)
    bands = []
    for part in parts:
        match = _BAND_RE.match(part)
        if not match:
            raise ValueError(f"cannot parse band {part.strip()!r}; expected e.g. 'heavy:(0.5,1]'")
        name, lo_br, lo, hi, hi_br = match.groups()
        try:
            low, high = float(lo), float(hi)
        except ValueError:
            raise ValueError(f"band {name!r}: bounds must be numbers, got {lo!r}, {hi!r}") from None
        if not low <= high:
            raise ValueError(f"band {name!r}: low {low} is above high {high}")
        bands.append(Band(name, low, high, lo_br == "[", hi_br == "]"))
    if len({b.name for b in bands}) != len(bands):
        raise ValueError(f"band names must be unique in {text!r}")
    return tuple(bands)


def format_bands(bands: tuple[Band, ...]) -> str:
    return ",".join(str(b) for b in bands)


def assign_band(values: np.ndarray, bands: tuple[Band, ...]) -> np.ndarray:
    """Index of the first band containing each value, or -1 (NaN and gaps give -1)."""
    values = np.asarray(values, dtype=np.float64)
    out = np.full(values.shape, -1, dtype=np.int64)
    for i in range(len(bands) - 1, -1, -1):
        out[bands[i].contains(values)] = i
    return out


def sweep_bands(low: float, high: float, step: float, last_closed: bool = True) -> tuple[Band, ...]:
    """Consecutive bands [lo, lo+step) for fine-grained sweeps (plots)."""
    edges = np.round(np.arange(low, high + step / 2, step), 10)
    bands = []
    for i in range(len(edges) - 1):
        is_last = i == len(edges) - 2
        bands.append(
            Band(f"{edges[i]:g}-{edges[i + 1]:g}", float(edges[i]), float(edges[i + 1]), True, is_last and last_closed)
        )
    return tuple(bands)
