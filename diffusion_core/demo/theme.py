"""The page's look: Gradio's Soft theme, a font whose letters read plainly, colours that meet WCAG AA."""

from __future__ import annotations

import gradio as gr


def page_theme() -> gr.themes.Base:
    """Soft, with the system's sans-serif (whose E and w read plainly) and help text at 7:1 contrast."""
    system = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"]
    return gr.themes.Soft(primary_hue="indigo", neutral_hue="slate", font=system).set(
        block_info_text_color="*neutral_600", block_info_text_color_dark="*neutral_300",
        body_text_color_subdued="*neutral_600", body_text_color_subdued_dark="*neutral_300",
        # Indigo 500 under white text or on indigo 100 misses WCAG AA's 4.5:1; one or two shades darker meet it.
        button_primary_background_fill="*primary_600", button_primary_background_fill_hover="*primary_700",
        checkbox_label_background_fill_selected="*primary_600",
        block_label_text_color="*primary_700", block_title_text_color="*primary_700",
        block_label_text_color_dark="*primary_200", block_title_text_color_dark="*primary_200",
    )
