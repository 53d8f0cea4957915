"""Exact PIDs of the regression generator with label noise (rule ground_truth_regression_pid)."""


import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.outputs import atomic_write
from dgl.logs import configure
from synth.ground_truth import regression_pid

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
table = regression_pid(sm.params.generator, dict(sm.params.law), list(sm.params.overlaps))
atomic_write(sm.output[0], lambda p: table.write_csv(p, float_precision=6))
