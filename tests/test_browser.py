"""The app in a real browser (Debian's Chromium through playwright): it loads, streams, ends, offers the GIF.

Skipped, with the reason, where /usr/bin/chromium or the playwright package is missing.
Screenshots go to artifacts/browser/ (the README's picture is docs/screenshot.png).
"""

import os
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest

if not Path("/usr/bin/chromium").exists():
    pytest.skip("/usr/bin/chromium is missing (apt-get install chromium)", allow_module_level=True)
pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)", exc_type=ImportError
)

from browser_helpers import ARTIFACTS

from diffusion_core.demo.frames import keyframe_indices


@pytest.fixture
def app_page(chromium, app_url):
    context = chromium.new_context(viewport={"width": 1500, "height": 1150}, accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(app_url)
    page.wait_for_function("window.diffusionLive && window.diffusionLive.painted > 0", timeout=60_000)
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def canvas_title(page) -> str:
    return page.eval_on_selector("#live-canvas canvas", "c => c.dataset.title")


def run_and_wait(page, timeout_ms=120_000) -> dict:
    page.evaluate("window.diffusionLive.reset()")
    page.click("#run-button")
    page.wait_for_function("window.diffusionLive.finalPainted", timeout=timeout_ms)
    return page.evaluate("({painted: window.diffusionLive.painted, received: window.diffusionLive.received,"
                         " messages: window.diffusionLive.messages})")


def test_page_loads_with_the_data_picture_and_the_controls(app_page):
    assert app_page.title() == "Diffusion, step by step"
    assert "Press Run" in canvas_title(app_page)
    for element in ("#run-button", "#stop-button", "#scrub", "#final-plot"):
        assert app_page.locator(element).count() == 1, element


def test_run_streams_frames_then_shows_the_final_plot_and_the_gif(app_page):
    stats = run_and_wait(app_page)
    # The default run, DDPM over 100 steps: its 60 keyframes (and any frame the clock adds).
    assert stats["painted"] >= 10 and stats["received"] >= 60
    assert canvas_title(app_page).startswith("DDPM · step 100/100")
    app_page.wait_for_selector("#final-plot .js-plotly-plot", timeout=30_000)
    link = app_page.wait_for_selector("#gif a[href*='.gif']", timeout=60_000)
    gif = app_page.request.get(link.get_attribute("href"))
    assert gif.ok and gif.body()[:6] in (b"GIF87a", b"GIF89a")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    app_page.screenshot(path=str(ARTIFACTS / "after_run.png"), full_page=True)


def test_scrubbing_after_a_run_repaints_an_earlier_frame(app_page):
    run_and_wait(app_page)
    slider = app_page.locator("#scrub input[type='range']")
    slider.fill("9")
    step = keyframe_indices(100)[9] + 1  # the 10th stored frame of the default 100-step run
    app_page.wait_for_function(
        f"document.querySelector('#live-canvas canvas').dataset.title.includes('step {step}/100')", timeout=30_000
    )


def test_image_model_streams_a_grid_and_ends_with_characters(app_page):
    app_page.get_by_label("Model").first.click()
    app_page.get_by_role("option", name="EMNIST characters").click()
    app_page.wait_for_function(
        "document.querySelector('#live-canvas canvas').dataset.title.startsWith('emnist')", timeout=30_000
    )
    stats = run_and_wait(app_page)
    assert stats["painted"] >= 5
    app_page.wait_for_selector("#final-images img", timeout=30_000)
    app_page.screenshot(path=str(ARTIFACTS / "emnist.png"), full_page=True)


def test_the_field_and_the_explanation_follow_the_controls_during_a_run(app_page):
    app_page.get_by_label("Class").first.click()
    app_page.get_by_role("option", name="upper moon").click()
    app_page.get_by_text("More options").click()
    app_page.locator("#field").get_by_text("conditional, unconditional and guided").click()
    app_page.get_by_label("Show the model's guess x̂₀").check()
    app_page.get_by_text("What am I looking at?").click()
    app_page.wait_for_function(
        "(document.querySelector('#explanation')?.innerText || '').includes('upper moon')", timeout=30_000
    )
    assert app_page.locator("#explanation .katex").count() > 0  # the equations are rendered, not raw LaTeX
    stats = run_and_wait(app_page)
    fields, guesses = app_page.evaluate("[window.diffusionLive.fieldPainted, window.diffusionLive.guessPainted]")
    assert fields >= 10 and fields <= stats["painted"] and guesses == fields
    app_page.wait_for_function(  # the quality meter of the finished run, in words
        "(document.querySelector('#result-card')?.innerText || '').includes('lie nearest to upper moon data')", timeout=30_000
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    app_page.screenshot(path=str(ARTIFACTS / "field.png"), full_page=True)
    app_page.locator("#live-canvas").screenshot(path=str(ARTIFACTS / "field_canvas.png"))


def test_compare_and_the_papers_tables_appear_for_a_2d_model(app_page):
    app_page.get_by_text("Compare two samplers from the same noise").click()
    for name, value in (("A: steps", "100"), ("B: steps", "10")):
        box = app_page.locator(f"input[aria-label='number input for {name}']")
        box.fill(value)
        box.press("Enter")
    app_page.click("#compare-button")
    app_page.wait_for_selector("#compare-image img", timeout=120_000)
    app_page.wait_for_function(
        "(document.querySelector('#compare-words')?.innerText || '').includes('From the same noise')", timeout=30_000
    )
    app_page.get_by_text("The papers' tables in miniature").click()
    app_page.wait_for_selector("#guidance-sweep .js-plotly-plot", timeout=30_000)
    app_page.wait_for_selector("#steps-sweep .js-plotly-plot", timeout=30_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    app_page.screenshot(path=str(ARTIFACTS / "compare_and_tables.png"), full_page=True)


def test_an_example_fills_the_controls_and_plays_its_run(app_page):
    app_page.evaluate("window.diffusionLive.reset()")
    app_page.get_by_text("Upper moon, w = 3").first.click()
    app_page.wait_for_function("window.diffusionLive.finalPainted", timeout=120_000)
    assert app_page.evaluate("window.diffusionLive.received") >= 60  # the default DDPM-100: its 60 keyframes
    app_page.wait_for_function(
        "(document.querySelector('#result-card')?.innerText || '').includes('class upper moon, w = 3')",
        timeout=30_000,
    )
