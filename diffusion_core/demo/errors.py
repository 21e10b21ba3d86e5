"""How a handler's `RequestError` reaches the visitor: one `gr.Error` with its message, no traceback."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import gradio as gr

from .requests import RequestError


def user_errors(handler: Callable) -> Callable:
    """Turn a RequestError raised by `handler` (or while its generator runs) into a gr.Error."""

    def as_gr_error(error: RequestError) -> gr.Error:
        return gr.Error(str(error), title="Cannot run this request", print_exception=False)

    if _is_generator(handler):
        @functools.wraps(handler)
        def streaming(*args, **kwargs):
            try:
                yield from handler(*args, **kwargs)
            except RequestError as error:
                raise as_gr_error(error) from None
        return streaming

    @functools.wraps(handler)
    def plain(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except RequestError as error:
            raise as_gr_error(error) from None
    return plain


def _is_generator(fn: Callable) -> bool:
    return inspect.isgeneratorfunction(inspect.unwrap(fn))
