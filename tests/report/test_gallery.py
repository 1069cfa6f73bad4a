"""The report's gallery (worst cases first, data-URI JPEGs) and tracking section on a real video store."""

from __future__ import annotations

import base64
import os
import re
import shutil
from io import BytesIO

import pytest
from PIL import Image

from occbench.benchmark.runner import run_matrix
from occbench.benchmark.store import ResultsStore
from occbench.report.html import build_report, write_report
from occbench.report.leaderboard import build_leaderboards
from tests.benchmark.video_dataset import FRAMES, SECOND_IMAGE_ID, WORST_IMAGE_ID, make_video_dataset
from tests.report.fake_store import make_store

IMG = re.compile(r'<img src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)"')


@pytest.fixture(scope="module")
def video_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("video")
    make_video_dataset(root)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        run_matrix(root / "spec.toml", store_dir=root / "store")
    finally:
        os.chdir(cwd)
    return root, ResultsStore(root / "store")


def _section(html: str, anchor: str) -> str:
    start = html.index(f'<section id="{anchor}">')
    return html[start : html.index("</section>", start)]


def test_gallery_shows_the_worst_case_first(video_store) -> None:
    _, store = video_store
    html = build_report([store])
    gallery = IMG.findall(_section(html, "gallery"))
    assert len(gallery) == FRAMES  # one case per image, 8 frames, under the 12-image budget
    captions = [alt for _, alt in gallery]
    assert f"image {WORST_IMAGE_ID}: best OKS 0.00" in captions[0]  # the missed person
    assert f"image {SECOND_IMAGE_ID}: best OKS 0.51" in captions[1]  # the person predicted 20 px off
    for data, _ in gallery:
        picture = Image.open(BytesIO(base64.b64decode(data)))
        assert picture.format == "JPEG" and max(picture.size) <= 480
    # Tracking: a timeline per sequence and before/after frames at the 3 worst switches.
    tracking = _section(html, "tracking")
    assert tracking.count("<svg") == 1 and "seq_1" in tracking
    assert len(IMG.findall(tracking)) == 2 * 3
    assert "ground-truth track 1, predicted track 1; 14 joints switched" in tracking
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html


def test_report_without_images_says_so(video_store, tmp_path) -> None:
    root, store = video_store
    copy = tmp_path / "store"
    shutil.copytree(store.root, copy)
    images = root / "images"
    moved = tmp_path / "moved-images"
    images.rename(moved)
    try:
        html = build_report([ResultsStore(copy)])
    finally:
        moved.rename(images)
    gallery = _section(html, "gallery")
    assert "Images not available for vid/test" in gallery and not IMG.findall(gallery)
    tracking = _section(html, "tracking")
    assert tracking.count("<svg") == 1 and "images not available" in tracking
    assert 'id="leaderboards"' in html


def test_store_without_tracking_has_no_tracking_columns_or_section(tmp_path) -> None:
    store = ResultsStore(make_store(tmp_path))
    for board in build_leaderboards(store):
        assert not {"MOTA", "IDs", "IDs heavy occ"} & set(board.table.columns)
    html = build_report([store])
    assert 'id="tracking"' not in html
    assert "No cell stored its predictions" in _section(html, "gallery")


@pytest.mark.slow
def test_gallery_images_decode_in_headless_chromium(video_store, tmp_path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    _, store = video_store
    out = write_report([store], tmp_path / "report.html")
    errors, requests = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: requests.append(r.url))
        page.goto(out.as_uri())
        page.wait_for_load_state("load")
        widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
        browser.close()
    assert errors == [] and requests[0] == out.as_uri()
    assert len(widths) == FRAMES + 6 and min(widths) > 0  # every data-URI JPEG decoded
