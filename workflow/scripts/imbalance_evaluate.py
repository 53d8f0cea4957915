"""Fused accuracy, linear probes and gradient traces of every trained stack of one setting
(rule imbalance_evaluate)."""

import logging

import polars as pl
import torch

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.outputs import atomic_write
from dgl.logs import configure
from dgl.runs import evaluate_classification_stack, gradient_frame
from dgl.tables import select_variants
from synth.datasets import Splits, load_datasets

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
torch.set_num_threads(sm.threads)
x, y, _ = load_datasets(sm.input.data)
splits = Splits(**sm.params.splits)
bundles = torch.load(sm.input.runs, weights_only=False)
setting = pl.lit(sm.wildcards.setting).alias("setting")


def evaluate(bundle, probe_models):
    frame = evaluate_classification_stack(bundle, x, y, splits, probe_models)
    return frame.with_columns(pl.lit(bundle["variant"]).alias("variant"),
                              pl.lit(bundle["device"]).alias("device"), setting)


# fused predictions of every sweep point first; the swept options are chosen on validation
# accuracy exactly as the tables choose them, and only the chosen models get linear probes
fused = pl.concat([evaluate(b, set()) for b in bundles], how="diagonal_relaxed")
chosen = select_variants(fused)[0].select("tag", "overlap").unique()
keep = {(t, o) for t, o in chosen.iter_rows()}
metrics, gradients = [], []
for bundle in bundles:
    probe_models = {e for e, spec in enumerate(bundle["specs"])
                    if (bundle["tag"], spec["overlap"]) in keep}
    metrics.append(evaluate(bundle, probe_models))
    grads = gradient_frame(bundle)
    if grads.height:
        gradients.append(grads.with_columns(pl.lit(bundle["variant"]).alias("variant")))
    logging.info("evaluated %s (%d models probed)", bundle["tag"], len(probe_models))
metrics = pl.concat(metrics, how="diagonal_relaxed")
atomic_write(sm.output.metrics, metrics.write_csv)
atomic_write(sm.output.gradients, pl.concat(gradients).with_columns(setting).write_csv)
