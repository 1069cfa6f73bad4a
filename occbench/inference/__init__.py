"""The top-down pipeline: boxes → crops → model → heatmap decoding → NMS → predictions.

- ``geometry``: box → center/scale, the official affine convention, batched crops on the device
  and the inverse mapping of heatmap coordinates (shared with training).
- ``boxes``: person boxes from ground truth, a COCO detections file, or jittered ground truth.
- ``frames``: image and video-frame decoding in DataLoader workers.
- ``decode``: flip test, argmax + quarter offset, DARK, and OccNet's combination rule.
- ``postprocess``: rescoring, OKS-NMS and RMPE's parametric pose NMS.
- ``model``: the adapter between the model zoo and the pipeline.
- ``pipeline``: ``predict`` (the ``occbench predict`` verb), resumable and atomic.
"""
