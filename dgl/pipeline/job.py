"""What every workflow job's process does first, once its imports are done.

A job is a fresh Python process (Snakemake's ``script:``) that imports torch, polars and the
studies (about 180 000 objects tracked by the cyclic garbage collector, torch's nearly all) to
do seconds of work in the small config. Those objects live until the process ends, yet every
full collection during the job walks them again, and so does the final collection at
interpreter exit (about 0.9 s of a bare ``import torch`` process's 4 s on a 2-core AMD EPYC).
:func:`start_job` moves them to the collector's permanent generation (:func:`gc.freeze`) and
does the same for the job's own objects at exit, so neither is walked again. Reference
counting still frees everything as before; only cycles among frozen objects stay uncollected,
and those would have lived to the exit anyway. Outputs, logging's flush at exit
(:func:`logging.shutdown`) and results are unchanged.
"""

from __future__ import annotations

import atexit
import gc
from pathlib import Path

from dgl.pipeline.logs import configure


def start_job(log_path: str | Path | None = None) -> None:
    """Log to ``log_path`` and stderr (:func:`~dgl.pipeline.logs.configure`), freeze every
    object alive now (the imports) and again at exit, before the interpreter's final
    collection (see the module docstring)."""
    configure(log_path)
    gc.freeze()
    atexit.register(gc.freeze)
