"""Benchmark: naive per-run loop vs the batched engine, with the measured matmul peak
(rule bench)."""

import logging

import polars as pl
import torch

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.perf.bench import BenchSize, bench_markdown, run_benchmark
from dgl.pipeline.io import write_csv, write_text
from dgl.pipeline.job import start_job
from dgl.train.trainer import resolve_device

sm = snakemake  # noqa: F821  (injected by Snakemake)
start_job(sm.log[0])
torch.set_num_threads(sm.threads)
device = str(resolve_device(sm.params.device))
sizes = [BenchSize(**s) for s in sm.params.sizes]
rows, peak = run_benchmark(sizes, list(sm.params.models), dict(sm.params.steps),
                           sm.params.naive_runs, device, log=logging.info)
table = pl.DataFrame(rows)
write_csv(table, sm.output.csv, digits=4)
write_text(sm.output.md, bench_markdown(rows, peak, sizes, device))
