"""Risks of the trained models and of their refit heads on fresh rows, eta
(rule theory_evaluate)."""

import logging

import polars as pl
import torch

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.outputs import atomic_write
from dgl.logs import configure
from dgl.tables import read_table
from dgl.theory import evaluate_fraction, fraction_data
from synth import make_law
from synth.datasets import load_datasets

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
torch.set_num_threads(sm.threads)
law = make_law(sm.params.law["generator"], **sm.params.law["params"])
x, y, seeds = load_datasets(sm.input.data)
truth = read_table(sm.input.truth) if sm.input.truth else None
frames = []
for bundle in torch.load(sm.input.runs, weights_only=False):
    xf, yf, splits = fraction_data(x, y, sm.params.n_max, sm.params.n_eval, bundle["fraction"],
                                   sm.params.val_fraction)
    m = evaluate_fraction(sm.wildcards.task, bundle, xf, yf, seeds, splits, law, truth)
    frames.append(m.with_columns(
        pl.lit(sm.wildcards.task).alias("task"), pl.lit(sm.wildcards.encoder).alias("encoder"),
        pl.lit(float(sm.wildcards.overlap)).alias("overlap"),
        pl.lit(bundle["fraction"]).alias("fraction"), pl.lit(bundle["n_train"]).alias("n_train"),
        pl.lit(bundle["device"]).alias("device")))
    logging.info("fraction %g evaluated", bundle["fraction"])
atomic_write(sm.output[0], pl.concat(frames, how="diagonal_relaxed").write_csv)
