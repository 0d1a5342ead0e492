"""The attack lab's live demo as a person sees it, in headless Chromium at 1024 and 1440 px, on both datasets.

One run per dataset (MNIST: FGSM, CIFAR-10: IGSM, on shipped sample 0, at the default pace), then at each
width: every live step of the search was painted (a ``requestAnimationFrame`` recorder of the perturbed
image's "step k" caption; the count must equal the run's Steps metric), the replay's two images sit in
panels of their own (distinct x) and both are drawn, before and after play and after the slider moved,
play paints every frame (its title counts "k of n"), the verdict is in words, no metric value is cut ("…" or
overflow), every metric has its help tooltip, and no caption or panel title breaks inside a word or runs into
its neighbour.
Screenshots: ``test-artifacts/screenshots/lab_<dataset>_<width>.png``.
"""
from __future__ import annotations

import time

import pytest

from core.app.verdicts import CLEAN_IMAGES, FALSE_ALARM
from tests.test_browser import SHOTS, browser, no_errors, server, settle  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

WIDTHS = (1024, 1440)
RUNS = {"mnist": ("MNIST", "FGSM"), "cifar10": ("CIFAR-10", "IGSM")}
PANEL = '[data-testid="stPlotlyChart"]'

# Every painted frame: the perturbed image's caption ("perturbed · step k") and the replay's title ("(k of n)").
RECORDER = r"""() => {
  window.__live = new Set(); window.__replay = new Set(); window.__dom = [];
  new MutationObserver(() => {
    const main = document.querySelector('[data-testid="stMain"]');
    for (const m of (main ? main.textContent : "").matchAll(/perturbed · step (\d+)/g))
      if (!window.__dom.some(d => d[0] === +m[1])) window.__dom.push([+m[1], Math.round(performance.now())]);
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
  const tick = () => {
    const main = document.querySelector('[data-testid="stMain"]');
    if (main) {
      for (const m of main.textContent.matchAll(/perturbed · step (\d+)/g)) window.__live.add(+m[1]);
      for (const t of main.querySelectorAll('.gtitle')) {
        const m = t.textContent.match(/\((\d+) of (\d+)\)/);
        if (m) window.__replay.add(+m[1]);
      }
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""

# Words broken across lines (one word, several client rects) and boxes wider than their element.
BROKEN_WORDS = r"""(els) => {
  const out = [];
  for (const el of els) {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      for (const m of n.textContent.matchAll(/\S+/g)) {
        const r = document.createRange();
        r.setStart(n, m.index); r.setEnd(n, m.index + m[0].length);
        const rects = [...r.getClientRects()].filter(b => b.width > 0);
        if (rects.length > 1 && new Set(rects.map(b => Math.round(b.top))).size > 1) out.push(m[0]);
      }
    }
  }
  return out;
}"""

CUT_METRICS = r"""(els) => els.flatMap(el => [el, ...el.querySelectorAll('*')])
  .filter(e => e.textContent.includes('…') || e.scrollWidth > e.clientWidth + 1)
  .map(e => e.textContent)"""


def pick(page, scope: str, option: str) -> None:
    """Choose ``option`` in the first select box of ``scope`` (the sidebar or the main area)."""
    page.locator(f'[data-testid="{scope}"] [data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def replay(page):
    return page.locator(PANEL).filter(has_text="perturbation (amplified)").first


def image_boxes(page) -> list[dict]:
    """The replay's two images: bounding boxes and whether each has a picture."""
    imgs = replay(page).locator("svg image")
    out = []
    for i in range(imgs.count()):
        b = imgs.nth(i).bounding_box()
        href = imgs.nth(i).get_attribute("href") or imgs.nth(i).get_attribute("xlink:href") or ""
        out.append({**b, "drawn": href.startswith("data:image/") and b["width"] > 10})
    return out


def assert_images_in_own_panels(page, when: str) -> None:
    boxes = image_boxes(page)
    assert len(boxes) == 2, f"{when}: {len(boxes)} replay images"
    assert all(b["drawn"] for b in boxes), f"{when}: a replay panel is blank: {boxes}"
    assert abs(boxes[0]["x"] - boxes[1]["x"]) > boxes[0]["width"] / 2, f"{when}: both images at one x: {boxes}"


def no_overlap(boxes: list[dict]) -> bool:
    return all(a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"] or a["y"] + a["height"] <= b["y"]
               or b["y"] + b["height"] <= a["y"] for i, a in enumerate(boxes) for b in boxes[i + 1:])


def check_layout(page, where: str) -> None:
    """Nothing a person reads is cut or broken: metric values, image captions, the replay's panel titles."""
    cut = page.locator('[data-testid="stMetricValue"]').evaluate_all(CUT_METRICS)
    assert not cut, f"{where}: truncated metric values {cut}"
    metrics = page.locator('[data-testid="stMetric"]')
    assert metrics.count() == metrics.locator('button[aria-label^="Help for"]').count() == 6, f"{where}: help"
    texts = page.locator('[data-testid="stImageCaption"], [data-testid="stMetricLabel"]')
    assert not texts.evaluate_all(BROKEN_WORDS), f"{where}: words broken across lines"
    titles = [t.bounding_box() for t in replay(page).locator(".annotation-text").all()]
    assert len(titles) >= 4 and no_overlap(titles), f"{where}: replay panel titles overlap {titles}"


@pytest.mark.parametrize("dataset", list(RUNS))
def test_lab_plays_and_replays_every_step(server, browser, dataset: str) -> None:  # noqa: F811
    label, attack = RUNS[dataset]
    ctx = browser.new_context(viewport={"width": WIDTHS[0], "height": 3000})
    page = ctx.new_page()
    try:
        page.goto(server + "/")
        page.get_by_role("button", name="Run").first.wait_for(timeout=90_000)
        settle(page)
        if dataset != "mnist":
            pick(page, "stSidebar", label)
        pick(page, "stMain", attack)
        page.evaluate(RECORDER)
        page.get_by_role("button", name="Run").first.click()
        page.get_by_text("Replay", exact=True).first.wait_for(timeout=120_000)
        settle(page)
        no_errors(page, f"{dataset} run")
        steps = int(page.locator('[data-testid="stMetric"]').filter(has_text="Steps")
                    .locator('[data-testid="stMetricValue"]').inner_text())
        live = sorted(page.evaluate("() => [...window.__live]"))
        dom = page.evaluate("() => window.__dom")
        assert live == list(range(steps)), f"live: painted steps {live} of {steps} (in the DOM, ms: {dom})"
        verdict = page.locator('[data-testid="stAlert"]').first.inner_text()
        assert verdict.startswith(("caught", "missed", FALSE_ALARM, "the attack did not fool", "model")), verdict
        if verdict.startswith(("caught", "missed")):
            assert CLEAN_IMAGES in verdict and "flagged above" in verdict, verdict
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 3000})
            time.sleep(1.0)
            where = f"{dataset} at {width} px"
            check_layout(page, where)
            assert_images_in_own_panels(page, f"{where}, before play")
            page.evaluate("() => window.__replay.clear()")
            chart = replay(page)
            chart.get_by_text("▶ play").click()
            deadline = time.time() + 5 + steps * 1.5  # the current frame is painted at once: wait for all
            while len(page.evaluate("() => [...window.__replay]")) < steps and time.time() < deadline:
                time.sleep(0.2)
            time.sleep(0.3)
            painted = sorted(page.evaluate("() => [...window.__replay]"))
            assert painted == list(range(1, steps + 1)), f"{where}: replay painted frames {painted} of {steps}"
            assert_images_in_own_panels(page, f"{where}, after play")
            rail = chart.locator(".slider-rail-rect").first.bounding_box()
            page.mouse.click(rail["x"] + rail["width"] * 0.5, rail["y"] + rail["height"] / 2)
            time.sleep(0.8)
            assert_images_in_own_panels(page, f"{where}, after the slider moved")
            page.mouse.click(rail["x"] + rail["width"] - 1, rail["y"] + rail["height"] / 2)  # the last step: the
            time.sleep(0.8)  # next play starts from the first (Plotly's "fromcurrent" restarts from the ends)
            no_errors(page, where)
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"lab_{dataset}_{width}.png"), full_page=True)
    finally:
        ctx.close()
