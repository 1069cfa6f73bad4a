"""Still-image decoding: simplejpeg where it applies, Pillow for the rest, the same pixels either way."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from occbench.datasets import media
from occbench.datasets.media import load_image_rgb
from occbench.errors import OccbenchError
from tests.conftest import shared_file


def _pillow(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture
def pixels() -> np.ndarray:
    rng = np.random.default_rng(3)
    coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(coarse).resize((53, 37), Image.BICUBIC), dtype=np.int16)
    return np.clip(smooth + rng.integers(-20, 21, smooth.shape), 0, 255).astype(np.uint8)


def _save(path, array: np.ndarray, **options) -> None:
    Image.fromarray(array).save(path, **options)


@pytest.mark.parametrize(
    ("name", "mode", "options"),
    [
        ("baseline_420.jpg", "RGB", {"quality": 85}),
        ("baseline_444.jpg", "RGB", {"subsampling": 0}),
        ("baseline_422.jpg", "RGB", {"subsampling": 1}),
        ("progressive.jpg", "RGB", {"progressive": True}),
        ("gray.jpg", "L", {}),
        ("cmyk.jpg", "CMYK", {}),
        ("image.png", "RGB", {}),
        ("gray.png", "L", {}),
    ],
)
def test_every_kind_of_image_decodes_to_pillows_rgb(tmp_path, pixels, name, mode, options) -> None:
    path = tmp_path / name
    Image.fromarray(pixels).convert(mode).save(path, **options)
    got = load_image_rgb(path)
    assert got.dtype == np.uint8
    assert got.shape == (37, 53, 3)
    np.testing.assert_array_equal(got, _pillow(path))


def test_jpegs_take_the_simplejpeg_path_and_cmyk_does_not(tmp_path, pixels, monkeypatch) -> None:
    calls: list[str] = []
    decode = media.simplejpeg.decode_jpeg
    monkeypatch.setattr(media.simplejpeg, "decode_jpeg", lambda data, **kw: calls.append("sj") or decode(data, **kw))
    _save(tmp_path / "rgb.jpg", pixels)
    Image.fromarray(pixels).convert("CMYK").save(tmp_path / "cmyk.jpg")
    load_image_rgb(tmp_path / "rgb.jpg")
    assert calls == ["sj"]
    load_image_rgb(tmp_path / "cmyk.jpg")
    assert calls == ["sj"]  # Pillow converted it


@pytest.mark.parametrize("name", ["106848.jpg", "103319.jpg"])
def test_real_crowdpose_images_match_pillow(name) -> None:
    path = shared_file("crowdpose-sample", name)
    np.testing.assert_array_equal(load_image_rgb(path), _pillow(path))


def test_real_coco_images_match_pillow() -> None:
    folder = shared_file("coco-sample")
    paths = sorted(folder.glob("*.jpg"))
    assert len(paths) == 4
    for path in paths:
        np.testing.assert_array_equal(load_image_rgb(path), _pillow(path))


def test_bad_images_name_the_file(tmp_path, pixels) -> None:
    _save(tmp_path / "whole.jpg", pixels)
    data = (tmp_path / "whole.jpg").read_bytes()
    cases = {
        "truncated.jpg": (data[: len(data) // 2], "truncated"),
        "garbage.jpg": (b"\xff\xd8 not a jpeg", "damaged, or not an image format"),
        "text.png": (b"hello", "damaged, or not an image format"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(OccbenchError, match=message) as caught:
            load_image_rgb(tmp_path / name)
        assert caught.value.file == str(tmp_path / name)
    with pytest.raises(OccbenchError, match="not found"):
        load_image_rgb(tmp_path / "missing.jpg")
    with pytest.raises(OccbenchError, match="cannot read image"):
        load_image_rgb(tmp_path)
