"""n_max training rows + n_eval fresh rows per seed (rule theory_data)."""

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.outputs import atomic_write
from dgl.logs import configure
from synth import make_law
from synth.datasets import Splits, draw_datasets, save_datasets

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
law = make_law(sm.params.law["generator"], **sm.params.law["params"])
x, y = draw_datasets(law, list(sm.params.seeds), Splits(sm.params.n_max, sm.params.n_eval, 0.5))
atomic_write(sm.output[0], lambda p: save_datasets(p, x, y, list(sm.params.seeds)))
