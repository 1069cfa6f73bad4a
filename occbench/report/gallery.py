"""Gallery images for the report: ground truth and predicted skeletons drawn on the image.

Ground truth is white: filled circles for visible joints, hollow circles for occluded ones,
squares for self-occluded ones. Each prediction has its own colour; a red ring marks a
swapped joint and an orange ring an inversion (the error classes of the evaluator's
diagnosis). Images are cropped to the people shown and encoded as JPEG data for the
self-contained report.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image, ImageDraw

from occbench.skeletons import JointSchema, Visibility

PRED_COLORS = [(0, 170, 255), (255, 120, 0), (120, 220, 40), (230, 60, 200), (255, 215, 0), (0, 210, 170)]
ERROR_RING = {"swap": (230, 30, 30), "inversion": (255, 150, 0)}
MAX_SIDE = 480


def _radius(image: Image.Image) -> int:
    return max(2, round(max(image.size) / 160))


def draw_ground_truth(
    draw: ImageDraw.ImageDraw, keypoints: np.ndarray, visibility: np.ndarray, schema: JointSchema, r: int
) -> None:
    labelled = (visibility != Visibility.UNLABELED) & (visibility != Visibility.TRUNCATED)
    for a, b in schema.skeleton:
        if labelled[a] and labelled[b]:
            draw.line([tuple(keypoints[a]), tuple(keypoints[b])], fill=(255, 255, 255), width=max(1, r // 2))
    for (x, y), vis, lab in zip(keypoints, visibility, labelled, strict=True):
        if not lab:
            continue
        box = [x - r, y - r, x + r, y + r]
        if vis == Visibility.OCCLUDED:
            draw.ellipse(box, outline=(255, 255, 255), width=max(1, r // 2))
        elif vis == Visibility.SELF_OCCLUDED:
            draw.rectangle(box, outline=(255, 255, 255), width=max(1, r // 2))
        else:
            draw.ellipse(box, fill=(255, 255, 255))


def draw_prediction(
    draw: ImageDraw.ImageDraw,
    keypoints: np.ndarray,
    schema: JointSchema,
    color: tuple[int, ...],
    r: int,
    errors: list[str] | None = None,
) -> None:
    for a, b in schema.skeleton:
        draw.line([tuple(keypoints[a, :2]), tuple(keypoints[b, :2])], fill=color, width=max(1, r // 2))
    for j, (x, y) in enumerate(keypoints[:, :2]):
        draw.ellipse([x - r + 1, y - r + 1, x + r - 1, y + r - 1], fill=color)
        if errors is not None and errors[j] in ERROR_RING:
            ring = 2 * r
            draw.ellipse([x - ring, y - ring, x + ring, y + ring], outline=ERROR_RING[errors[j]], width=max(2, r // 2))


def render(
    image: np.ndarray,
    schema: JointSchema,
    gt_keypoints: np.ndarray,
    gt_visibility: np.ndarray,
    pred_keypoints: np.ndarray,
    pred_errors: list[list[str]] | None = None,
    focus_boxes: np.ndarray | None = None,
) -> Image.Image:
    """Draw ground truths (G, K, 2)/(G, K) and predictions (P, K, 3) on an RGB image.

    ``focus_boxes`` (xywh) crops the picture around the people of interest (with margin).
    """
    canvas = Image.fromarray(np.ascontiguousarray(image)).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    r = _radius(canvas)
    for kp, vis in zip(gt_keypoints, gt_visibility, strict=True):
        draw_ground_truth(draw, kp, vis, schema, r)
    for i, kp in enumerate(pred_keypoints):
        errors = pred_errors[i] if pred_errors is not None else None
        draw_prediction(draw, kp, schema, PRED_COLORS[i % len(PRED_COLORS)], r, errors)
    if focus_boxes is not None and len(focus_boxes):
        x0 = float(np.min(focus_boxes[:, 0]))
        y0 = float(np.min(focus_boxes[:, 1]))
        x1 = float(np.max(focus_boxes[:, 0] + focus_boxes[:, 2]))
        y1 = float(np.max(focus_boxes[:, 1] + focus_boxes[:, 3]))
        margin = 0.15 * max(x1 - x0, y1 - y0)
        crop = (
            max(0, x0 - margin),
            max(0, y0 - margin),
            min(canvas.width, x1 + margin),
            min(canvas.height, y1 + margin),
        )
        if crop[2] - crop[0] > 8 and crop[3] - crop[1] > 8:
            canvas = canvas.crop(tuple(round(v) for v in crop))
    canvas.thumbnail((MAX_SIDE, MAX_SIDE))
    return canvas


def jpeg_base64(image: Image.Image, quality: int = 82) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
