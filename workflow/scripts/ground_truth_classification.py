"""Exact ground truth of one SNR setting over its overlap x synergy grid
(rule ground_truth_classification)."""

import logging
import time

import polars as pl

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.outputs import atomic_write
from dgl.logs import configure
from synth.ground_truth import classification_truth

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
grid = sm.params.grid
snr_text = ",".join(f"{v:g}" for v in grid["base"]["snr"])
subset_frames, pid_frames = [], []
for rho in grid["overlaps"]:
    for syn in grid["synergy"]:
        t0 = time.perf_counter()
        params = dict(grid["base"], overlap=float(rho), synergy=float(syn))
        subsets, pid = classification_truth(
            grid["generator"], params, sm.params.seed, sm.params.halfwidth, sm.params.max_samples
        )
        keys = [pl.lit(sm.wildcards.setting).alias("setting"), pl.lit(snr_text).alias("snr"),
                pl.lit(float(rho)).alias("overlap"), pl.lit(float(syn)).alias("synergy_strength")]
        subset_frames.append(subsets.select(keys + subsets.columns))
        pid_frames.append(pid.select(keys + pid.columns))
        logging.info("setting %s rho=%g synergy=%g: %d MC samples, %.1fs", sm.wildcards.setting,
                     rho, syn, subsets["n_mc_samples"][0], time.perf_counter() - t0)
atomic_write(sm.output.subsets, pl.concat(subset_frames).write_csv)
atomic_write(sm.output.pid, pl.concat(pid_frames).write_csv)
