"""Exact Bayes values of every subset of one classification overlap (rule theory_truth)."""

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.outputs import atomic_write
from dgl.logs import configure
from synth.ground_truth import classification_truth

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
subsets, _ = classification_truth(sm.params.law["generator"], dict(sm.params.law["params"]),
                                  sm.params.seed, sm.params.halfwidth, sm.params.max_samples)
atomic_write(sm.output[0], subsets.write_csv)
