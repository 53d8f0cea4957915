"""Fused accuracy, linear probes and gradient traces of every trained stack of one setting
(rule imbalance_evaluate)."""

import logging

import polars as pl
import torch

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.logs import configure
from dgl.runs import evaluate_classification_stack, gradient_frame
from synth.datasets import Splits, load_datasets

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
torch.set_num_threads(sm.threads)
x, y, _ = load_datasets(sm.input.data)
splits = Splits(**sm.params.splits)
metrics, gradients = [], []
for bundle in torch.load(sm.input.runs, weights_only=False):
    frame = evaluate_classification_stack(bundle, x, y, splits)
    metrics.append(frame.with_columns(pl.lit(bundle["variant"]).alias("variant")))
    grads = gradient_frame(bundle)
    if grads.height:
        gradients.append(grads.with_columns(pl.lit(bundle["variant"]).alias("variant")))
    logging.info("evaluated %s", bundle["tag"])
setting = pl.lit(sm.wildcards.setting).alias("setting")
pl.concat(metrics).with_columns(setting).write_csv(sm.output.metrics)
pl.concat(gradients).with_columns(setting).write_csv(sm.output.gradients)
