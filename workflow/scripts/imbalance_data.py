"""Datasets of one imbalance setting, every overlap x seed (rule imbalance_data)."""

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.outputs import atomic_write
from dgl.logs import configure
from synth import make_law
from synth.datasets import Splits, draw_overlap_datasets, save_datasets

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
law = sm.params.law
laws = [make_law(law["generator"], **law["params"], overlap=float(rho)) for rho in law["overlaps"]]
x, y = draw_overlap_datasets(laws, list(sm.params.seeds), Splits(**sm.params.splits))
atomic_write(sm.output[0], lambda p: save_datasets(p, x, y, list(sm.params.seeds)))
