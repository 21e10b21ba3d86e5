"""The demo wing: everything the Gradio app serves, and nothing gradio itself.

Request validation, the model cache, the streamed run and its frames, the
pictures and charts, the learned field, the same-noise comparison, the equations
panel, the quality meter and the sharing of CPU cores between runs. Only `app.py`
imports it; it may import every other part of the package.
"""
