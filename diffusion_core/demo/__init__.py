"""The demo wing: everything the Gradio app serves.

Request validation, the model cache and each run's cost, admission to the queue, the
streamed run and its frames and wire format, the pictures and charts, the learned
field, the same-noise comparison, the equations panel, the quality meter and the
result in words, the sharing of CPU cores between runs, ZeroGPU. Most modules take
and return plain values; the handlers, the teaching panels' layout, the theme and the
queue settings are the ones that import gradio. Only `app.py` imports this wing; it may
import every other part of the package.
"""
