"""Benchmark: naive per-run loop vs the batched engine, with the measured matmul peak
(rule bench)."""

import logging

import polars as pl
import torch

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.outputs import atomic_write, write_text
from dgl.bench import BenchSize, bench_markdown, run_benchmark
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
write_text(sm.output.md, bench_markdown(rows, peak, sizes, device))
