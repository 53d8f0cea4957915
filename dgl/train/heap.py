"""Freed memory reused by the next step, not unmapped and faulted in again (glibc).

glibc's malloc serves an allocation above its mmap threshold (adjusted as blocks are freed,
at most 32 MiB on 64-bit) with a fresh ``mmap`` and gives it back with ``munmap`` when it is
freed. A training step whose temporaries exceed that size therefore maps, faults in (page by
page) and unmaps them again at every step: a Huang-sized stack of 256 models (activations
[E, 256, 256] per modality, 67 MB each) ran at 34 GFLOP/s on the 2-core machine, less than
half the rate of 8 or 64 models (whose temporaries stay under the threshold and are reused
from the heap). :func:`reuse_freed_memory` asks glibc to serve every allocation from its heap
(``M_MMAP_MAX`` = 0; glibc still maps memory when the heap cannot grow) and to keep freed heap
memory (``M_TRIM_THRESHOLD`` at its maximum), so a step reuses the memory the last step freed:
the same stack then ran at 79 GFLOP/s (results/bench.md). A stack whose temporaries are below
the threshold is unchanged (Huang rho = 0 ReLU training: 26.9 / 28.1 s without, 26.8 / 27.3 s
with; resident peak 468 / 475 MB). The evaluation and ground-truth jobs, whose arrays of fresh
rows and features often exceed the threshold, set it too (workflow/scripts): theory
classification rho = 0 evaluation 20.2 / 21.0 -> 16.8 / 17.0 s (minor page faults 1.6 M ->
0.1 M), Huang rho = 0 ReLU 10.7 / 11.4 -> 9.0 / 9.4 s, main lazy f = 0.001 24.4 / 25.6 ->
23.8 / 23.2 s, the ground truth of four modalities 43.0 -> 38.1 s. The heap keeps freed
blocks that the next allocations do not fit exactly, so a process may peak higher: the Huang
ReLU evaluation at 1 280 MB against 1 090 MB (theory classification 928 / 1 320 against
979 / 1 000 MB; the others unchanged or lower).
"""

from __future__ import annotations

import ctypes
import functools
import logging

log = logging.getLogger(__name__)

#: mallopt parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4


@functools.cache
def reuse_freed_memory() -> bool:
    """Set glibc's malloc to keep and reuse freed memory (see the module docstring), once per
    process; False where the C library is not glibc (nothing is changed there)."""
    mallopt = _libc("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, 2**31 - 1) == 1
    if not done:
        log.warning("mallopt refused the settings: freed memory may be unmapped every step")
    return done


def give_back_freed_memory() -> None:
    """Return the heap's free memory to the system (glibc's ``malloc_trim(0)``; nothing
    elsewhere): a measurement of what a computation adds to the resident size must not find
    the memory an earlier one freed and kept (:func:`reuse_freed_memory`)."""
    trim = _libc("malloc_trim")
    if trim is None:
        return
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    trim(0)


def _libc(name: str):
    """The function ``name`` of the C library the process runs on, or None where it has none
    (a C library other than glibc)."""
    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError, TypeError):
        return None
