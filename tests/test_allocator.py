"""demo/allocator.py: freed blocks stay in the process, so a repeated step is not page-faulted in anew."""

import platform
import subprocess
import sys

import pytest

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# Three 6 MB blocks allocated, written and freed together, 30 times, as a sampler's step does with its
# activations; prints the minor page faults of the 30 repeats.
STEPS = """
import resource, sys
import numpy as np
if sys.argv[1] == "keep":
    from diffusion_core.demo.allocator import keep_freed_memory
    assert keep_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    blocks = [np.ones(750_000) for _ in range(3)]
    del blocks
start = faults()
for _ in range(30):
    blocks = [np.ones(750_000) for _ in range(3)]
    del blocks
print(faults() - start)
"""


def page_faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", STEPS, mode], capture_output=True, text=True, timeout=120, check=True)
    return int(done.stdout.strip())


@pytest.mark.skipif(not GLIBC, reason="the thresholds are glibc's")
def test_a_fresh_process_keeps_the_blocks_a_step_frees_instead_of_faulting_them_in_again():
    default, kept = page_faults("default"), page_faults("keep")
    assert default > 30 * 500  # glibc's defaults: a repeat maps much of its 18 MB (4608 pages) anew
    assert kept < default / 20


def test_it_says_whether_it_could_set_the_thresholds():
    # In a process of its own: the thresholds are process-wide, and the tests after this one keep glibc's.
    code = "from diffusion_core.demo.allocator import keep_freed_memory; print(keep_freed_memory())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == str(GLIBC)
