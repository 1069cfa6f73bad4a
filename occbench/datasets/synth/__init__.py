"""The procedural crowd generator: rendered crowded scenes with exact occlusion ground truth."""
