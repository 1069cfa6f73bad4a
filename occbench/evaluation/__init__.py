"""Evaluation: reference-exact COCO / CrowdPose metrics and occlusion, crowding and error breakdowns."""

from occbench.evaluation.api import COLUMNS, evaluate, evaluate_box_robustness, read_table, write_table

__all__ = ["COLUMNS", "evaluate", "evaluate_box_robustness", "read_table", "write_table"]
