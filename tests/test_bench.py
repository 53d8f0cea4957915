import torch

from dgl.perf.bench import BenchSize, flops_per_model_step, run_benchmark


def test_flop_count_by_hand():
    size = BenchSize("t", n_modalities=2, dim=3, width=4, batch=5)
    # encoders: 2 x (fwd 2*5*3*4 + weight grad 2*5*3*4); head (K h = 8 -> 1): 3 x 2*5*8
    assert flops_per_model_step(size) == 2 * 240 + 240


def test_benchmark_rows():
    size = BenchSize("tiny", n_modalities=2, dim=3, width=4, batch=8)
    rows, peak = run_benchmark([size], [1, 4], {"tiny": 3}, naive_runs=2, log=lambda *_: None)
    assert peak > 0
    assert [r["engine"] for r in rows] == ["naive loop", "batched", "batched"]
    assert all(r["model_steps_per_s"] > 0 and r["fraction_of_peak"] > 0 for r in rows)


def test_peak_memory_sees_a_large_allocation():
    import mmap
    import sys

    import pytest

    from dgl.perf.bench import PeakMemory

    if not sys.platform.startswith("linux"):
        pytest.skip("peak resident memory is read from /proc (Linux)")

    with PeakMemory("cpu") as mem:  # 64 MiB of fresh pages (a freed torch block may be reused
        block = mmap.mmap(-1, 64 * 2**20)  # without raising the resident set), every page touched
        for page in range(0, len(block), mmap.PAGESIZE):
            block[page] = 1
        block.close()
    assert mem.mib is not None and mem.mib >= 60
    assert all(r["peak_mem_mib"] is not None for r in run_benchmark(
        [BenchSize("tiny", 2, 3, 4, 8)], [2], {"tiny": 2}, naive_runs=1, log=lambda *_: None)[0])


def test_shape_limited_products_are_the_counted_flops():
    """The products the shape-limited rate times are exactly the matmuls the FLOP count
    counts: torch's own FLOP counter over them, at every chunk size, gives E x the count."""
    from torch.utils.flop_counter import FlopCounterMode

    from dgl.perf.bench import _run_products, _step_products, shape_limited_rate

    size = BenchSize("t", n_modalities=3, dim=5, width=7, batch=6)
    enc, head = _step_products(size, 8, "cpu", torch.Generator().manual_seed(0))
    for chunk in (1, 3, 8):
        with FlopCounterMode(display=False) as counter:
            _run_products(enc, head, chunk)
        assert counter.get_total_flops() == 8 * flops_per_model_step(size)
    rate, chunk = shape_limited_rate(size, 8, repeats=1)
    assert rate > 0 and chunk in (1, 4, 8)
