"""Gallery images for the report: ground truth and predicted skeletons drawn on the image.

Ground truth is white: filled circles for visible joints, hollow circles for occluded ones,
squares for self-occluded ones. Each prediction has its own colour; a red ring marks a
swapped joint and an orange ring an inversion (the error classes of the evaluator's
diagnosis). Images are cropped to the people shown and encoded as JPEG data for the
self-contained report.

Which cases are shown (``worst_cases``): every ground-truth person that counts in the
evaluation (not crowd, labelled joints) is scored by the best OKS any prediction of its image
reaches (0 when none does); the lowest come first, ties broken by the number of swapped joints
of the prediction associated with it (the error diagnosis' localisation match), then image and
person order. One case per image. ``build_gallery`` draws the worst cases of a done cell: the
image (a still file or a decoded video frame, ``occbench.datasets.media``), all ground truths
and the predictions associated with them, cropped around the worst person.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from occbench.errors import OccbenchError
from occbench.skeletons import JointSchema, Visibility

PRED_COLORS = [(0, 170, 255), (255, 120, 0), (120, 220, 40), (230, 60, 200), (255, 215, 0), (0, 210, 170)]
ERROR_RING = {"swap": (230, 30, 30), "inversion": (255, 150, 0)}
MAX_SIDE = 480
MIN_SIDE = 240  # small crops are enlarged to this, so a distant person is still readable


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
    pred_colors: list[tuple[int, ...]] | None = None,
) -> Image.Image:
    """Draw ground truths (G, K, 2)/(G, K) and predictions (P, K, 3) on an RGB image.

    ``focus_boxes`` (xywh) crops the picture around the people of interest (with margin);
    ``pred_colors`` overrides the per-prediction colours (e.g. one colour per track id).
    """
    canvas = Image.fromarray(np.ascontiguousarray(image)).convert("RGB")
    # Crop and scale the pixels first, then draw at the final size, so a small distant person is
    # enlarged without thick, blurred strokes.
    offset = np.zeros(2)
    if focus_boxes is not None and len(focus_boxes):
        x0 = float(np.min(focus_boxes[:, 0]))
        y0 = float(np.min(focus_boxes[:, 1]))
        x1 = float(np.max(focus_boxes[:, 0] + focus_boxes[:, 2]))
        y1 = float(np.max(focus_boxes[:, 1] + focus_boxes[:, 3]))
        margin = 0.25 * max(x1 - x0, y1 - y0)
        crop = (
            max(0, round(x0 - margin)),
            max(0, round(y0 - margin)),
            min(canvas.width, round(x1 + margin)),
            min(canvas.height, round(y1 + margin)),
        )
        if crop[2] - crop[0] > 8 and crop[3] - crop[1] > 8:
            canvas = canvas.crop(crop)
            offset = np.array(crop[:2], dtype=float)
    scale = min(1.0, MAX_SIDE / max(canvas.size))
    if max(canvas.size) * scale < MIN_SIDE:
        scale = MIN_SIDE / max(canvas.size)
    if scale != 1.0:
        size = (max(1, round(canvas.width * scale)), max(1, round(canvas.height * scale)))
        canvas = canvas.resize(size, Image.Resampling.LANCZOS)

    def place(points: np.ndarray) -> np.ndarray:
        out = np.array(points, dtype=float, copy=True)
        out[..., :2] = (out[..., :2] - offset) * scale
        return out

    draw = ImageDraw.Draw(canvas)
    r = _radius(canvas)
    for kp, vis in zip(gt_keypoints, gt_visibility, strict=True):
        draw_ground_truth(draw, place(kp), vis, schema, r)
    for i, kp in enumerate(pred_keypoints):
        errors = pred_errors[i] if pred_errors is not None else None
        color = pred_colors[i] if pred_colors is not None else PRED_COLORS[i % len(PRED_COLORS)]
        draw_prediction(draw, place(kp), schema, color, r, errors)
    return canvas


def jpeg_base64(image: Image.Image, quality: int = 82) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


ERROR_NAMES = ("good", "jitter", "inversion", "swap", "miss")
SWAP = ERROR_NAMES.index("swap")


@dataclass
class GalleryItem:
    jpeg_b64: str
    caption: str
    image_id: int = -1


def worst_cases(gt: Any, dets: Any, n: int) -> pd.DataFrame:
    """The ``n`` worst ground-truth persons, one per image (see the module docstring).

    Columns: gt (ground-truth row), image (image position), image_id, oks (best OKS of any
    prediction in its image), swaps (swapped joints of its associated prediction), det (the
    associated kept detection, or -1).
    """
    from occbench.evaluation.breakdowns import classify_errors
    from occbench.evaluation.protocols import oks_for

    num = len(gt.inst_image)
    best = np.zeros(num)
    if len(dets.score):
        oks = oks_for(gt, dets)
        best = best_oks_per_ground_truth(oks, dets.layout.gt_start, dets.layout.gt_count, num)
        errors = classify_errors(gt, dets, oks)
        det_idx, gt_idx, classes = errors.det_idx, errors.gt_idx, errors.classes
    else:
        det_idx = gt_idx = np.zeros(0, np.int64)
        classes = np.zeros((0, gt.schema.num_joints), np.int64)
    swaps = np.zeros(num, np.int64)
    det = np.full(num, -1, np.int64)
    swaps[gt_idx] = (classes == SWAP).sum(axis=1)
    det[gt_idx] = det_idx
    counted = np.flatnonzero(~gt.ignore)
    table = pd.DataFrame(
        {
            "gt": counted,
            "image": gt.inst_image[counted],
            "image_id": gt.image_ids[gt.inst_image[counted]],
            "oks": best[counted],
            "swaps": swaps[counted],
            "det": det[counted],
        }
    )
    table = table.sort_values(["oks", "swaps", "image", "gt"], ascending=[True, False, True, True], kind="stable")
    return table.drop_duplicates("image").head(n).reset_index(drop=True)


def best_oks_per_ground_truth(oks: Any, gt_start: np.ndarray, gt_count: np.ndarray, num_gt: int) -> np.ndarray:
    """(num_gt,) the best OKS any kept detection of its image reaches (0 where none does).

    ``oks`` is the evaluator's padded OKS (chunks of images x detection ranks x ground-truth
    slots, -inf in empty slots); slots follow the ground truth's order within each image.
    """
    best = np.zeros(num_gt)
    for images, values in oks.chunks:
        per_slot = values.max(axis=1)  # (I, Gm): best over detections
        slots = np.arange(per_slot.shape[1])
        valid = slots[None, :] < gt_count[images][:, None]
        index = gt_start[images][:, None] + slots[None, :]
        best[index[valid]] = np.maximum(per_slot[valid], 0.0)
    return np.nan_to_num(best, nan=0.0)


def load_images(dataset: Any, split: str, image_ids: list[int], image_root: str | Path | None) -> dict[int, np.ndarray]:
    """Decoded RGB of the given images (still files or video frames)."""
    from occbench.datasets.media import iter_split_images

    return dict(iter_split_images(dataset, split, image_ids=image_ids, image_root=image_root))


def _box_of(points: np.ndarray) -> np.ndarray:
    lo, hi = points.min(axis=0), points.max(axis=0)
    return np.r_[lo, hi - lo]


def build_gallery(
    dataset: Any, split: str, predictions: Any, n: int, *, image_root: str | Path | None = None, label: str = ""
) -> list[GalleryItem]:
    """Render the ``n`` worst cases of ``predictions`` on ``dataset``/``split``, worst first.

    Raises ``OccbenchError`` when the images cannot be read (no image root, missing files,
    undecodable video): the report turns that into a note.
    """
    from occbench.evaluation.breakdowns import classify_errors
    from occbench.evaluation.inputs import load_ground_truth, load_predictions, prepare_detections
    from occbench.evaluation.protocols import oks_for

    gt = load_ground_truth(dataset, split)
    dets = prepare_detections(gt, load_predictions(predictions, gt.schema.num_joints))
    cases = worst_cases(gt, dets, n)
    if cases.empty:
        return []
    pixels = load_images(dataset, split, [int(i) for i in cases["image_id"]], image_root)
    k = gt.schema.num_joints
    if len(dets.score):
        errors = classify_errors(gt, dets, oks_for(gt, dets))
        det_idx, classes = errors.det_idx, errors.classes
    else:
        det_idx, classes = np.zeros(0, np.int64), np.zeros((0, k), np.int64)
    items = []
    for case in cases.itertuples(index=False):
        image = int(case.image)
        in_image = (gt.inst_image == image) & ~gt.iscrowd
        # The predictions drawn: those associated with a ground truth of this image.
        sel = np.flatnonzero(dets.image[det_idx] == image)
        errors = [[ERROR_NAMES[c] if c >= 0 else "" for c in row] for row in classes[sel].tolist()]
        pred_kp = dets.keypoints[det_idx[sel]]
        focus = [gt.bbox[int(case.gt)]]
        if case.det >= 0:
            focus.append(_box_of(dets.keypoints[int(case.det), :, :2]))
        if int(case.image_id) not in pixels:
            raise OccbenchError("image not decoded", record=f"image_id {int(case.image_id)}")
        picture = render(
            pixels[int(case.image_id)],
            gt.schema,
            gt.keypoints[in_image],
            gt.visibility[in_image],
            pred_kp,
            errors,
            focus_boxes=np.asarray(focus),
        )
        swaps = f", {int(case.swaps)} swapped joint{'s' if case.swaps != 1 else ''}" if case.swaps else ""
        caption = f"{gt.name}/{split} image {int(case.image_id)}: best OKS {case.oks:.2f}{swaps}"
        caption = f"{caption} · {label}" if label else caption
        items.append(GalleryItem(jpeg_base64(picture), caption, int(case.image_id)))
    return items
