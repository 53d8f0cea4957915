"""Draw one dataset per seed from a generator's law (rule huang2021_data)."""

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.outputs import atomic_write
from dgl.logs import configure
from synth import make_law
from synth.datasets import Splits, draw_datasets, save_datasets

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
params = dict(sm.params.law)
law = make_law(params.pop("generator"), **params)
splits = Splits(sm.params.n_train, sm.params.n_test, sm.params.val_fraction)
x, y = draw_datasets(law, list(sm.params.seeds), splits)
atomic_write(sm.output[0], lambda p: save_datasets(p, x, y, list(sm.params.seeds)))
