"""Throughput of the batched engine against the one-model-at-a-time loop research code uses.

Both paths run the same training step (late-fusion MLP, MSE, Adam) on minibatches already in
memory, for the same number of steps:

- naive: for each of E runs, an ``nn.Module`` (one ``nn.Linear`` per encoder, a linear head),
  its own Adam, ``steps`` steps;
- batched: one :class:`dgl.models.StackedLateFusion` of E models, ``steps`` steps.

Peak memory of a measurement: on CUDA, ``torch.cuda.max_memory_allocated`` (reset before it);
on a Linux CPU, the process's resident high-water mark (VmHWM, reset through
/proc/self/clear_refs) minus its resident size just before, i.e. what the measurement added.

Model-steps per second = E * steps / seconds. FLOPs per model-step count the matmuls only:
encoder k forward 2 B d_k h and weight gradient 2 B d_k h (inputs need no gradient); head
forward 2 B (K h) o, weight gradient and input gradient 2 B (K h) o each. The machine's dense
matmul peak is measured in the same process with the same dtype and threads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from dgl.models import StackedLateFusion


@dataclass(frozen=True)
class BenchSize:
    name: str
    n_modalities: int
    dim: int
    width: int
    batch: int


def flops_per_model_step(size: BenchSize, out_dim: int = 1) -> float:
    k, d, h, b = size.n_modalities, size.dim, size.width, size.batch
    return k * 4 * b * d * h + 6 * b * k * h * out_dim


class _Single(nn.Module):
    def __init__(self, size: BenchSize, encoder: str) -> None:
        super().__init__()
        self.dims = [size.dim] * size.n_modalities
        self.enc = nn.ModuleList(nn.Linear(size.dim, size.width) for _ in self.dims)
        self.head = nn.Linear(size.width * size.n_modalities, 1)
        self.relu = encoder == "relu"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [e(p) for e, p in zip(self.enc, torch.split(x, self.dims, dim=-1))]
        if self.relu:
            parts = [torch.relu(p) for p in parts]
        return self.head(torch.cat(parts, dim=-1))


def _batches(size: BenchSize, n_models: int, steps: int, gen: torch.Generator):
    x = torch.randn(steps % 8 + 8, n_models, size.batch, size.n_modalities * size.dim, generator=gen)
    y = torch.randn(x.shape[0], n_models, size.batch, 1, generator=gen)
    return x, y


def time_naive(size: BenchSize, n_models: int, steps: int, encoder: str = "relu",
               device: str = "cpu") -> float:
    """Seconds for E sequential runs of ``steps`` Adam steps each."""
    gen = torch.Generator().manual_seed(0)
    x, y = _batches(size, 1, steps, gen)
    x, y = x.to(device), y.to(device)
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for run in range(n_models):
        torch.manual_seed(run)
        model = _Single(size, encoder).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for s in range(steps):
            xb, yb = x[s % x.shape[0], 0], y[s % y.shape[0], 0]
            loss = ((model(xb) - yb) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def time_batched(size: BenchSize, n_models: int, steps: int, encoder: str = "relu",
                 device: str = "cpu") -> float:
    """Seconds for ``steps`` Adam steps of one stack of E models."""
    gen = torch.Generator().manual_seed(0)
    x, y = _batches(size, n_models, steps, gen)
    x, y = x.to(device), y.to(device)
    masks = torch.ones(n_models, size.n_modalities, dtype=torch.bool)
    model = StackedLateFusion([size.dim] * size.n_modalities, size.width, encoder, 1, masks,
                              list(range(n_models))).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(s: int) -> None:
        loss = ((model(x[s % x.shape[0]]) - y[s % y.shape[0]]) ** 2).mean(dim=(1, 2)).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step(0)  # warm-up (allocations, kernel selection)
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for s in range(steps):
        step(s)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def matmul_peak(device: str = "cpu", n: int = 2048, repeats: int = 10) -> float:
    """Dense float32 matmul throughput (FLOP/s) of an n x n by n x n product."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def _rss_kib(field: str) -> int | None:
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


class PeakMemory:
    """Peak memory (MiB) a block of code adds: ``with PeakMemory(device) as m: ...; m.mib``
    (None where the platform cannot tell)."""

    def __init__(self, device: str = "cpu") -> None:
        self.device, self.mib = device, None

    def __enter__(self) -> "PeakMemory":
        if self.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._base = torch.cuda.memory_allocated()
        else:
            try:
                Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
                self._base = _rss_kib("VmRSS")
            except OSError:
                self._base = None
        return self

    def __exit__(self, *exc) -> None:
        if self.device == "cuda":
            torch.cuda.synchronize()
            self.mib = (torch.cuda.max_memory_allocated() - self._base) / 2**20
        elif self._base is not None:
            peak = _rss_kib("VmHWM")
            self.mib = (peak - self._base) / 1024 if peak is not None else None


def run_benchmark(sizes: list[BenchSize], model_counts: list[int], steps: dict[str, int],
                  naive_runs: int, device: str = "cpu", log=print) -> tuple[list[dict], float]:
    """Rows of model-steps/s and FLOP/s for the naive loop and the batched engine at every E,
    and the measured matmul peak (FLOP/s)."""
    peak = matmul_peak(device)
    log(f"matmul peak {peak / 1e9:.1f} GFLOP/s")
    rows = []
    for size in sizes:
        n = steps[size.name]
        flops = flops_per_model_step(size)
        with PeakMemory(device) as mem:
            t = time_naive(size, naive_runs, n, device=device)
        naive = naive_runs * n / t
        rows.append({"size": size.name, "engine": "naive loop", "models": naive_runs,
                     "model_steps_per_s": naive, "gflops": naive * flops / 1e9,
                     "fraction_of_peak": naive * flops / peak, "speedup_vs_naive": 1.0,
                     "peak_mem_mib": mem.mib})
        log(f"{size.name}: naive {naive:.1f} model-steps/s")
        for e in model_counts:
            with PeakMemory(device) as mem:
                t = time_batched(size, e, n, device=device)
            rate = e * n / t
            rows.append({"size": size.name, "engine": "batched", "models": e,
                         "model_steps_per_s": rate, "gflops": rate * flops / 1e9,
                         "fraction_of_peak": rate * flops / peak,
                         "speedup_vs_naive": rate / naive, "peak_mem_mib": mem.mib})
            log(f"{size.name}: batched E={e} {rate:.1f} model-steps/s ({rate / naive:.1f}x)")
    return rows, peak
