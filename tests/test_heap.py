"""dgl.train.heap: freed memory is reused, not unmapped and faulted in again every step."""

import subprocess
import sys

import pytest

from dgl.train.heap import reuse_freed_memory

#: Allocates, fills and frees a 64 MiB tensor (above glibc's largest mmap threshold, 32 MiB)
#: 16 times and prints the median minor page faults of the last 8 (after the heap has grown).
_CHURN = """
import resource, sys, torch
from dgl.train.heap import reuse_freed_memory
torch.set_num_threads(1)
if sys.argv[1] == "reuse":
    assert reuse_freed_memory()
faults = []
for _ in range(16):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(2**24).sum()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(sorted(faults[8:])[4])
"""


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", _CHURN, mode], capture_output=True, text=True,
                         check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_freed_memory_is_reused_not_faulted_in_again():
    if not reuse_freed_memory():
        pytest.skip("the C library is not glibc")
    plain, reused = _faults("plain"), _faults("reuse")
    # by default every allocation is mapped afresh and faulted in: 16 384 pages of 4 KiB (32
    # where transparent huge pages back every mapping); reused, it faults in nothing new
    assert plain >= 32
    assert reused * 4 < plain


_KEEP = """
import torch
from dgl.perf.bench import _rss_kib
from dgl.train.heap import give_back_freed_memory, reuse_freed_memory
assert reuse_freed_memory()
x = torch.ones(2**26)  # 256 MiB, then freed: kept in the heap
del x
kept = _rss_kib("VmRSS") // 1024
give_back_freed_memory()
print(kept, _rss_kib("VmRSS") // 1024)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_kept_memory_is_given_back_on_request():
    if not reuse_freed_memory():
        pytest.skip("the C library is not glibc")
    out = subprocess.run([sys.executable, "-c", _KEEP], capture_output=True, text=True,
                         check=True)
    kept, after = (int(v) for v in out.stdout.split())
    assert kept - after >= 200  # the freed 256 MiB stayed resident until given back
