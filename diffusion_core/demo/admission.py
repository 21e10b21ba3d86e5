"""Who may queue another run: a few runs at a time per visitor, so no one fills the queue.

Gradio's queue holds QUEUE_SIZE requests for everyone; without a bound per client, one
visitor (or a script that invents a new session for every request) takes every place
and the next visitor waits behind all of them. Before a run enters the queue, its
event's validator counts the runs already queued or running for the same session
(at most MAX_PENDING_PER_SESSION) and for the same address (at most
MAX_PENDING_PER_HOST: a classroom behind one router shares an address, a script
inventing sessions does too), and refuses a run when the queue is full. The address is
the last entry of X-Forwarded-For where a proxy set one (a Space's proxy appends the
address it saw, which the client cannot choose), else the connection's own.

Gradio has no public view of its queue; `pending_runs` reads its event lists and says
so (returns None, admitting every run) when a Gradio release moves them, and a test
fails on that release.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

MAX_PENDING_PER_SESSION = 2
MAX_PENDING_PER_HOST = 8
RUN_EVENTS = ("sample", "tables")  # the concurrency groups whose events are runs
ADMISSION_SPACING_S = 0.05  # the least time between two admissions (see Admission)


def client_host(request) -> str | None:
    """The address behind a request (a gr.Request or the web server's own), None if it has none."""
    headers = getattr(request, "headers", None) or {}
    forwarded = headers.get("x-forwarded-for", "") if hasattr(headers, "get") else ""
    if forwarded.strip():
        return forwarded.split(",")[-1].strip()
    return getattr(getattr(request, "client", None), "host", None)


@dataclass(frozen=True)
class Pending:
    """Runs queued or running: of one session, from one address; and all events waiting for a place."""

    session: int
    host: int
    waiting: int


def pending_runs(queue, session: str | None, host: str | None, groups: Iterable[str] = RUN_EVENTS) -> Pending | None:
    """What Gradio's `queue` holds for `session` and `host` (runs only); None if it cannot be read."""
    groups = set(groups)
    try:
        waiting = [event for event_queue in queue.event_queue_per_concurrency_id.values() for event in event_queue.queue]
        running = [event for job in queue.active_jobs for event in job or ()]
        runs = [event for event in waiting + running if event.fn.concurrency_id in groups]
        return Pending(
            session=sum(1 for event in runs if session is not None and event.session_hash == session),
            host=sum(1 for event in runs if host is not None and client_host(event.request) == host),
            waiting=len(waiting),
        )
    except AttributeError:
        return None


def refusal(pending: Pending, queue_size: int | None) -> str | None:
    """Why another run may not queue; None when it may."""
    if pending.session >= MAX_PENDING_PER_SESSION:
        return (f"you already have {pending.session} runs queued or running, the most one visitor may have at "
                "once; wait for one to finish (or press Stop) and run again")
    if pending.host >= MAX_PENDING_PER_HOST:
        return (f"{pending.host} runs from your network are queued or running, the most one address may have "
                "at once; try again in a moment")
    if queue_size is not None and pending.waiting >= queue_size:
        return f"the queue is full ({pending.waiting} requests are waiting, its limit); try again in a minute"
    return None


class Admission:
    """The decisions, one at a time on the server's event loop, at least `spacing_s` apart after an admission.

    Gradio adds an admitted run to its queue only after the validator returns, so requests
    that arrive together would all read the same queue and a burst would pass every bound
    (Gradio's own queue size too). Each decision waits, under a lock, until the last
    admitted run has had `spacing_s` to reach the queue: a burst is admitted at 20 a second
    and counted exactly; a visitor pressing Run never waits.
    """

    def __init__(self, spacing_s: float = ADMISSION_SPACING_S, clock: Callable[[], float] = time.monotonic):
        self.spacing_s = spacing_s
        self.clock = clock
        self._last = -float("inf")
        self._lock = asyncio.Lock()

    async def refuse(self, queue, session: str | None, host: str | None) -> str | None:
        """Why a run of `session` from `host` may not join `queue` now; None: it may."""
        async with self._lock:
            wait = self._last + self.spacing_s - self.clock()
            if wait > 0:
                await asyncio.sleep(wait)
            pending = pending_runs(queue, session, host)
            if pending is None:
                return None
            why = refusal(pending, getattr(queue, "max_size", None))
            if why is None:
                self._last = self.clock()
            return why
