"""The forward view in a real browser: open it, play the film on the live canvas, drag its t slider and see
the canvas stop at that t. Skipped where Chromium or playwright is missing."""

import os
import re
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest

if not Path("/usr/bin/chromium").exists():
    pytest.skip("/usr/bin/chromium is missing (apt-get install chromium)", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="playwright is not installed", exc_type=ImportError)

TITLE = "document.querySelector('#live-canvas canvas')?.dataset.title || ''"


def test_the_forward_film_plays_on_the_live_canvas_and_stops_where_the_slider_says(chromium, app_url):
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(app_url)
    page.wait_for_function("window.diffusionLive && window.diffusionLive.painted > 0", timeout=60_000)
    page.get_by_text("The forward process: watch").click()
    page.evaluate("window.diffusionLive.reset()")
    page.click("#forward-play")
    page.wait_for_function(f"({TITLE}).startsWith('forward q(x_t')", timeout=60_000)
    page.wait_for_function("window.diffusionLive.finalPainted", timeout=60_000)
    assert page.evaluate("window.diffusionLive.painted") >= 30  # the film played, not only its last frame
    assert " t = 999 " in page.evaluate(TITLE) + " "  # it ends in pure noise
    assert "Reverse against forward" in page.inner_text("#forward-words")

    slider = page.locator("#forward-t input[type='range']")
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    page.wait_for_function(f"/ t = (1|2|3)[0-9][0-9] · /.test({TITLE})", timeout=30_000)
    shown = int(re.search(r" t = (\d+) · ", page.evaluate(TITLE))[1])
    wanted = int(page.locator("#forward-t input[type='number']").input_value())
    assert abs(shown - wanted) <= 9  # the film's frame nearest to the slider (60 frames over 1000 steps)
    context.close()
    assert errors == []
