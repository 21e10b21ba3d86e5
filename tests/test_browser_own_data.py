"""'Your own data' in a real browser, at a laptop's and a phone's size: draw a ring with the mouse, train,
and watch the trained model's run play. Skipped where Chromium or playwright is missing."""

import math
import os
from pathlib import Path

os.environ["DIFFUSION_OWN_TRAIN_SECONDS"] = "8"
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest

if not Path("/usr/bin/chromium").exists():
    pytest.skip("/usr/bin/chromium is missing (apt-get install chromium)", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="playwright is not installed", exc_type=ImportError)

from browser_helpers import ARTIFACTS


@pytest.mark.parametrize("size", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}],
                         ids=["laptop", "phone"])
def test_a_drawn_ring_trains_and_its_run_plays(chromium, app_url, size):
    context = chromium.new_context(viewport=size)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(app_url)
    page.wait_for_function("window.diffusionLive && window.diffusionLive.painted > 0", timeout=60_000)
    page.get_by_text("Your own data: draw").click()
    canvas = page.locator("canvas.own-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    cx, cy, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["width"] * 0.3
    page.mouse.move(cx + r, cy)
    page.mouse.down()
    for k in range(1, 61):
        page.mouse.move(cx + r * math.cos(2 * math.pi * k / 60), cy + r * math.sin(2 * math.pi * k / 60))
    page.mouse.up()
    page.wait_for_function("(document.querySelector('#own-strokes textarea, #own-strokes input')?.value || '')"
                           ".includes('strokes')")
    assert page.inner_text(".own-count") == "1 stroke"
    page.click("#own-train")
    page.wait_for_function("(document.querySelector('#own-words')?.innerText || '').includes('Trained')",
                           timeout=120_000)
    assert page.locator("#model input").input_value() == "Your data (the drawing)"
    page.evaluate("window.diffusionLive.reset()")
    page.click("#run-button")
    page.wait_for_function("window.diffusionLive.finalPainted", timeout=60_000)
    assert page.evaluate("window.diffusionLive.painted") >= 10
    assert "strays" in page.inner_text("#result-card")
    assert page.get_by_text("Error", exact=True).count() == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"own_data_{size['width']}.png"))
    context.close()
    assert errors == [], errors
