"""The synthetic crowd generator: flags agree with pixels, determinism, native layouts, density."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pytest

from occbench.datasets.synth.body import ACTIONS, J, random_bodies
from occbench.datasets.synth.generate import SELF_OCCLUSION_TOLERANCE, SynthConfig, iter_frames, make_sequence
from occbench.datasets.synth.render import BACKGROUND_ID, own_part_radius
from occbench.datasets.synth.scene import Camera, Tracks
from occbench.datasets.synth.writers import JTA_EXT_COLUMNS, write_layout
from occbench.skeletons import CROWDPOSE14, JTA22

SMALL = SynthConfig(splits={"train": 1, "test": 1}, frames=6, persons=10, occluders=2, size=(480, 270), seed=5)


def test_flags_agree_with_pixels() -> None:
    config = dataclasses.replace(SMALL, persons=18, frames=4, size=(640, 360))
    seq = make_sequence(config, "test", 0)
    checked = {"visible": 0, "occluded": 0, "self_occluded": 0}
    for frame in iter_frames(seq, config):
        present = np.flatnonzero(np.isfinite(seq.tracks.position[frame.frame, :, 0]))
        radius = own_part_radius(seq.tracks.bodies.height[present], seq.tracks.bodies.build[present])
        px = np.round(frame.joints_2d[..., 0]).astype(int)
        py = np.round(frame.joints_2d[..., 1]).astype(int)
        for p, j in zip(*np.nonzero(frame.in_frame), strict=True):
            owner = frame.buffers.person[py[p, j], px[p, j]]
            depth = frame.buffers.depth[py[p, j], px[p, j]]
            z = frame.joints_3d[p, j, 2]
            if frame.occluded[p, j]:
                assert owner not in (p, BACKGROUND_ID) and depth < z
                checked["occluded"] += 1
            elif frame.self_occluded[p, j]:
                assert owner == p and depth < z - radius[p, j]
                checked["self_occluded"] += 1
            else:
                # The joint's own person (or nothing, on the silhouette edge) and no surface in
                # front of it beyond its own parts' thickness.
                assert owner in (p, BACKGROUND_ID)
                assert owner == BACKGROUND_ID or depth >= z - radius[p, j] - SELF_OCCLUSION_TOLERANCE
                checked["visible"] += 1
    assert min(checked.values()) > 20, checked


def _hand_built_frame():
    """Three people standing: B directly behind A (camera at 1 m, level), C in profile."""
    config = SynthConfig(frames=1, persons=3, occluders=0, seed=0)
    seq = make_sequence(config, "test", 0)
    bodies = random_bodies(np.random.default_rng(0), 3)
    bodies.action[:] = ACTIONS.index("stand")
    bodies.stand_offsets[:] = 0
    bodies.height[:] = 1.75
    bodies.build[:] = 1.0
    position = np.array([[[0.0, 6.0], [0.0, 9.0], [3.0, 8.0]]])
    heading = np.array([np.pi, np.pi, np.pi / 2])  # A and B face the camera; C faces right
    tracks = Tracks(bodies, np.array([1, 2, 3]), position, heading, np.zeros(3), np.zeros(3, dtype=int))
    seq = dataclasses.replace(seq, tracks=tracks, camera=Camera.jta(960, 540, height_m=1.0, pitch=0.0))
    return next(iter_frames(seq, config))


def test_hand_built_scene_has_the_known_flags() -> None:
    frame = _hand_built_frame()
    a, b, c = 0, 1, 2
    torso = [J[n] for n in ("neck", "spine1", "spine2", "spine3", "right_hip", "left_hip", "head_top")]
    assert not frame.occluded[a].any() and not frame.self_occluded[a].any()
    assert frame.occluded[b, torso].all()
    # C's right side faces the camera: its far (left) hip, shoulder and elbow hide behind its body.
    for name in ("left_hip", "left_shoulder", "left_elbow"):
        assert frame.self_occluded[c, J[name]], name
    for name in ("right_shoulder", "right_knee", "head_top"):
        assert not frame.self_occluded[c, J[name]] and not frame.occluded[c, J[name]], name


def _tree_hashes(root) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


@pytest.mark.parametrize("layout", ["crowdpose", "jta-ext", "jta"])
def test_determinism(tmp_path, layout) -> None:
    write_layout(layout, tmp_path / "a", SMALL)
    write_layout(layout, tmp_path / "b", SMALL)
    write_layout(layout, tmp_path / "c", dataclasses.replace(SMALL, seed=6))
    a, b, c = (_tree_hashes(tmp_path / x) for x in "abc")
    if layout == "jta":
        # H.264 with one encoder thread is reproducible on one build; annotations must be exact.
        a = {k: v for k, v in a.items() if k.endswith(".json")}
        b = {k: v for k, v in b.items() if k.endswith(".json")}
    assert a == b
    assert {k: v for k, v in a.items() if "synth_config" not in k} != c


def test_jta_layout_facts(tmp_path) -> None:
    import av

    out = write_layout("jta", tmp_path / "jta", SMALL)
    for split, seq in (("train", 0), ("test", 1)):
        rows = np.asarray(json.loads((out / "annotations" / split / f"seq_{seq}.json").read_text()))
        assert rows.shape[1] == 10 and rows.dtype == np.float64
        assert rows[:, 0].min() == 1 and rows[:, 0].max() == SMALL.frames  # frames counted from 1
        assert set(np.unique(rows[:, 2]).astype(int)) == set(range(JTA22.num_joints))
        assert set(np.unique(rows[:, 8:10])) <= {0.0, 1.0}
        assert (rows[:, 7] > 0).all()  # z in metres, in front of the camera
        with av.open(str(out / "videos" / split / f"seq_{seq}.mp4")) as video:
            frames = [f.to_ndarray(format="rgb24") for f in video.decode(video=0)]
        assert len(frames) == SMALL.frames and frames[0].shape == (270, 480, 3)


def test_jta_ext_layout_facts(tmp_path) -> None:
    out = write_layout("jta-ext", tmp_path / "ext", SMALL, frame_offset=2)
    lines = (out / "seq_0" / "coords.csv").read_text().splitlines()
    assert tuple(lines[0].split(",")) == JTA_EXT_COLUMNS and len(JTA_EXT_COLUMNS) == 17
    rows = np.asarray([[float(v) for v in line.split(",")] for line in lines[1:]])
    assert rows[:, 0].min() == 0  # frame 0 is present
    frames = np.unique(rows[:, 0]).astype(int)
    assert sorted(p.name for p in (out / "seq_0").glob("*.jpeg")) == sorted(f"{f + 2}.jpeg" for f in frames)
    assert np.ptp(rows[:, 10:], axis=0).max() == 0  # a static camera here: constant camera columns


def test_crowdpose_layout_facts_and_conversion(tmp_path) -> None:
    from PIL import Image

    from occbench.datasets.crowdpose import convert_crowdpose
    from occbench.datasets.validate import validate_dataset

    out = write_layout("crowdpose", tmp_path / "cp", SMALL)
    doc = json.loads((out / "annotations" / "crowdpose_test.json").read_text())
    assert doc["categories"][0]["keypoints"] == list(CROWDPOSE14.joint_names)
    kp = np.asarray([a["keypoints"] for a in doc["annotations"]]).reshape(-1, 14, 3)
    v = kp[..., 2]
    assert set(np.unique(v)) <= {0, 1, 2} and set(np.unique(v[:, 12:])) <= {0, 1}
    assert (kp[v == 0][:, :2] == 0).all()
    nk = np.asarray([a["num_keypoints"] for a in doc["annotations"]])
    np.testing.assert_array_equal(nk, (v[:, :12] > 0).sum(1))
    for image in doc["images"]:
        assert "crowdIndex" in image and image["file_name"] == f"{image['id']}.jpg"
        with Image.open(out / "images" / image["file_name"]) as im:
            assert im.size == (image["width"], image["height"])
    ds = convert_crowdpose([out / "annotations"], tmp_path / "ds", image_root=out / "images")
    assert validate_dataset(ds.root) == []
    data = ds.read_split("test")
    np.testing.assert_allclose(data.images["crowd_index"], data.images["crowd_index_recomputed"], atol=1e-4)


def test_density_raises_crowding_and_occlusion() -> None:
    stats = []
    for persons in (3, 12, 30):
        config = dataclasses.replace(SMALL, persons=persons, frames=8, splits={"test": 3}, occluders=0)
        occluded, crowd = [], []
        for split, index in config.sequences:
            for frame in iter_frames(make_sequence(config, split, index), config):
                occluded.append(frame.occluded[frame.in_frame].mean())
                from occbench.datasets.crowding import crowd_index

                boxes = np.concatenate([frame.joints_2d.min(1), np.ptp(frame.joints_2d, axis=1)], axis=1)
                crowd.append(crowd_index(np.array([0]), np.zeros(len(boxes), int), boxes, frame.joints_2d,
                                         frame.in_frame)[0])  # fmt: skip
        stats.append((np.mean(crowd), np.mean(occluded)))
    crowd_means, occ_means = zip(*stats, strict=True)
    assert list(crowd_means) == sorted(crowd_means) and list(occ_means) == sorted(occ_means), stats
    assert occ_means[-1] > 2 * occ_means[0]
