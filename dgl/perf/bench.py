"""Throughput of the batched engine against the one-model-at-a-time loop research code uses.

Both paths run the same training step (late-fusion MLP, MSE, Adam) on minibatches already in
memory, for the same number of steps:

- naive: for each of E runs, an ``nn.Module`` (one ``nn.Linear`` per encoder, a linear head),
  its own Adam, ``steps`` steps;
- batched: one :class:`dgl.train.models.StackedLateFusion` of E models, ``steps`` steps of
  the trainer's optimiser (:class:`dgl.train.optimizers.FusedAdam`, the same update).

Peak memory of a measurement: on CUDA, ``torch.cuda.max_memory_allocated`` (reset before it);
on a Linux CPU, the process's resident high-water mark (VmHWM, reset through
/proc/self/clear_refs) minus its resident size just before, i.e. what the measurement added.

Model-steps per second = E * steps / seconds. FLOPs per model-step count the matmuls only:
encoder k forward 2 B d_k h and weight gradient 2 B d_k h (inputs need no gradient); head
forward 2 B (K h) o, weight gradient and input gradient 2 B (K h) o each. The machine's dense
matmul peak is measured in the same process with the same dtype and threads.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from dgl.train.cuda_graph import capture, on_side_stream
from dgl.train.heap import give_back_freed_memory, reuse_freed_memory
from dgl.train.models import ModelConfig, StackedLateFusion
from dgl.train.optimizers import FusedAdam


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

    def runs() -> None:
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

    return _seconds(runs, device)


def stack_update(size: BenchSize, n_models: int, encoder: str = "relu", device: str = "cpu"
                 ) -> Callable[[torch.Tensor, torch.Tensor], None]:
    """The benchmark's training step of one stack of E models at ``size``: a function that
    takes a minibatch (x [E, B, K d], y [E, B, 1]) and makes one step of the trainer's
    optimiser (fused Adam) on its summed per-model MSE."""
    masks = torch.ones(n_models, size.n_modalities, dtype=torch.bool)
    config = ModelConfig((size.dim,) * size.n_modalities, size.width, encoder, 1)
    model = StackedLateFusion(config, masks, list(range(n_models))).to(device)
    opt = FusedAdam(model.parameters(), lr=1e-3)  # the trainer's optimiser

    def update(x_b: torch.Tensor, y_b: torch.Tensor) -> None:
        opt.zero_grad()
        ((model(x_b) - y_b) ** 2).mean(dim=(1, 2)).sum().backward()
        opt.step()

    return update


def time_batched(size: BenchSize, n_models: int, steps: int, encoder: str = "relu",
                 device: str = "cpu", graph: bool = False, repeats: int = 1) -> float:
    """Seconds for ``steps`` Adam steps of one stack of E models (the least of ``repeats``
    timings of ``steps`` steps, as the shape-limited rate takes its best of its repeats: a
    machine that slows down in one of them does not count); ``graph`` (CUDA): each step
    copies its minibatch into static buffers and replays one captured graph of the forward
    pass, backward pass and fused Adam step, as the trainer's ``_GraphStep`` does. Freed
    memory is kept for the next step, as the trainer keeps it (:mod:`dgl.train.heap`)."""
    reuse_freed_memory()
    gen = torch.Generator().manual_seed(0)
    x, y = _batches(size, n_models, steps, gen)
    x, y = x.to(device), y.to(device)
    update = stack_update(size, n_models, encoder, device)
    static = (x[0].clone(), y[0].clone()) if graph else None  # the captured step's inputs
    replay = _captured(lambda: update(*static)) if static is not None else None

    def step(s: int) -> None:
        if static is None:
            update(x[s % x.shape[0]], y[s % y.shape[0]])
        else:
            static[0].copy_(x[s % x.shape[0]])
            static[1].copy_(y[s % y.shape[0]])
            replay()

    def run_steps() -> None:
        for s in range(steps):
            step(s)

    for s in range(3):  # warm-up: kernel selection, and the heap growing to the step's size
        step(s)
    return min(_seconds(run_steps, device) for _ in range(repeats))


def _seconds(work: Callable[[], None], device: str) -> float:
    """Seconds ``work()`` takes, the device synchronised before and after (every timing of
    this module)."""
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    work()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def _captured(update: Callable[[], None], warmup: int = 3) -> Callable[[], None]:
    """``update`` captured in a CUDA graph after ``warmup`` eager calls on a side stream (as
    capture requires); the returned function replays it."""
    for _ in range(warmup):
        on_side_stream(update)
    graph, _ = capture(update)
    return graph.replay


def matmul_peak(device: str = "cpu", n: int = 2048, repeats: int = 10) -> float:
    """Dense float32 matmul throughput (FLOP/s) of an n x n by n x n product."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    best = min(_seconds(lambda: a @ b, device) for _ in range(repeats))
    return 2 * n**3 / best


def _step_products(size: BenchSize, n_models: int, device: str, gen: torch.Generator):
    """Operands of the batched matmuls of one training step of E models at ``size`` (the ones
    :func:`flops_per_model_step` counts): per modality the encoder forward x_k W_k and weight
    gradient x_k^T g_k, then the head forward z V^T, weight gradient g^T z and input gradient
    g V (o = 1 output)."""
    e, b, d, h, k = n_models, size.batch, size.dim, size.width, size.n_modalities

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen).to(device)

    enc = [(rand(e, b, d), rand(e, d, h), rand(e, b, h)) for _ in range(k)]
    head = (rand(e, b, k * h), rand(e, 1, k * h), rand(e, b, 1))
    return enc, head


def _run_products(enc, head, chunk: int) -> None:
    """The step's products, batched over ``chunk`` models at a time."""
    n_models = head[0].shape[0]
    for start in range(0, n_models, chunk):
        part = slice(start, start + chunk)
        for x, w, g in enc:
            torch.bmm(x[part], w[part])
            torch.bmm(x[part].transpose(1, 2), g[part])
        z, v, g = head
        torch.bmm(z[part], v[part].transpose(1, 2))
        torch.bmm(g[part].transpose(1, 2), z[part])
        torch.bmm(g[part], v[part])


def shape_limited_rate(size: BenchSize, n_models: int, device: str = "cpu",
                       chunks: tuple[int, ...] = (1, 4, 8, 16, 32, 64), repeats: int = 5
                       ) -> tuple[float, int]:
    """The best rate (FLOP/s, counted as :func:`flops_per_model_step`) at which this machine
    runs the batched matmuls of one step of E models at ``size``, over chunk sizes (E models
    as E / c batched products of c models: smaller chunks keep the working set in cache), and
    the chunk size that reached it. This is the rate an engine doing nothing but those
    products would reach: the engine's fraction of it is what the rest of the step costs. On
    CUDA the products are captured in a CUDA graph, as the engine's step is, and each timing
    replays it ``CUDA_REPLAYS`` times: otherwise launches, not the products, set the rate of
    small shapes, and a captured engine would run faster than its own "limit"."""
    gen = torch.Generator().manual_seed(0)
    enc, head = _step_products(size, n_models, device, gen)
    calls = CUDA_REPLAYS if device == "cuda" else 1
    flops = flops_per_model_step(size) * n_models * calls
    best, best_chunk = 0.0, n_models
    for chunk in sorted({min(c, n_models) for c in chunks} | {n_models}):
        products = functools.partial(_run_products, enc, head, chunk)
        products = _captured(products) if device == "cuda" else products
        products()  # warm-up

        def timed(products=products) -> None:
            for _ in range(calls):
                products()

        rate = flops / min(_seconds(timed, device) for _ in range(repeats))
        if rate > best:
            best, best_chunk = rate, chunk
    return best, best_chunk


#: Graph replays per timing of the shape-limited products on CUDA (one replay of the small
#: size's products takes microseconds, near the cost of the timing's synchronisations).
CUDA_REPLAYS = 20


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
            give_back_freed_memory()  # what the measurement adds, not what an earlier one kept
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
            self.mib = max(0.0, (peak - self._base) / 1024) if peak is not None else None


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
            limit, chunk = shape_limited_rate(size, e, device)
            for engine, graph in ENGINES[:2 if device == "cuda" else 1]:
                with PeakMemory(device) as mem:
                    t = time_batched(size, e, n, device=device, graph=graph, repeats=3)
                rate = e * n / t
                rows.append({"size": size.name, "engine": engine, "models": e,
                             "model_steps_per_s": rate, "gflops": rate * flops / 1e9,
                             "fraction_of_peak": rate * flops / peak,
                             "shape_limited_gflops": limit / 1e9, "best_chunk": chunk,
                             "fraction_of_shape_limit": rate * flops / limit,
                             "speedup_vs_naive": rate / naive, "peak_mem_mib": mem.mib})
                log(f"{size.name}: {engine} E={e} {rate:.1f} model-steps/s "
                    f"({rate / naive:.1f}x), {rate * flops / limit:.0%} of its shape-limited rate")
    return rows, peak


#: The batched engine's timed variants: (row label, CUDA graph); the second on CUDA only.
ENGINES = (("batched", False), ("batched, CUDA graph", True))


def bench_markdown(rows: list[dict], peak: float, sizes: list[BenchSize], device: str,
                   extra: list[str] | None = None) -> str:
    """The benchmark table in Markdown, headed by the device, threads, versions and peak."""
    import os
    import platform

    import numpy as np

    name = (torch.cuda.get_device_name() if device == "cuda"
            else platform.processor() or platform.machine())
    lines = [
        "# Benchmark: batched engine vs one model at a time", "",
        f"Device: {device} ({name}); CPU cores: {os.cpu_count()}; torch threads: "
        f"{torch.get_num_threads()}; torch {torch.__version__}; numpy {np.__version__}; Python "
        f"{platform.python_version()}. Measured dense float32 matmul peak in the same process: "
        f"{peak / 1e9:.1f} GFLOP/s.", "",
        "Same training step (late-fusion ReLU MLP, MSE, Adam) on data already in memory. FLOPs "
        "per model-step count the matmuls (encoder forward and weight gradient, head forward, "
        "weight and input gradient): " + "; ".join(
            f"{s.name} (K={s.n_modalities}, d={s.dim}, h={s.width}, batch {s.batch}): "
            f"{flops_per_model_step(s) / 1e6:.1f} MFLOP" for s in sizes) + ".", "",
        "Peak memory: what the measurement added to the process (resident high-water mark on a "
        "CPU, allocator peak on a GPU), data and optimiser state included. The engine's rate is "
        "the best of three timings of its steps (as the shape-limited rate is the best of its "
        "repeats), after three warm-up steps; the freed memory of a step is kept for the next "
        "(`dgl.train.heap`, as in training).", "",
        "Shape-limited rate: the best rate, over chunk sizes c of E, at which the same "
        "process runs only the step's batched matmuls at the same shapes "
        "(`dgl.perf.bench.shape_limited_rate`" + (
            f"; captured in a CUDA graph, replayed {CUDA_REPLAYS} times a timing, so launches "
            "do not set it" if device == "cuda" else "") + "); the engine's fraction of it is "
        "what the rest of the step (activations, loss, optimiser, launches) costs.", "",
        "| size | engine | models E | model-steps/s | GFLOP/s | fraction of peak | "
        "shape-limited GFLOP/s (best c) | fraction of shape-limited | speed-up vs naive | "
        "peak memory (MiB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mem = "n/a" if r["peak_mem_mib"] is None else f"{r['peak_mem_mib']:.0f}"
        limit = ("–" if r.get("shape_limited_gflops") is None
                 else f"{r['shape_limited_gflops']:.1f} ({r['best_chunk']})")
        share = ("–" if r.get("fraction_of_shape_limit") is None
                 else f"{r['fraction_of_shape_limit']:.2f}")
        lines.append(f"| {r['size']} | {r['engine']} | {r['models']} | "
                     f"{r['model_steps_per_s']:.1f} | {r['gflops']:.2f} | "
                     f"{r['fraction_of_peak']:.3f} | {limit} | {share} | "
                     f"{r['speedup_vs_naive']:.1f} | {mem} |")
    return "\n".join(lines + (["", *extra] if extra else [])) + "\n"


def repeatability(device: str, epochs: int = 5) -> dict[str, float]:
    """Train one Huang-sized stack (K=4, d=100, h=256, 8 models, ``epochs`` epochs of 24 steps
    on synthetic data) twice on ``device`` and once on the CPU: the largest absolute difference
    of the trained parameters between the two ``device`` runs, the largest difference of the
    predictions from the CPU run's in units of their standard deviation, and the MSE of both."""
    from dgl.train.trainer import StackData, TrainConfig, train_stack

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3000, 400, generator=gen)
    y = x.sum(-1, keepdim=True) + torch.randn(2, 3000, 1, generator=gen)
    masks = torch.ones(8, 4, dtype=torch.bool)
    masks[::2, 2:] = False

    def run(dev: str) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        data = StackData(x.to(dev), y.to(dev), torch.tensor([0, 1] * 4, device=dev),
                         torch.arange(2400).expand(8, -1).contiguous().to(dev),
                         torch.arange(2400, 3000).expand(8, -1).contiguous().to(dev))
        model = StackedLateFusion(ModelConfig((100,) * 4, 256, "relu", 1), masks,
                                  list(range(8))).to(dev)
        cfg = TrainConfig(lr=1e-3, batch_size=100, max_steps=24 * epochs,
                          patience_steps=24 * epochs)
        train_stack(model, data, cfg, list(range(10, 18)))
        with torch.no_grad():
            pred = model(x[[0, 1] * 4].to(dev)).cpu().double()
        return {k: v.detach().cpu().double() for k, v in model.state_dict().items()}, pred

    first, pred_a = run(device)
    second, _ = run(device)
    _, pred_cpu = run("cpu")
    same = max(float((first[k] - second[k]).abs().max()) for k in first if k != "masks")
    rel = float((pred_a - pred_cpu).abs().max() / pred_cpu.std())
    test_mse = [float(((p - y[[0, 1] * 4].double()) ** 2).mean()) for p in (pred_a, pred_cpu)]
    return {"max_abs_param_diff_same_device": same, "max_pred_diff_vs_cpu_in_sd": rel,
            "mse_device": test_mse[0], "mse_cpu": test_mse[1]}


def main(argv: list[str] | None = None) -> None:
    """``python -m dgl.perf.bench --device cuda --out results/bench_gpu``: the benchmark of the
    ``bench`` rule without Snakemake (for a GPU box), plus :func:`repeatability`."""
    import argparse
    import json

    import polars as pl

    from dgl.pipeline.io import write_csv, write_text

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", required=True, help="writes OUT.md, OUT.csv, OUT.json")
    parser.add_argument("--models", type=int, nargs="+", default=[1, 8, 64, 256])
    args = parser.parse_args(argv)
    sizes = [BenchSize("huang", 4, 100, 256, 256), BenchSize("small", 2, 64, 64, 128)]
    rows, peak = run_benchmark(sizes, args.models, {"huang": 50, "small": 200}, 8, args.device)
    rep = repeatability(args.device)
    extra = [f"Repeatability on {args.device} (`dgl.perf.bench.repeatability`, one Huang-sized "
             "stack trained twice and once on the CPU): largest parameter difference between "
             f"two runs on {args.device}: {rep['max_abs_param_diff_same_device']:.3g}; largest "
             "difference of its predictions from the CPU run's, in prediction standard "
             f"deviations: {rep['max_pred_diff_vs_cpu_in_sd']:.3g}; training-set MSE "
             f"{rep['mse_device']:.4g} ({args.device}) vs {rep['mse_cpu']:.4g} (CPU)."]
    markdown = bench_markdown(rows, peak, sizes, args.device, extra)
    write_text(args.out + ".md", markdown)
    write_csv(pl.DataFrame(rows), args.out + ".csv")
    write_text(args.out + ".json", json.dumps({"rows": rows, "peak_flops": peak,
                                               "repeatability": rep}, indent=2))
    print(markdown)


if __name__ == "__main__":
    main()
