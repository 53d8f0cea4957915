"""Where a GPU training step's time goes: the kernels of one step of the benchmark's model.

``python -m dgl.perf.kernels``: for each benchmark size and stack size, the kernels one
eager step launches (torch.profiler; the step captured in a CUDA graph replays the same
kernels), their summed device time per step, and the wall time of the captured step. A
captured step whose wall time is its kernel time is bound by its kernels' work, not by
launches; the table of kernels by name then says which work.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.profiler import ProfilerActivity, profile

from dgl.perf.bench import BenchSize, _batches, _captured, _seconds, stack_update


@dataclass(frozen=True)
class StepKernels:
    """Per step: kernels launched, their device time and the captured step's wall time
    (microseconds), and the device time and count of each kernel name, largest first."""

    kernels: float
    kernel_us: float
    captured_us: float
    by_name: tuple[tuple[str, float, float], ...]


def step_kernels(size: BenchSize, n_models: int, steps: int = 50) -> StepKernels:
    """The kernels of the benchmark's training step (MSE, fused Adam) of ``n_models`` models
    at ``size`` on CUDA, profiled over ``steps`` eager steps after five warm-up steps, and
    the same step captured in a graph, timed over 10 ``steps`` replays."""
    x, y = _batches(size, n_models, 8, torch.Generator().manual_seed(0))
    x_b, y_b = x[0].cuda(), y[0].cuda()
    step = stack_update(size, n_models, device="cuda")

    def update() -> None:
        step(x_b, y_b)

    for _ in range(5):
        update()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            update()
        torch.cuda.synchronize()
    kernels = [ev for ev in prof.events() if ev.device_type == torch.autograd.DeviceType.CUDA]
    by_name: dict[str, list[float]] = {}
    for ev in kernels:
        entry = by_name.setdefault(ev.name, [0.0, 0.0])
        entry[0] += ev.device_time / steps
        entry[1] += 1 / steps
    return StepKernels(len(kernels) / steps, sum(t for t, _ in by_name.values()),
                       _captured_us(update, 10 * steps),
                       tuple(sorted(((n, t, c) for n, (t, c) in by_name.items()),
                                    key=lambda row: -row[1])))


def _captured_us(update, replays: int) -> float:
    """Microseconds per replay of ``update`` captured in a CUDA graph (after 10 replays)."""
    replay = _captured(update)
    for _ in range(10):
        replay()

    def replay_all() -> None:
        for _ in range(replays):
            replay()

    return _seconds(replay_all, "cuda") / replays * 1e6


def main() -> None:
    cases = [(BenchSize("huang", 4, 100, 256, 256), 64), (BenchSize("small", 2, 64, 64, 128), 64),
             (BenchSize("small", 2, 64, 64, 128), 256)]
    for size, n_models in cases:
        result = step_kernels(size, n_models)
        print(f"{size.name}, E = {n_models}: {result.kernels:.0f} kernels a step, kernel time "
              f"{result.kernel_us:.1f} us, captured step {result.captured_us:.1f} us")
        for name, us, count in result.by_name[:12]:
            print(f"  {us:7.1f} us {count:5.1f}x  {name[:100]}")


if __name__ == "__main__":
    main()
