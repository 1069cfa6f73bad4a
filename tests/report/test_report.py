"""Leaderboards equal the store's numbers; the report escapes names and renders in a real browser."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from occbench.benchmark.store import ResultsStore
from occbench.report.html import build_report, write_report
from occbench.report.leaderboard import build_leaderboards, write_leaderboards
from tests.report.fake_store import make_store

EVIL = '<script>alert("x")</script>'


def test_leaderboard_numbers_equal_the_store(tmp_path) -> None:
    store = ResultsStore(make_store(tmp_path))
    boards = build_leaderboards(store)
    assert {(b.dataset, b.protocol) for b in boards} == {("synth", "gt"), ("synth", "jitter-0.1")}
    metrics = store.metrics()
    written = write_leaderboards(store, tmp_path / "lb")
    for board in boards:
        assert list(board.table["AP"]) == sorted(board.table["AP"], reverse=True)
        csv = pd.read_csv(tmp_path / "lb" / f"{board.slug}.csv")
        for row in csv.itertuples(index=False):
            stored = metrics[
                (metrics["cell"] == row.cell) & (metrics["breakdown"] == "standard") & (metrics["metric"] == "AP")
            ]["value"].iloc[0]
            assert stored == row.AP  # bit-identical through the CSV
            heavy = metrics[
                (metrics["cell"] == row.cell)
                & (metrics["breakdown"] == "occlusion:coco-analyze")
                & (metrics["subset"] == "heavy")
            ]["value"].iloc[0]
            assert csv.loc[csv["cell"] == row.cell, "AP occ heavy"].iloc[0] == heavy
    markdown = (tmp_path / "lb" / "README.md").read_text()
    assert "## synth / test / gt" in markdown and "Legend" in markdown
    assert len(written) == 3


def test_report_escapes_names(tmp_path) -> None:
    store = ResultsStore(make_store(tmp_path, model=EVIL, dataset="d<b>x</b>"))
    html = build_report([store], title="t & <i>u</i>")
    assert EVIL not in html and "<b>x</b>" not in html and "<i>u</i>" not in html
    assert "&lt;script&gt;alert" in html and "d&lt;b&gt;x&lt;/b&gt;" in html
    assert "<script" not in html.lower().replace("&lt;script", "")


def test_report_contains_every_section(tmp_path) -> None:
    html = build_report([ResultsStore(make_store(tmp_path))])
    for anchor in ("leaderboards", "occlusion", "crowding", "joints", "errors", "pr", "robustness", "provenance"):
        assert f'id="{anchor}"' in html, anchor
    assert html.count("<svg") >= 8
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html


@pytest.mark.slow
def test_report_in_headless_chromium(tmp_path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    out = write_report([ResultsStore(make_store(tmp_path, model=EVIL))], tmp_path / "report.html")
    console, requests = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: console.append((m.type, m.text)))
        page.on("pageerror", lambda e: console.append(("pageerror", str(e))))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(out.as_uri())
        page.wait_for_load_state("load")
        png = page.screenshot(full_page=False)
        tables = page.locator("table.leaderboard").count()
        figures = page.locator("figure svg").count()
        heading = page.inner_text("h1")
        evil_text = page.locator("table.leaderboard").first.inner_text()
        browser.close()
    assert [c for c in console if c[0] in ("error", "pageerror")] == []
    assert requests == [out.as_uri()]
    assert tables == 2 and figures >= 8 and heading == "occbench report"
    assert EVIL in evil_text  # shown as text, not executed
    from io import BytesIO

    from PIL import Image

    pixels = np.asarray(Image.open(BytesIO(png)).convert("L"), dtype=float)
    assert pixels.std() > 5  # not blank
