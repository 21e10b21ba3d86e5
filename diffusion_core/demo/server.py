"""How the app is served: its queue, how many runs at once, how long a session's files and runs live.

Nothing here builds a component; `app.py` passes these to Gradio.
"""

from __future__ import annotations

import os
import signal
import threading

import gradio as gr

SAMPLE_CONCURRENCY = 2  # two CPU cores: two runs at once (threads.SHARE gives each half the cores)
QUEUE_SIZE = 32
# Gradio's queue loop polls for new requests every 1 ms while it is idle, waking the server
# thread a thousand times a second; the sampling thread of a run in progress then keeps
# losing the GIL and a core (measured: a lone 2D run 12% slower beside an idle server than
# alone, 4% at 20 ms). Every 10 ms is plenty for a person pressing Run. Where runs sample in
# worker processes (every run of a shipped or Hub model on the CPU) a run waits for the next
# poll, half the period on average, before it starts: every 2 ms there. The runs still sampled
# in a server thread (a visitor's own model, a run while the workers load) pay for that.
QUEUE_POLL_S = 0.01
QUEUE_POLL_WORKERS_S = 0.002
RUN_TTL_S = 3600  # a session's stored run is dropped an hour after it was made
CACHE_CLEANUP = (600, 3600)  # every 10 min, delete Gradio's cached files (final plots, GIFs) older than 1 h


def queue(demo: gr.Blocks, workers: bool = False) -> None:
    """Turn on `demo`'s queue: QUEUE_SIZE places, SAMPLE_CONCURRENCY runs at once, polled every
    QUEUE_POLL_S, or QUEUE_POLL_WORKERS_S where runs sample in worker processes (`workers`)."""
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=SAMPLE_CONCURRENCY)
    slow_queue_polling(demo, QUEUE_POLL_WORKERS_S if workers else QUEUE_POLL_S)


def slow_queue_polling(demo: gr.Blocks, seconds: float = QUEUE_POLL_S) -> bool:
    """Make the idle queue loop poll every `seconds` (Gradio has no public setting; False if it moved)."""
    queue = getattr(demo, "_queue", None)
    if queue is None or not isinstance(getattr(queue, "sleep_when_free", None), (int, float)):
        return False
    queue.sleep_when_free = max(queue.sleep_when_free, seconds)
    return True


def exit_on_sigterm() -> bool:
    """Make SIGTERM (a Space or a container stopping the app) exit as `sys.exit(0)` does: the exit hooks
    run, so idle sampling workers finish, busy ones are stopped, and their shared semaphores are released
    (killed where it stands, the process leaves them to Python's resource tracker, which reports them
    leaked). A second SIGTERM, and one sent to a forked child (ZeroGPU's runs), kill as before. Only from
    the main thread, and only where no one else has set a handler; False where it did nothing."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        return False
    owner = os.getpid()

    def leave(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second one ends it, exit hooks or not
        if os.getpid() != owner:  # a forked copy inherits the handler, not the server's shutdown
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, leave)
    return True
