"""Share the CPU's cores between the runs in progress.

A fixed split of torch's threads (one per run on two cores) leaves a core idle
whenever a visitor runs alone, which is most of the time; letting every run use every
core oversubscribes the CPU when two run at once, and OpenMP's spinning threads then
slow both. `CoreShare` counts the runs in progress; each run calls `sync()` between
its steps, which sets its own thread's torch thread count to cores // runs. So a lone
run gets every core, and a run already going drops to half at its next step when a
second one starts (OpenMP keeps the count per thread, so each run sets its own). A process
whose last run ended less than LINGER_S ago still counts as busy: in a full queue its next
run follows within milliseconds, and a second thread for the other run in those moments
(and for a run starting in them) costs more than it gains, its share of each step spent
spinning for a core the next run wants. A run may also cap its threads
(`run(max_threads=...)`): outside a process's main thread, as every Gradio handler runs, a
small network goes faster on one thread than on two
(`cost.best_threads` measures which, per model).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch


MAX_PROCESSES = 17  # the server and up to 16 sampling workers, one counter slot each
LINGER_S = 0.05  # a process whose last run ended this recently counts as busy still


class RunCounter:
    """Runs in progress, one slot per process, and when each slot's last run ended: in shared memory
    without a lock (each process writes only its own slot), so a spawned worker can take it."""

    def __init__(self, processes: int = MAX_PROCESSES):
        context = multiprocessing.get_context("spawn")
        self.runs = context.Array("i", processes, lock=False)
        self.ended = context.Array("d", processes, lock=False)  # time.monotonic(): the same clock in every process
        self._claimed = {0}  # slot 0 is the server's; the others go to worker pools (`claim`), in the server

    def claim(self) -> int | None:
        """A free worker slot, now this caller's (None when all are taken). Two pools on one counter
        then never share a slot: each slot has one writer, and clearing a dead worker's slot clears
        no other worker's count."""
        free = next((slot for slot in range(len(self.runs)) if slot not in self._claimed), None)
        if free is not None:
            self._claimed.add(free)
            self.clear(free)  # a fresh process in it: no runs yet
        return free

    def release(self, slot: int) -> None:
        """Give back a slot whose process has ended (its count cleared)."""
        self.clear(slot)
        self._claimed.discard(slot)

    def __len__(self) -> int:
        return len(self.runs)

    def add(self, slot: int, change: int, now: float) -> None:
        self.runs[slot] += change
        if self.runs[slot] <= 0:
            self.ended[slot] = now

    def clear(self, slot: int) -> None:
        """A slot whose process is gone: no runs, none lingering."""
        self.runs[slot], self.ended[slot] = 0, 0.0

    def busy(self, now: float, linger_s: float = LINGER_S) -> int:
        """Runs in progress, plus one for each idle process whose last run ended within `linger_s`."""
        runs = list(self.runs)
        lingering = sum(1 for slot, count in enumerate(runs) if count <= 0 and 0 < now - self.ended[slot] < linger_s)
        return sum(runs) + lingering


def shared_counter(processes: int = MAX_PROCESSES) -> RunCounter:
    """A run counter for the server and its workers (see `CoreShare`)."""
    return RunCounter(processes)


def available_cores() -> int:
    """The cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class CoreShare:
    """`with share.run(): ...` around each run, `share.sync()` between its steps; see the module docstring."""

    def __init__(self, cores: int | None = None, counter: RunCounter | None = None, slot: int = 0,
                 clock: Callable[[], float] = time.monotonic):
        self.cores = max(1, cores if cores is not None else available_cores())
        # The runs in progress: with `counter` (shared, lock-free: `shared_counter`), each process
        # counts its own runs in its own `slot` and all of them read the sum, so runs in the server and
        # in the sampling workers count alike, and a worker killed mid-count holds no lock anyone waits
        # on; without one, a plain count for a share of one process.
        self.counter, self.slot, self.clock = counter, slot, clock
        self._runs = 0
        self._lock = threading.Lock()
        self._cap = threading.local()  # per run (its thread): the most threads its model uses well

    @property
    def runs(self) -> int:
        """Runs in progress now."""
        return sum(self.counter.runs) if self.counter is not None else self._runs

    def busy(self) -> int:
        """Runs in progress, plus a process whose last run ended within LINGER_S (`RunCounter.busy`)."""
        return self.counter.busy(self.clock()) if self.counter is not None else self._runs

    def _add(self, change: int) -> None:
        with self._lock:
            if self.counter is not None:
                self.counter.add(self.slot, change, self.clock())  # only this process writes its slot
            else:
                self._runs += change

    def threads_per_run(self, runs: int | None = None) -> int:
        runs = self.busy() if runs is None else runs
        return max(1, self.cores // max(1, runs))

    def sync(self) -> int:
        """Give the calling thread its share of the cores now (at most its run's cap); call it between
        steps. Returns the count."""
        threads = min(self.threads_per_run(), getattr(self._cap, "threads", None) or self.cores)
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        return threads

    @contextmanager
    def run(self, max_threads: int | None = None) -> Iterator[int]:
        """Count one more run while the block executes; yields the threads this thread starts with.
        `max_threads`: the most this run's model uses well (a small network runs faster on one)."""
        self._add(1)
        self._cap.threads = max_threads
        try:
            yield self.sync()
        finally:
            self._cap.threads = None
            self._add(-1)


# The server's one share: the app's runs, comparisons and sweeps all count in it, and so do the sampling
# workers' runs, through its counter (a spawned worker gets it when it starts).
SHARE = CoreShare(counter=shared_counter())
