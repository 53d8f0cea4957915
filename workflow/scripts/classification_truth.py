"""Exact Bayes values and PIDs of every law of one ground-truth job (rule classification_truth)."""

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.pipeline.io import write_intermediate
from dgl.pipeline.job import start_job
from dgl.train.heap import reuse_freed_memory
from synth.ground_truth import truth_job_frames

sm = snakemake  # noqa: F821  (injected by Snakemake)
start_job(sm.log[0])
reuse_freed_memory()  # freed arrays reused, not faulted in again (dgl.train.heap)
subsets, pid = truth_job_frames(sm.params.job)
write_intermediate(subsets, sm.output.subsets)
write_intermediate(pid, sm.output.pid)
