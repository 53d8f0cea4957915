"""Latent quality of every trained model of one cell (rule huang2021_evaluate)."""

import polars as pl

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.outputs import atomic_write
from dgl.logs import configure
from dgl.runs import evaluate_regression_cell, load_bundle
from synth import make_law
from synth.datasets import Splits, load_datasets

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
params = dict(sm.params.law)
law = make_law(params.pop("generator"), **params)
x, y, seeds = load_datasets(sm.input.data)
bundle = load_bundle(sm.input.runs)
metrics = evaluate_regression_cell(
    bundle, x, y, seeds,
    Splits(sm.params.n_train, sm.params.n_test, sm.params.val_fraction), law,
)
metrics = metrics.with_columns(pl.lit(params["overlap"]).alias("overlap"),
                               pl.lit(bundle["device"]).alias("device"))
atomic_write(sm.output[0], metrics.write_csv)
