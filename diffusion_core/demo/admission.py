"""Who may queue another run: a few runs at a time per visitor, so no one fills the queue.

Gradio's queue holds QUEUE_SIZE requests for everyone; without a bound per client, one
visitor (or a script that invents a new session for every request) takes every place
and the next visitor waits behind all of them. Before a run enters the queue, its
event's validator counts the runs already queued or running for the same session
(at most MAX_PENDING_PER_SESSION) and for the same address (at most
MAX_PENDING_PER_HOST: a classroom behind one router shares an address, a script
inventing sessions does too). The address is the last entry of X-Forwarded-For where a
proxy set one (a Space's proxy appends the address it saw, which the client cannot
choose), else the connection's own.

Gradio has no public view of its queue; `pending_runs` reads its event lists and says
so (returns None) when a Gradio release moves them, and a test fails on that release.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

MAX_PENDING_PER_SESSION = 2
MAX_PENDING_PER_HOST = 8
RUN_EVENTS = ("sample", "tables")  # the concurrency groups whose events are runs


def client_host(request) -> str | None:
    """The address behind a request (a gr.Request or the web server's own), None if it has none."""
    headers = getattr(request, "headers", None) or {}
    forwarded = headers.get("x-forwarded-for", "") if hasattr(headers, "get") else ""
    if forwarded.strip():
        return forwarded.split(",")[-1].strip()
    return getattr(getattr(request, "client", None), "host", None)


def session_of(event) -> str | None:
    return getattr(event, "session_hash", None)


def _queued_events(queue) -> Iterator:
    for event_queue in queue.event_queue_per_concurrency_id.values():
        yield from event_queue.queue
    for job in queue.active_jobs:
        yield from job or ()


def pending_runs(queue, session: str | None, host: str | None, groups: Iterable[str] = RUN_EVENTS
                 ) -> tuple[int, int] | None:
    """(runs of `session`, runs from `host`) queued or running in Gradio's `queue`; None if it cannot tell."""
    groups = set(groups)
    try:
        runs = [event for event in _queued_events(queue) if event.fn.concurrency_id in groups]
        same_session = sum(1 for event in runs if session is not None and session_of(event) == session)
        same_host = sum(1 for event in runs if host is not None and client_host(event.request) == host)
    except AttributeError:
        return None
    return same_session, same_host


def refusal(pending: tuple[int, int] | None) -> str | None:
    """Why another run may not queue, given `pending_runs`; None when it may (or the queue cannot be read)."""
    if pending is None:
        return None
    session, host = pending
    if session >= MAX_PENDING_PER_SESSION:
        return (f"you already have {session} runs queued or running, the most one visitor may have at once; "
                "wait for one to finish (or press Stop) and run again")
    if host >= MAX_PENDING_PER_HOST:
        return (f"{host} runs from your network are queued or running, the most one address may have at once; "
                "try again in a moment")
    return None
