"""Pose tracking: Detect-and-Track linking, PoseTrack (poseval) metrics and track timelines."""

from occbench.tracking.link import DETECT_AND_TRACK, PRESETS, UNFILTERED, LinkConfig, link, track_predictions
from occbench.tracking.metrics import PROTOCOLS, compute_tracking, evaluate_tracking, tracking_table

__all__ = [
    "DETECT_AND_TRACK",
    "PRESETS",
    "PROTOCOLS",
    "UNFILTERED",
    "LinkConfig",
    "compute_tracking",
    "evaluate_tracking",
    "link",
    "track_predictions",
    "tracking_table",
]
