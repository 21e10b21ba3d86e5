import threading

import pytest
import torch

from diffusion_core.demo.threads import CoreShare, available_cores, shared_counter


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_a_lone_run_gets_every_core_and_concurrent_runs_split_them():
    share = CoreShare(cores=4)
    with share.run() as first:
        assert first == 4 and torch.get_num_threads() == 4
        with share.run() as second:
            assert second == 2 and torch.get_num_threads() == 2
            with share.run() as third:
                assert third == 1 and torch.get_num_threads() == 1  # 4 // 3, never 0
            assert share.sync() == 2 and torch.get_num_threads() == 2
        assert share.sync() == 4 and torch.get_num_threads() == 4
    assert share.runs == 0 and share.threads_per_run() == 4


def test_a_run_that_raises_still_gives_its_cores_back():
    share = CoreShare(cores=2)
    with share.run():
        with pytest.raises(RuntimeError), share.run():
            assert torch.get_num_threads() == 1
            raise RuntimeError("sampling failed")
        assert share.runs == 1 and share.sync() == 2


def test_a_run_in_progress_on_another_thread_takes_half_at_its_next_sync():
    share = CoreShare(cores=2)
    started, second_in, seen = threading.Event(), threading.Event(), {}

    def first_run():
        with share.run():
            seen["alone"] = torch.get_num_threads()
            started.set()
            second_in.wait(10)
            share.sync()
            seen["shared"] = torch.get_num_threads()
            torch.ones(64, 64) @ torch.ones(64, 64)  # a parallel op under the new setting

    worker = threading.Thread(target=first_run)
    worker.start()
    assert started.wait(10)
    with share.run():
        assert torch.get_num_threads() == 1
        second_in.set()
        worker.join(10)
    assert seen == {"alone": 2, "shared": 1}


def test_available_cores_is_positive():
    assert available_cores() >= 1
    assert CoreShare(cores=0).cores == 1


def test_a_run_s_cap_holds_its_threads_below_its_share_and_ends_with_it():
    share = CoreShare(cores=2)
    with share.run(max_threads=1) as threads:
        assert threads == 1 and share.sync() == 1 and torch.get_num_threads() == 1
    with share.run() as threads:  # the next run on this thread has no cap of its own
        assert threads == 2


def test_best_threads_picks_the_count_whose_steps_run_faster_in_a_thread_of_their_own():
    import time

    from diffusion_core.demo.cost import best_threads

    class Paced:
        """Steps that take 1 ms on one thread and 5 ms on more (as a tiny network does), or the reverse."""

        def __init__(self, fast_on_one: bool):
            self.fast_on_one = fast_on_one

        def trajectory(self, n, **options):
            for _ in range(options["steps"]):
                one = torch.get_num_threads() == 1
                time.sleep(0.001 if one == self.fast_on_one else 0.005)
                yield None

    assert best_threads(Paced(fast_on_one=True), 100, 2) == 1
    assert best_threads(Paced(fast_on_one=False), 100, 2) == 2
    assert best_threads(Paced(fast_on_one=False), 100, 1) == 1  # one core: nothing to choose

    class Broken:
        def trajectory(self, n, **options):
            raise RuntimeError("broken")
            yield

    assert best_threads(Broken(), 100, 2) == 2  # no cap: its run says what is wrong


def test_a_process_whose_run_just_ended_counts_as_busy_for_linger_s():
    from diffusion_core.demo.threads import LINGER_S, RunCounter

    now = [100.0]
    counter = RunCounter(3)
    server, worker = (CoreShare(cores=2, counter=counter, slot=slot, clock=lambda: now[0]) for slot in (0, 1))
    with server.run():
        with worker.run():
            assert server.sync() == 1 and server.runs == 2
        # The worker's run has ended; in a full queue its next one follows within milliseconds.
        now[0] += LINGER_S / 5
        assert server.runs == 1 and server.busy() == 2 and server.sync() == 1
        with worker.run() as threads:  # ... and starts on its own core, not on half of the server's
            assert threads == 1
        now[0] += LINGER_S * 1.5  # nothing followed: the run in progress takes both cores again
        assert server.busy() == 1 and server.sync() == 2
    now[0] += LINGER_S * 1.5
    with worker.run() as threads:  # a lone run later on gets every core from its first step
        assert threads == 2
    counter.clear(1)
    assert server.runs == 0 and server.busy() == 0


def test_worker_slots_are_claimed_once_each_so_two_pools_on_one_counter_never_share_one():
    counter = shared_counter(4)
    counter.add(2, 1, 0.0)  # a stale count from an earlier process in slot 2
    first = [counter.claim(), counter.claim()]
    second = [counter.claim(), counter.claim()]
    assert first == [1, 2] and second == [3, None]  # slot 0 is the server's; none is handed out twice
    assert counter.runs[2] == 0  # a claimed slot starts with no runs
    counter.add(3, 1, 0.0)
    counter.release(3)
    assert counter.runs[3] == 0 and counter.claim() == 3  # released: cleared, and free again
