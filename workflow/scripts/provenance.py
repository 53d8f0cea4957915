"""One provenance sidecar per table and figure (rule provenance)."""

import json
import logging
from pathlib import Path

import polars as pl

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.pipeline.io import write_text
from dgl.pipeline.job import start_job
from dgl.pipeline.provenance import sidecar

sm = snakemake  # noqa: F821  (injected by Snakemake)
start_job(sm.log[0])
devices = {study: sorted({d for p in paths for d in pl.read_csv(p, columns=["device"])["device"]})
           for study, paths in sm.params.metrics.items()}
config_file = ", ".join(Path(p).name for p in sm.params.config_files)  # no machine paths
for out, target in zip(sm.input.outputs, sm.output):
    record = sidecar(out, dict(sm.params.config), config_file, sm.params.code,
                     devices.get(sm.params.studies[out], []))
    write_text(target, json.dumps(record, indent=2, sort_keys=True) + "\n")
logging.info("%d sidecars, code %s, devices %s", len(sm.output), sm.params.code, devices)
