"""Share the CPU's cores between the runs in progress.

A fixed split of torch's threads (one per run on two cores) leaves a core idle
whenever a visitor runs alone, which is most of the time; letting every run use every
core oversubscribes the CPU when two run at once, and OpenMP's spinning threads then
slow both. `CoreShare` counts the runs in progress; each run calls `sync()` between
its steps, which sets its own thread's torch thread count to cores // runs. So a lone
run gets every core, and a run already going drops to half at its next step when a
second one starts (OpenMP keeps the count per thread, so each run sets its own). A run may
also cap its threads (`run(max_threads=...)`): outside a process's main thread, as every
Gradio handler runs, a small network goes faster on one thread than on two
(`cost.best_threads` measures which, per model).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch


MAX_PROCESSES = 17  # the server and up to 16 sampling workers, one counter slot each


def shared_counter(processes: int = MAX_PROCESSES):
    """A run counter of one slot per process, in shared memory without a lock (see `CoreShare`)."""
    return multiprocessing.get_context("spawn").Array("i", processes, lock=False)


def available_cores() -> int:
    """The cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class CoreShare:
    """`with share.run(): ...` around each run, `share.sync()` between its steps; see the module docstring."""

    def __init__(self, cores: int | None = None, counter=None, slot: int = 0):
        self.cores = max(1, cores if cores is not None else available_cores())
        # The runs in progress: with `counter` (a lock-free shared array, `shared_counter`), each process
        # counts its own runs in its own `slot` and all of them read the sum, so runs in the server and
        # in the sampling workers count alike, and a worker killed mid-count holds no lock anyone waits
        # on; without one, a plain count for a share of one process.
        self.counter, self.slot = counter, slot
        self._runs = 0
        self._lock = threading.Lock()
        self._cap = threading.local()  # per run (its thread): the most threads its model uses well

    @property
    def runs(self) -> int:
        return sum(self.counter) if self.counter is not None else self._runs

    def _add(self, change: int) -> None:
        with self._lock:
            if self.counter is not None:
                self.counter[self.slot] += change  # only this process writes its slot
            else:
                self._runs += change

    def threads_per_run(self, runs: int | None = None) -> int:
        runs = self.runs if runs is None else runs
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
