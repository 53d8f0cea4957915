"""CUDA graph capture of a training step, shared by the trainer and the benchmark.

A CUDA graph records the kernels one call of a function launches and replays them with one
launch. Capture needs the function's allocations and lazy initialisation (cuBLAS workspaces,
the optimiser's state) done beforehand, on a side stream: :func:`on_side_stream` runs such
warm-up calls, :func:`capture` records one call. The replayed kernels read and write the same
memory as the recorded call, so a caller copies each step's inputs into the tensors the
function was captured with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch

T = TypeVar("T")


def on_side_stream(call: Callable[[], T]) -> T:
    """``call()`` run eagerly on a fresh side stream that waits for the current stream's
    work, which then waits for it (the warm-up calls graph capture requires)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        result = call()
    torch.cuda.current_stream().wait_stream(side)
    return result


def capture(call: Callable[[], T]) -> tuple[torch.cuda.CUDAGraph, T]:
    """One call of ``call()`` recorded in a CUDA graph (its kernels are recorded, not run);
    returns the graph and the call's result, whose tensors each ``graph.replay()`` rewrites
    in place. Raises RuntimeError when the call
    does something capture forbids (a host sync, a fresh cuBLAS handle)."""
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        result = call()
    return graph, result
