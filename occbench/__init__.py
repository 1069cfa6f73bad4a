"""occbench: a benchmark suite for human pose estimation in crowded, occluded scenes."""

__version__ = "0.1.0"
