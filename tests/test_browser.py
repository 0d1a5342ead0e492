"""The dashboard in a real browser: ``streamlit run`` + headless Debian Chromium driven by Playwright.

Needs ``apt-get install -y chromium`` (``/usr/bin/chromium``; ``$CHROMIUM`` overrides); Playwright drives the
system Chromium (no ``playwright install``).  Without Chromium it skips, except in CI (``$CI`` set), where that
is a failure.  Every page is opened at 1024 and 1440 px wide (MNIST), and at 1024 px on CIFAR-10: no request
may leave the machine (every URL the page fetches is recorded), no response may fail, no metric value may be
cut off and no exception box may show.
Screenshots go to ``test-artifacts/screenshots/`` (git-ignored); ``make screenshots`` runs this file and copies
them to ``docs/screenshots/`` for the README, so the tracked ones change only when asked to.
"""
from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from PIL import Image
from test_app_results import build_fake_artifacts

from core.io.paper import paper_results
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
WIDTHS = (1024, 1440)  # a small laptop and a desktop
LOCAL_HOSTS = ("127.0.0.1", "localhost")
LOCAL_SCHEMES = ("data", "blob", "about")


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

    art = tmp_path_factory.mktemp("fake") / "artifacts"
    with pytest.MonkeyPatch.context() as mp:  # module scope: monkeypatch's own fixture is per test
        mp.setenv("ADV_ARTIFACTS", str(art))
        build_fake_artifacts(art)

    paper_results.cache_clear()
    url, proc = _serve({"ADV_ARTIFACTS": str(art)})
    yield url
    _stop(proc)


@pytest.fixture(scope="module")
def browser():
    exe = chromium_path()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("CI: headless Chromium not found (apt-get install -y chromium, or set $CHROMIUM)")
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


class Traffic:
    """Every request a page makes and every failed response, recorded from the moment the page opens."""

    def __init__(self, page) -> None:
        self.urls: list[str] = []
        self.failed: list[str] = []
        page.on("request", self.started)
        page.on("response", lambda r: self.failed.append(f"{r.status} {r.url}") if self.broken(r) else None)
        page.on("requestfailed", self.failed_request)

    def started(self, request) -> None:
        self.urls.append(request.url)

    def failed_request(self, request) -> None:
        """A request that got no response.  One the browser itself cancelled (``net::ERR_ABORTED``) is no failure:
        the test's navigation cancels the previous page's late image and script loads, and a rerun that replaces
        an image cancels its load; a server that failed answers with a status (``broken``) or drops the
        connection (another ``net::`` error), and both still count."""
        if request.failure != "net::ERR_ABORTED":
            self.failed.append(f"failed {request.url} ({request.failure})")

    @staticmethod
    def broken(response) -> bool:
        """A failed response, except Streamlit's probe for its base path: on ``/scan`` its frontend first asks
        ``/scan/_stcore/health`` (404), then the server root."""
        path = urlparse(response.url).path
        probe = path.endswith(("/_stcore/health", "/_stcore/host-config")) and not path.startswith("/_stcore/")
        return response.status >= 400 and not probe

    def clear(self) -> None:
        """Start a new record (the next page)."""
        self.urls.clear()
        self.failed.clear()

    def outside(self) -> list[str]:
        """The requests that left the machine (any host but 127.0.0.1/localhost, any scheme but data:/blob:)."""
        return [u for u in self.urls
                if urlparse(u).scheme not in LOCAL_SCHEMES and urlparse(u).hostname not in LOCAL_HOSTS]


def open_page(browser, width: int):
    ctx = browser.new_context(viewport={"width": width, "height": 1900})
    p = ctx.new_page()
    p.set_default_timeout(90_000)  # a busy shared machine: a rerun can take long
    p.traffic = Traffic(p)
    return ctx, p


@pytest.fixture
def page(browser):
    ctx, p = open_page(browser, 1400)
    yield p
    ctx.close()


def truncated_metrics(page) -> list[str]:
    """The metric values (``st.metric``) whose text does not fit their box (cut off or ellipsised)."""
    return page.evaluate("""() => [...document.querySelectorAll('[data-testid="stMetricValue"]')]
        .filter(m => [m, ...m.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1))
        .map(m => m.innerText)""")


def choose_dataset(page, label: str) -> None:
    """Pick ``label`` in the sidebar's dataset box (a new browser session starts on MNIST)."""
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.locator('[data-testid="stSelectbox"]').filter(has_text="Dataset").first.click()
    page.get_by_role("option", name=label).first.click()
    settle(page)


def check_page(page, where: str) -> None:
    """The page's own checks: no exception box, no metric cut off, nothing fetched from outside, no failure."""
    no_errors(page, where)
    assert not truncated_metrics(page), f"{where}: metric values cut off: {truncated_metrics(page)}"
    assert not page.traffic.outside(), f"{where}: requests left the machine: {page.traffic.outside()}"
    assert not page.traffic.failed, f"{where}: failed responses: {page.traffic.failed}"


SHOT_SUFFIX = {"MNIST": "", "CIFAR-10": "_cifar10", "Lab · mnist-torchscript": "_lab"}  # the shipped lab


@pytest.mark.parametrize("width, dataset", [(1440, "MNIST"), (1024, "MNIST"), (1024, "CIFAR-10"),
                                            (1440, "Lab · mnist-torchscript"), (1024, "Lab · mnist-torchscript")])
def test_every_page_opens_without_errors(server, browser, width: int, dataset: str) -> None:
    """Every page at this width and dataset: title, sidebar, the page's checks, a screenshot."""
    ctx, page = open_page(browser, width)
    try:
        for path, (name, title) in PAGES.items():
            page.traffic.clear()
            page.goto(f"{server}/{path}")
            page.locator("h1").filter(has_text=title).first.wait_for(timeout=90_000)
            settle(page)
            if dataset != "MNIST":
                choose_dataset(page, dataset)
            where = f"{path or 'attack lab'} at {width} px, {dataset}"
            check_page(page, where)
            assert page.locator('[data-testid="stSidebar"]').get_by_text("Glossary").count() >= 1, where
            suffix = ("" if width == 1440 else f"_{width}") + SHOT_SUFFIX[dataset]
            shoot(page, name + suffix)
    finally:
        ctx.close()


def test_attack_lab_run_in_the_browser(server, page) -> None:
    page.goto(server + "/")
    page.get_by_role("button", name="Run").first.wait_for(timeout=90_000)
    settle(page)
    page.get_by_role("button", name="Run").first.click()
    page.get_by_text("Replay", exact=True).first.wait_for(timeout=240_000)  # a paced run on a busy machine
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
    check_page(page, "scan upload")
    shoot(page, "2b_scan_upload")
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files([str(good), str(bad)])
    page.get_by_text("not a recognised image").first.wait_for(timeout=60_000)
    settle(page)
    shoot(page, "2d_scan_batch")
    check_page(page, "scan batch with a bad file")
    assert "1 refused" in page.locator('[data-testid="stMain"]').inner_text()  # the upload's status line
    assert page.locator('[data-testid="stDataFrame"]').count() >= 1  # the batch table


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
    check_page(page, "embeddings lasso")
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
    check_page(page, "canvas")
    assert "model 1 → 1" in page.locator('[data-testid="stMain"]').inner_text()
    shoot(page, "2c_scan_draw")
