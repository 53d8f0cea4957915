"""Pipeline plumbing, apart from the science: config checks, file formats and atomic writes,
provenance sidecars and logging. Used by the workflow scripts (and the command-line tools in
:mod:`dgl.perf`), never by the training, report or study layers."""
