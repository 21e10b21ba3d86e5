"""A visitor's first minute, in a real browser at a laptop's 1280×800 and a phone's 390×844: the live
view in sight while a run plays, nothing wider than the screen, Stop and a model switch that tell the
truth, and no serious accessibility fault (axe-core). Skipped where Chromium or playwright is missing."""

import os
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest

if not Path("/usr/bin/chromium").exists():
    pytest.skip("/usr/bin/chromium is missing (apt-get install chromium)", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="playwright is not installed", exc_type=ImportError)

from browser_helpers import ARTIFACTS

SIZES = {"laptop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
# Counts the frames the canvas paints while it lies wholly inside the viewport.
WATCH_IN_VIEW = """() => {
  const live = window.diffusionLive, canvas = document.querySelector('#live-canvas canvas');
  const seen = window.__inView = {frames: 0, last: live.painted};
  const loop = () => {
    if (live.painted > seen.last) {
      const box = canvas.getBoundingClientRect();
      const inside = box.top >= 0 && box.left >= 0 && box.bottom <= innerHeight && box.right <= innerWidth;
      if (inside) seen.frames += live.painted - seen.last;
      seen.last = live.painted;
    }
    if (!live.finalPainted) requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
}"""


@pytest.fixture(params=sorted(SIZES))
def page(request, chromium, app_url):
    context = chromium.new_context(viewport=SIZES[request.param])
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(app_url)
    page.wait_for_function("window.diffusionLive && window.diffusionLive.painted > 0", timeout=60_000)
    page.size_name = request.param
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def start(page, how: str) -> None:
    page.evaluate("window.diffusionLive.reset()")
    page.evaluate(WATCH_IN_VIEW)
    if how == "run":
        page.click("#run-button")
    else:
        page.get_by_text("Upper moon, w = 3").first.click()


@pytest.mark.parametrize("how", ["run", "example"])
def test_the_live_view_is_in_sight_while_the_run_plays(page, how):
    if how == "example":
        page.get_by_text("Upper moon, w = 3").first.scroll_into_view_if_needed()
    start(page, how)
    page.wait_for_function("window.diffusionLive.finalPainted", timeout=120_000)
    in_view = page.evaluate("window.__inView.frames")
    assert in_view >= 10, f"{page.size_name}, {how}: only {in_view} frames painted in sight"
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"first_minute_{page.size_name}_{how}.png"))


def test_stop_says_where_the_run_was_and_shows_no_error(page):
    page.get_by_text("DDPM", exact=True).first.click()
    steps = page.locator("#steps input[type='number']")
    steps.fill("1000")
    steps.press("Enter")
    page.get_by_text("More options").click()
    samples = page.locator("#num-samples input[type='number']")
    samples.fill("5000")
    samples.press("Enter")
    page.click("#run-button")
    page.wait_for_function("window.diffusionLive.painted > 5", timeout=60_000)
    page.click("#stop-button")
    page.wait_for_function("(document.querySelector('#result-card')?.innerText || '').includes('Stopped at step')",
                           timeout=30_000)
    page.wait_for_timeout(1500)
    assert page.get_by_text("Error", exact=True).count() == 0


def test_a_bad_value_is_marked_on_its_control_and_no_output_shows_an_error(page):
    page.get_by_text("More options").click()
    page.get_by_text("New seed every run").click()  # off: Run sends the seed as typed
    seed = page.locator("#seed input")
    seed.fill("-3")
    seed.press("Enter")
    painted = page.evaluate("window.diffusionLive.painted")
    page.click("#run-button")
    message = "seed must be a whole number from 0 to 2147483647, got -3"
    page.wait_for_function(f"(document.querySelector('#seed')?.innerText || '').includes({message!r})",
                           timeout=30_000)
    page.wait_for_timeout(1000)
    assert page.get_by_text("Error", exact=True).count() == 0
    assert page.evaluate("window.diffusionLive.painted") == painted  # refused before it ran: nothing played


def test_switching_the_model_clears_the_last_result(page):
    page.click("#run-button")
    page.wait_for_function("(document.querySelector('#result-card')?.innerText || '').includes('Finished')", timeout=60_000)
    page.wait_for_selector("#gif img", timeout=60_000)  # the run's GIF, made after it
    page.get_by_label("Model").first.click()
    page.get_by_role("option", name="EMNIST characters").click()
    page.wait_for_function("(document.querySelector('#result-card')?.innerText || '').includes('press Run')", timeout=30_000)
    assert "EMNIST characters" in page.inner_text("#result-card")
    assert page.locator("#final-plot").is_hidden()
    assert page.locator("#gif img").count() == 0
    assert page.locator("#scrub input[type='range']").is_disabled()


def serious_violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']}" for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")]


def test_no_serious_accessibility_fault_before_or_after_a_run(page):
    assert serious_violations(page) == []
    page.click("#run-button")
    page.wait_for_function("window.diffusionLive.finalPainted", timeout=60_000)
    assert serious_violations(page) == []


def test_a_link_reopens_the_page_with_its_settings(page, app_url):
    page.goto(app_url + "?model=circles&sampler=ddpm&steps=100&class_name=inner+ring&guidance=2&seed=3")
    page.wait_for_function("document.querySelector('#live-canvas canvas')?.dataset.title?.startsWith('circles')",
                           timeout=30_000)
    assert page.locator("#steps input[type='number']").input_value() == "100"
    link = page.locator("#settings-link a").get_attribute("href")
    assert "model=circles" in link and "class_name=inner+ring" in link and "steps=100" in link


def test_run_is_a_few_tab_presses_away(page):
    # As a visitor arrives: the focus at the page's very top, whatever a late re-render did to it.
    page.evaluate("""() => { document.activeElement?.blur(); document.body.tabIndex = -1; document.body.focus();
                            document.body.removeAttribute('tabindex'); }""")
    visited = []
    for _ in range(10):
        page.keyboard.press("Tab")
        visited.append(page.evaluate("(e => e ? e.id || e.tagName : '')(document.activeElement)"))
        if visited[-1] == "run-button":
            break
    assert visited[-1] == "run-button" and len(visited) <= 3, visited
