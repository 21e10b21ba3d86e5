import pytest
import torch


@pytest.fixture
def single_thread():
    """Run a test on one torch thread: tiny models spend more time synchronising threads than computing."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
