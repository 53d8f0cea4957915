"""Deterministic seeds derived from the config's integer seeds and a purpose tag."""

from __future__ import annotations

import zlib

import numpy as np


def derive_seed(*keys: int | str) -> int:
    """A 63-bit seed determined by ``keys`` (ints, or strings hashed with CRC32).

    Different purposes (data, initialisation, minibatch order) of the same config seed get
    independent streams through numpy's SeedSequence.
    """
    ints = [k if isinstance(k, int) else zlib.crc32(k.encode()) for k in keys]
    if any(i < 0 for i in ints):
        raise ValueError(f"seed keys must be non-negative, got {keys}")
    return int(np.random.SeedSequence(ints).generate_state(2, np.uint32).astype(np.uint64) @
               np.array([1 << 31, 1], dtype=np.uint64)) & ((1 << 63) - 1)
