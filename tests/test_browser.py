"""The dashboard in a real browser: ``streamlit run`` + headless Debian Chromium driven by Playwright.

Needs ``apt-get install -y chromium`` (``/usr/bin/chromium``; ``$CHROMIUM`` overrides); Playwright drives the
system Chromium (no ``playwright install``).  Skips without Chromium.
Screenshots go to ``test-artifacts/screenshots/`` (git-ignored); ``make screenshots`` runs this file and copies
them to ``docs/screenshots/`` for the README, so the tracked ones change only when asked to.
"""
from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.support import CHROMIUM_ARGS, chromium_path, free_port, streamlit_run

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "test-artifacts" / "screenshots"
PAGES = {  # url path → (file name, title text)
    "": ("1_attack_lab", "Attack lab"),
    "scan": ("2_scan", "Scan images"),
    "transfer": ("3_transfer", "Transfer matrices"),
    "embeddings": ("4_embeddings", "Embeddings"),
    "results": ("5_results", "Results vs paper"),
    "security": ("6_security", "Security"),
}
def _serve(env: dict[str, str] | None = None):
    port = free_port()
    proc = subprocess.Popen(
        streamlit_run(str(REPO / "app.py"), port),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)
            break
        except Exception:
            if proc.poll() is not None or time.time() > deadline:
                out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                proc.kill()
                pytest.fail(f"streamlit did not start: {out[-2000:]}")
            time.sleep(0.2)
    return url, proc


def _stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def server(browser):
    url, proc = _serve()
    yield url
    _stop(proc)


@pytest.fixture(scope="module")
def fake_server(browser, tmp_path_factory):
    """The app over synthetic results of every kind (tests/test_app_results.py), for the data-driven pages."""
    from test_app_results import build_fake_artifacts

    art = tmp_path_factory.mktemp("fake") / "artifacts"
    with pytest.MonkeyPatch.context() as mp:  # module scope: monkeypatch's own fixture is per test
        mp.setenv("ADV_ARTIFACTS", str(art))
        build_fake_artifacts(art)
    from core.io.paper import paper_results

    paper_results.cache_clear()
    url, proc = _serve({"ADV_ARTIFACTS": str(art)})
    yield url
    _stop(proc)


@pytest.fixture(scope="module")
def browser():
    exe = chromium_path()
    if exe is None:
        pytest.skip("headless Chromium not found (apt-get install -y chromium, or set $CHROMIUM)")
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


def settle(page, timeout: float = 90.0) -> None:
    """Wait until the script run finishes (the 'running' status widget is gone) and the page is quiet."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout * 1000)
    time.sleep(0.5)
    deadline = time.time() + timeout
    busy = '[data-testid="stStatusWidget"], [data-testid="stSkeleton"], .stSkeleton'
    while time.time() < deadline:
        if not page.locator(busy).count():  # script finished and lazy elements (tables, code) drawn
            time.sleep(0.7)
            if not page.locator(busy).count():
                break
        time.sleep(0.2)
    time.sleep(0.5)


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def no_errors(page, where: str) -> None:
    n = page.locator('[data-testid="stException"]').count()
    assert n == 0, (
        f"{where}: {n} exception element(s): {page.locator('[data-testid=stException]').first.inner_text()[:1500]}"
    )


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1900})
    p = ctx.new_page()
    yield p
    ctx.close()


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_opens_without_errors(server, page, path: str) -> None:
    name, title = PAGES[path]
    page.goto(f"{server}/{path}")
    page.locator("h1").filter(has_text=title).first.wait_for(timeout=90_000)
    settle(page)
    no_errors(page, path or "attack lab")
    assert page.locator('[data-testid="stSidebar"]').get_by_text("Dataset").count() >= 1
    shoot(page, name)


def test_attack_lab_run_in_the_browser(server, page) -> None:
    page.goto(server + "/")
    page.get_by_role("button", name="Run").first.wait_for(timeout=90_000)
    settle(page)
    page.get_by_role("button", name="Run").first.click()
    page.get_by_text("Replay", exact=True).first.wait_for(timeout=120_000)
    settle(page)
    no_errors(page, "attack lab run")
    assert page.locator(".js-plotly-plot").count() >= 2  # live softmax bars + the replay animation
    shoot(page, "1b_attack_lab_run")


def test_transfer_cell_click_selects_the_pair(server, page) -> None:
    """A click on a cell of the paper's matrix picks that (trained on, tested on) pair below."""
    page.goto(server + "/transfer")
    page.locator("h1").filter(has_text="Transfer matrices").first.wait_for(timeout=90_000)
    settle(page)
    plot = page.locator(".js-plotly-plot").filter(has=page.locator("text=paper — accuracy")).first
    plot.wait_for(timeout=30_000)
    drags = plot.locator(".nsewdrag")
    box = max((drags.nth(i).bounding_box() for i in range(drags.count())), key=lambda b: b["width"] * b["height"])
    x, y = box["x"] + box["width"] * 2.5 / 7, box["y"] + box["height"] * 4.5 / 7  # row Blur, column JSMA
    page.mouse.move(x - 5, y - 5)
    page.mouse.move(x, y, steps=10)
    page.mouse.click(x, y)
    page.get_by_text("paper accuracy 0.55").first.wait_for(timeout=30_000)  # Figure 5: Blur → JSMA
    settle(page)
    no_errors(page, "transfer click")


def test_scan_upload_in_the_browser(server, page, tmp_path: Path) -> None:
    from PIL import Image

    a = np.full((200, 160), 255, np.uint8)
    a[30:170, 70:95] = 0  # a dark "1" on white
    good = tmp_path / "digit.png"
    Image.fromarray(a).save(good)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"definitely not an image")
    page.goto(server + "/scan")
    page.locator("h1").filter(has_text="Scan images").first.wait_for(timeout=90_000)
    settle(page)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(good))
    page.get_by_text("model 1 →").first.wait_for(timeout=60_000)
    settle(page)
    no_errors(page, "scan upload")
    shoot(page, "2b_scan_upload")
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files([str(good), str(bad)])
    page.get_by_text("not a recognised image").first.wait_for(timeout=60_000)
    settle(page)
    no_errors(page, "scan bad upload")


def test_embeddings_lasso_shows_thumbnails(fake_server, page) -> None:
    page.goto(fake_server + "/embeddings")
    page.locator("h1").filter(has_text="Embeddings").first.wait_for(timeout=90_000)
    settle(page)
    plot = page.locator(".js-plotly-plot").first
    drags = plot.locator(".nsewdrag")
    b = max((drags.nth(i).bounding_box() for i in range(drags.count())), key=lambda r: r["width"] * r["height"])
    pts = [(0.02, 0.02), (0.98, 0.02), (0.98, 0.98), (0.02, 0.98), (0.02, 0.03)]  # lasso around the whole plot
    page.mouse.move(b["x"] + b["width"] * pts[0][0], b["y"] + b["height"] * pts[0][1])
    page.mouse.down()
    for fx, fy in pts[1:]:
        page.mouse.move(b["x"] + b["width"] * fx, b["y"] + b["height"] * fy, steps=8)
    page.mouse.up()
    page.get_by_text("selected").first.wait_for(timeout=30_000)
    settle(page)
    no_errors(page, "embeddings lasso")
    assert page.locator('[data-testid="stImage"]').count() >= 10  # thumbnails of the selection
    shoot(page, "4b_embeddings_lasso_synthetic_data")
    page.goto(fake_server + "/transfer")
    page.locator("h1").filter(has_text="Transfer matrices").first.wait_for(timeout=90_000)
    settle(page)
    no_errors(page, "transfer with data")
    shoot(page, "3b_transfer_with_synthetic_data")


def test_draw_a_digit_on_the_canvas(server, page) -> None:
    page.goto(server + "/scan")
    page.locator("h1").filter(has_text="Scan images").first.wait_for(timeout=90_000)
    settle(page)
    page.get_by_role("tab", name="Draw a digit").click()
    canvas = page.locator("canvas")
    canvas.first.wait_for(timeout=30_000)
    b = max((canvas.nth(i).bounding_box() for i in range(canvas.count())), key=lambda r: r["width"] * r["height"])
    x = b["x"] + b["width"] * 0.5
    page.mouse.move(x, b["y"] + b["height"] * 0.15)
    page.mouse.down()
    page.mouse.move(x, b["y"] + b["height"] * 0.85, steps=20)  # a vertical stroke: a "1"
    page.mouse.up()
    page.get_by_text("model 1 →").first.wait_for(timeout=60_000)
    settle(page)
    no_errors(page, "canvas")
    assert "model 1 → 1" in page.locator('[data-testid="stMain"]').inner_text()
    shoot(page, "2c_scan_draw")
