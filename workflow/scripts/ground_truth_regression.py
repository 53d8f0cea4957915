"""Exact PIDs of the regression generator with label noise (rule ground_truth_regression_pid)."""

from pathlib import Path

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.logs import configure
from synth.ground_truth import regression_pid

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
Path(sm.output[0]).parent.mkdir(parents=True, exist_ok=True)
regression_pid(sm.params.generator, dict(sm.params.law), list(sm.params.overlaps)).write_csv(
    sm.output[0], float_precision=6
)
