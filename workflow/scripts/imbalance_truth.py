"""Exact Bayes accuracy / CE / MI of every subset at every overlap of one imbalance setting
(rule imbalance_truth)."""

import logging

import polars as pl

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.outputs import atomic_write
from dgl.logs import configure
from synth.ground_truth import classification_truth

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
law = sm.params.law
frames = []
for rho in law["overlaps"]:
    subsets, _ = classification_truth(law["generator"], dict(law["params"], overlap=float(rho)),
                                      sm.params.seed, sm.params.halfwidth, sm.params.max_samples)
    frames.append(subsets.with_columns(pl.lit(float(rho)).alias("overlap"),
                                       pl.lit(sm.wildcards.setting).alias("setting")))
    logging.info("rho=%g done (%d MC samples)", rho, subsets["n_mc_samples"][0])
atomic_write(sm.output[0], pl.concat(frames).write_csv)
