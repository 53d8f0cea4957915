"""Benchmark: naive per-run loop vs the batched engine, with the measured matmul peak
(rule bench)."""

import logging
import os
import platform

import numpy as np
import polars as pl
import torch

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.outputs import atomic_write, write_text
from dgl.bench import BenchSize, flops_per_model_step, run_benchmark
from dgl.logs import configure
from dgl.trainer import resolve_device

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
torch.set_num_threads(sm.threads)
device = str(resolve_device(sm.params.device))
sizes = [BenchSize(**s) for s in sm.params.sizes]
rows, peak = run_benchmark(sizes, list(sm.params.models), dict(sm.params.steps),
                           sm.params.naive_runs, device, log=logging.info)
table = pl.DataFrame(rows)
atomic_write(sm.output.csv, lambda p: table.write_csv(p, float_precision=4))
dev_name = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or platform.machine()
lines = [
    "# Benchmark: batched engine vs one model at a time", "",
    f"Device: {device} ({dev_name}); CPU cores: {os.cpu_count()}; torch threads: "
    f"{torch.get_num_threads()}; torch {torch.__version__}; numpy {np.__version__}; Python "
    f"{platform.python_version()}. Measured dense float32 matmul peak in the same process: "
    f"{peak / 1e9:.1f} GFLOP/s.", "",
    "Same training step (late-fusion ReLU MLP, MSE, Adam) on data already in memory. FLOPs per "
    "model-step count the matmuls (encoder forward and weight gradient, head forward, weight "
    "and input gradient): " + "; ".join(f"{s.name} (K={s.n_modalities}, d={s.dim}, h={s.width}, "
                                        f"batch {s.batch}): {flops_per_model_step(s) / 1e6:.1f} MFLOP"
                                        for s in sizes) + ".", "",
    "Peak memory: what the measurement added to the process (resident high-water mark on a CPU, "
    "allocator peak on a GPU), data and optimiser state included.", "",
    "| size | engine | models E | model-steps/s | GFLOP/s | fraction of peak | speed-up vs naive "
    "| peak memory (MiB) |",
    "|---|---|---|---|---|---|---|---|",
]
for r in table.iter_rows(named=True):
    mem = "n/a" if r["peak_mem_mib"] is None else f"{r['peak_mem_mib']:.0f}"
    lines.append(f"| {r['size']} | {r['engine']} | {r['models']} | {r['model_steps_per_s']:.1f} | "
                 f"{r['gflops']:.2f} | {r['fraction_of_peak']:.3f} | {r['speedup_vs_naive']:.1f} "
                 f"| {mem} |")
write_text(sm.output.md, "\n".join(lines) + "\n")
